#!/usr/bin/env bash
# The README's test command: on a fresh machine it installs what the project
# needs, brings the local stack up (Kafka, Redis, Docker Engine, registry, test
# images), builds with ASan+UBSan (LeakSanitizer included) and runs every test
# against the real services. A second run reuses the stack and the Kafka jars.
#   tests/run.sh [CTEST ARGS...]     e.g. tests/run.sh -L unit
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BW_TEST_BUILD_DIR:-$root/build-asan}

"$root/deploy/local/stack-up.sh"
stack_home=${STACK_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-worker}
# shellcheck source=/dev/null
source "$stack_home/stack.env"

cmake -S "$root" -B "$build" -DBW_SANITIZE=ON -DBW_TEST_HOOKS=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j "$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
ctest --test-dir "$build" --output-on-failure --timeout 900 "$@"

#!/usr/bin/env bash
# The README's test command: on a fresh machine it installs what the project
# needs, brings the local stack up (Kafka, Redis, Docker Engine, registry, test
# images), builds with ASan+UBSan (LeakSanitizer included) and runs every test
# against the real services. A second run reuses the stack and the Kafka jars.
# Then the fuzz stage (tests/fuzz/ci.sh): the libFuzzer targets built with
# clang in build-fuzz, every committed corpus replayed, each target fuzzed for
# BW_FUZZ_SECONDS (default 15) seconds, two at a time; about 3 minutes.
#   tests/run.sh [CTEST ARGS...]     e.g. tests/run.sh -L unit
# With ctest arguments (a partial run) the fuzz stage is skipped, and so it is
# with BW_FUZZ_SECONDS=0; tests/fuzz/ci.sh runs it alone.
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

if (($# == 0)) && [[ ${BW_FUZZ_SECONDS:-15} != 0 ]]; then
  "$root/tests/fuzz/ci.sh"
fi

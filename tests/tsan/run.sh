#!/usr/bin/env bash
# The service's tests under ThreadSanitizer (issue 10.6): builds build-tsan
# (-DBW_TSAN=ON, the test hooks on), runs the unit tests and the given
# end-to-end tests (default: every serve test, watch and run) against the
# local stack with that build, and fails when TSan reported anything. Not
# part of tests/run.sh (one sanitizer build per CI run; about 10 minutes).
#   tests/tsan/run.sh [E2E-TEST-NAME...]      e.g. tests/tsan/run.sh test_serve
# Reports go to build-tsan/tsan-reports/r.PID; tests/tsan.supp says what is
# left out and why (librdkafka's own calls), tests/tsan/c11_threads.c why
# every executable of that build carries its own thrd_create.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BW_TSAN_BUILD_DIR:-$root/build-tsan}
"$root/deploy/local/stack-up.sh" >/dev/null
# shellcheck source=/dev/null
source "${STACK_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-worker}/stack.env"
cmake -S "$root" -B "$build" -DBW_TSAN=ON -DBW_TEST_HOOKS=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null

reports=$build/tsan-reports
rm -rf "$reports"
mkdir -p "$reports"
export TSAN_OPTIONS="halt_on_error=0 exitcode=0 second_deadlock_stack=1 log_path=$reports/r suppressions=$root/tests/tsan.supp"
tests=("$@")
if ((${#tests[@]} == 0)); then
  tests=(test_serve test_serve_faults test_serve_outbox test_serve_restart test_serve_poison
    test_serve_sizes test_serve_chaos test_watch test_run)
fi
failed=0
ctest --test-dir "$build" -L unit --output-on-failure >"$reports/unit.out" 2>&1 || {
  echo "tsan: unit tests failed (see $reports/unit.out)"
  failed=1
}
for t in "${tests[@]}"; do
  start=$(date +%s)
  rc=0
  BW_TEST_BIN=$build/bundle-worker BW_TEST_PLAIN_BIN=$build/bundle-worker BW_SOURCE_DIR=$root \
    BW_TEST_KAFKA_TOPICS=$build/tests/kafka_topics \
    bash "$root/tests/e2e/$t.sh" >"$reports/$t.out" 2>&1 || rc=$?
  echo "tsan: $t exit $rc, $(($(date +%s) - start)) s"
  ((rc == 0)) || failed=1
done
found=$(cat "$reports"/r.* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer' || true)
echo "tsan: $found reports"
if ((found > 0)); then
  grep -h -A20 '^WARNING: ThreadSanitizer' "$reports"/r.* | head -n 100
  failed=1
fi
exit "$failed"

#!/usr/bin/env bash
# The fuzz stage of CI: tests/run.sh runs it after ctest (a whole run only:
# not with ctest arguments, and not with BW_FUZZ_SECONDS=0); it also runs
# alone. Builds build-fuzz with clang (libFuzzer + ASan + UBSan), fails when a
# target has no committed corpus, replays every corpus, then fuzzes each
# target for BW_FUZZ_SECONDS (default 15) seconds, two at a time (2 cores).
# Any crash, leak, timeout or failed check fails the stage and prints where
# its input was saved. Long runs by hand: tests/fuzz/run.sh SECONDS [TARGET...].
#   usage: tests/fuzz/ci.sh                 BW_FUZZ_SECONDS=0 tests/fuzz/ci.sh: replay only
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export BW_FUZZ_JOBS=${BW_FUZZ_JOBS:-2}
exec "$here/run.sh" "${BW_FUZZ_SECONDS:-15}"

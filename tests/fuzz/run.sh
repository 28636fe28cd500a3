#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz (libFuzzer + ASan +
# UBSan, tests/fuzz/CMakeLists.txt), replays every committed corpus once, then
# fuzzes each target for SECONDS from its corpus.
#   usage: tests/fuzz/run.sh [SECONDS [TARGET...]]   (SECONDS default 20; 0: replay only)
#   TARGET: log_path or fuzz_log_path; default every tests/fuzz/fuzz_*.c
#   BW_FUZZ_JOBS      targets fuzzed at a time (default 1; tests/fuzz/ci.sh uses 2)
#   BW_FUZZ_RSS_MB    -rss_limit_mb of each target (default 2048)
#   BW_FUZZ_TIMEOUT   seconds one input may take before it counts as a hang (default 20)
#   BW_FUZZ_BUILD_JOBS  ninja -j for the build (default 2)
# Every target must keep a committed corpus in tests/fuzz/corpus/NAME/ (seeds
# and regression inputs): the run fails when one has none. New inputs go to
# build-fuzz/fuzz-corpus/NAME/ (the seeds stay as committed), the output of
# each target to build-fuzz/fuzz-logs/NAME.log. A crash, leak, timeout, memory
# blow-up or failed check fails the run; its input is saved in
# build-fuzz/fuzz-artifacts/NAME/ and printed with the command that replays it.
# At the end: per target the seconds, executions, coverage and corpus size.
set -euo pipefail

start=$(date +%s)
seconds=${1:-20}
shift || true
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$src/build-fuzz
jobs=${BW_FUZZ_JOBS:-1}
rss_mb=${BW_FUZZ_RSS_MB:-2048}
timeout=${BW_FUZZ_TIMEOUT:-20}
if ! [[ $seconds =~ ^[0-9]+$ && $jobs =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: tests/fuzz/run.sh [SECONDS [TARGET...]] (BW_FUZZ_JOBS >= 1)" >&2
  exit 2
fi

targets=()
if (($#)); then
  for t in "$@"; do targets+=("${t#fuzz_}"); done
else
  for f in "$src"/tests/fuzz/fuzz_*.c; do
    t=$(basename "$f" .c)
    targets+=("${t#fuzz_}")
  done
fi
missing=()
for t in "${targets[@]}"; do
  [[ -f $src/tests/fuzz/fuzz_$t.c ]] || { echo "fuzz: no target tests/fuzz/fuzz_$t.c" >&2; exit 2; }
  if [[ -z $(ls -A "$src/tests/fuzz/corpus/$t" 2>/dev/null) ]]; then missing+=("$t"); fi
done
if ((${#missing[@]})); then
  for t in "${missing[@]}"; do
    echo "fuzz: FAILED: fuzz_$t has no committed corpus: add seeds (and keep regression inputs) in tests/fuzz/corpus/$t/" >&2
  done
  exit 1
fi

# An ASan, UBSan and LeakSanitizer finding is fatal and printed with its stack.
export ASAN_OPTIONS=${BW_FUZZ_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:print_summary=1}
export UBSAN_OPTIONS=${BW_FUZZ_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
unset LSAN_OPTIONS

cmake -S "$src" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DBW_FUZZ=ON \
  -DBW_INTEGRATION=OFF -DBW_SANITIZE=OFF >/dev/null
mkdir -p "$build/fuzz-logs"
if ! ninja -C "$build" -j "${BW_FUZZ_BUILD_JOBS:-2}" "${targets[@]/#/fuzz_}" \
  >"$build/fuzz-logs/build.log" 2>&1; then
  tail -n 40 "$build/fuzz-logs/build.log" >&2
  echo "fuzz: FAILED: the build (log: $build/fuzz-logs/build.log)" >&2
  exit 1
fi

declare -A result secs execs cov corp
failed=()

# Prints what a failed target left: the sanitizer's report and the saved input.
report_failure() {
  local t=$1 log=$2
  echo "---- fuzz_$t: from $log" >&2
  # The finding's headline and the top of its stack (a deep recursion would
  # push the headline out of a plain tail).
  local first
  first=$(grep -n -m 1 -E '==ERROR|ALARM|runtime error|deadly signal|out-of-memory|fuzz_[a-z_]+: ' "$log" |
    cut -d: -f1 || true)
  if [[ -n $first ]]; then
    sed -n "$((first > 5 ? first - 5 : 1)),$((first + 40))p" "$log" >&2
    grep -E '^SUMMARY|^MS: ' "$log" | tail -n 2 >&2
  else
    tail -n 40 "$log" >&2
  fi
  local saved
  saved=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  if [[ -n $saved ]]; then
    echo "fuzz_$t: the input is saved in $saved; replay it with: $build/tests/fuzz/fuzz_$t $saved" >&2
  else
    echo "fuzz_$t: no input was saved (see $log)" >&2
  fi
}

# Replay: every committed input once, no fuzzing (what ctest -L fuzz does).
for t in "${targets[@]}"; do
  artifacts=$build/fuzz-artifacts/$t
  mkdir -p "$artifacts"
  log=$build/fuzz-logs/$t.replay.log
  if "$build/tests/fuzz/fuzz_$t" -runs=0 -timeout="$timeout" -rss_limit_mb="$rss_mb" \
    -artifact_prefix="$artifacts/" "$src/tests/fuzz/corpus/$t" >"$log" 2>&1; then
    result[$t]=ok
  else
    result[$t]="FAILED (replay)"
    failed+=("$t")
    echo "fuzz_$t: a committed input fails" >&2
    report_failure "$t" "$log"
  fi
done
n_inputs=$(find "${targets[@]/#/$src/tests/fuzz/corpus/}" -type f | wc -l)
echo "fuzz: replayed $n_inputs committed inputs of ${#targets[@]} targets"

# Fuzzing: up to $jobs targets at a time, each alone in its log.
start_target() {
  local t=$1 corpus=$build/fuzz-corpus/$1
  mkdir -p "$corpus"
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout="$timeout" \
    -rss_limit_mb="$rss_mb" -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t/" \
    "$corpus" "$src/tests/fuzz/corpus/$t" >"$build/fuzz-logs/$t.log" 2>&1 &
  pid[$t]=$!
  started[$t]=$(date +%s)
}

finish_target() {
  local t=$1 rc=0 log=$build/fuzz-logs/$1.log
  wait "${pid[$t]}" || rc=$?
  secs[$t]=$(($(date +%s) - ${started[$t]}))
  execs[$t]=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  local last
  last=$(grep ' cov: ' "$log" | tail -n 1 || true)
  cov[$t]=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  corp[$t]=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  if ((rc == 0)); then
    echo "fuzz_$t: ${secs[$t]}s, ${execs[$t]:-?} executions, cov ${cov[$t]:-?}, corpus ${corp[$t]:-?}"
  else
    result[$t]="FAILED (exit $rc)"
    failed+=("$t")
    report_failure "$t" "$log"
  fi
}

if ((seconds > 0)); then
  declare -A pid started
  # Interrupted: stop the fuzzers this script started, and only those.
  # shellcheck disable=SC2154 # p is the trap's own loop variable (shellcheck reads it as unset)
  trap 'for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done; exit 130' INT TERM
  queue=()
  for t in "${targets[@]}"; do
    [[ ${result[$t]} == ok ]] && queue+=("$t")
  done
  echo "fuzz: ${#queue[@]} targets for ${seconds}s each, $jobs at a time"
  running=()
  while ((${#queue[@]} || ${#running[@]})); do
    while ((${#queue[@]} && ${#running[@]} < jobs)); do
      start_target "${queue[0]}"
      running+=("${queue[0]}")
      queue=("${queue[@]:1}")
    done
    sleep 1
    still=()
    for t in "${running[@]}"; do
      if kill -0 "${pid[$t]}" 2>/dev/null; then still+=("$t"); else finish_target "$t"; fi
    done
    running=("${still[@]}")
  done
fi

echo
printf '%-20s %8s %12s %8s %12s  %s\n' target seconds executions coverage corpus result
for t in "${targets[@]}"; do
  printf '%-20s %8s %12s %8s %12s  %s\n' "fuzz_$t" "${secs[$t]:--}" "${execs[$t]:--}" \
    "${cov[$t]:--}" "${corp[$t]:--}" "${result[$t]}"
done
echo "fuzz: the build, the replay and the runs took $(($(date +%s) - start))s"
echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $build/fuzz-artifacts/, logs in $build/fuzz-logs/)" >&2
  exit 1
fi

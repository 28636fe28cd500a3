#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz and runs each one for
# SECONDS (default 20) from its seed corpus in tests/fuzz/corpus/NAME/.
#   usage: tests/fuzz/run.sh [SECONDS]
# New inputs go to build-fuzz/fuzz-corpus/NAME/ (the seeds stay as committed);
# a crash leaves its input in build-fuzz/fuzz-artifacts/NAME/ and fails the run.
set -euo pipefail

seconds=${1:-20}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build-fuzz
targets=(config image_ref components request log_stream masker manifest events)

cmake -S "$src" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DBW_FUZZ=ON \
  -DBW_INTEGRATION=OFF -DBW_SANITIZE=OFF >/dev/null
ninja -C "$build" "${targets[@]/#/fuzz_}"

failed=()
for name in "${targets[@]}"; do
  corpus=$build/fuzz-corpus/$name
  artifacts=$build/fuzz-artifacts/$name
  mkdir -p "$corpus" "$artifacts"
  echo "== fuzz_$name for ${seconds}s"
  if ! "$build/tests/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "$src/tests/fuzz/corpus/$name"; then
    failed+=("$name")
  fi
done

if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $build/fuzz-artifacts/)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s clean"

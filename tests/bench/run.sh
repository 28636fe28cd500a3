#!/usr/bin/env bash
# Runs the benchmarks against the local stack on a plain (optimised) build and
# prints their figures:  tests/bench/run.sh [ITERATIONS]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BW_BENCH_BUILD_DIR:-$root/build-bench}
"$root/deploy/local/stack-up.sh" >/dev/null
# shellcheck source=/dev/null
source "${STACK_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-worker}/stack.env"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBW_INTEGRATION=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target bundle-worker bench_run >/dev/null

export BUNDLE_WORKER_CONFIG=$root/deploy/config/local.conf
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET
export BUNDLE_WORKER_COMPONENTS_FILE=$root/deploy/config/components.local.json
export BUNDLE_WORKER_LOG_LEVEL=warn
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '{"job_id": "bench-true", "component": "bundle.true"}' >"$work/true.json"
echo "== bundle-worker run vs raw Engine API lifecycle, container running true"
"$build/tests/bench_run" "$build/bundle-worker" "$work/true.json" \
  "$STACK_IMAGE_PREFIX/true:$STACK_IMAGE_TAG" "${1:-20}"

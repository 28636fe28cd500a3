#!/usr/bin/env bash
# The README's main-job command: installs what is needed, brings the local
# stack up, builds bundle-worker (plain build), checks every service with
# `bundle-worker doctor`, then runs a sample job with `bundle-worker run` and
# shows its events and where its artifacts went.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BW_BUILD_DIR:-$root/build}

"$root/deploy/local/stack-up.sh"
stack_home=${STACK_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-worker}
# shellcheck source=/dev/null
source "$stack_home/stack.env"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target bundle-worker

# Point the worker at the stack (its ports may have been overridden).
export BUNDLE_WORKER_CONFIG=$root/deploy/config/local.conf
export BUNDLE_WORKER_KAFKA_BOOTSTRAP_SERVERS=$STACK_KAFKA_BOOTSTRAP
export BUNDLE_WORKER_REDIS_HOST=$STACK_REDIS_HOST
export BUNDLE_WORKER_REDIS_PORT=$STACK_REDIS_PORT
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET

echo "== bundle-worker doctor"
"$build/bundle-worker" doctor
echo

# A sample job: the registered component bundle.sample reads its config, writes
# an output table (with a manifest), a file and a state.
export BUNDLE_WORKER_DATA_ROOT=${BUNDLE_WORKER_DATA_ROOT:-$stack_home/demo/jobs}
export BUNDLE_WORKER_ARTIFACTS_URL=${BUNDLE_WORKER_ARTIFACTS_URL:-file://$stack_home/demo/artifacts}
job=$stack_home/demo/sample-job.json
mkdir -p "$(dirname "$job")"
cat >"$job" <<JSON
{
  "job_id": "demo-sample-$(date +%Y%m%d-%H%M%S)",
  "component": "bundle.sample",
  "project_id": "demo",
  "config": {"parameters": {"rows": 3, "#api_token": "this-secret-never-shows"}},
  "state": {"count": 41}
}
JSON
echo "== bundle-worker run $job"
events=$stack_home/demo/events.jsonl
set +e
"$build/bundle-worker" run "$job" | tee "$events"
status=${PIPESTATUS[0]}
set -e
echo
echo "== how it ended (exit status $status)"
jq -r 'select(.type == "job.finished") | "status \(.status), exit code \(.exit_code), \(.duration_ms) ms, state \(.state | tojson)"' "$events"
echo "== where its artifacts went"
jq -r 'select(.type == "artifact.uploaded") | "\(.path)  \(.size) bytes  sha256 \(.sha256[0:12])...  \(.location)"' "$events"
echo
echo "The stack is still running; deploy/local/stack-status.sh shows it, deploy/local/stack-down.sh stops it."

#!/usr/bin/env bash
# The README's main-job command: the whole system, working, in one go.
#   1. installs what is needed and brings the local stack up (Kafka, Redis,
#      Docker Engine, registry with the test images);
#   2. builds bundle-worker and checks every service with `doctor`;
#   3. starts two workers (`serve`, two job slots each) in the background;
#   4. submits four jobs and follows them to their end (`submit --wait`): one
#      that succeeds and writes outputs, a user error, one out of memory, one
#      that times out;
#   5. shows how each ended, where the outputs went, and the workers' metrics.
# The stack and the two workers keep running; the last lines say how to look
# at them and how to stop them (deploy/local/stack-down.sh stops it all).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BW_BUILD_DIR:-$root/build}

"$root/deploy/local/stack-up.sh"
stack_home=${STACK_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-worker}
# shellcheck source=/dev/null
source "$stack_home/stack.env"
run_dir=$stack_home/run
demo=$stack_home/demo
mkdir -p "$demo" "$run_dir"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target bundle-worker
bw=$build/bundle-worker

# Point every command at the stack (its ports may have been overridden).
export BUNDLE_WORKER_CONFIG=$root/deploy/config/local.conf
export BUNDLE_WORKER_KAFKA_BOOTSTRAP_SERVERS=$STACK_KAFKA_BOOTSTRAP
export BUNDLE_WORKER_REDIS_HOST=$STACK_REDIS_HOST
export BUNDLE_WORKER_REDIS_PORT=$STACK_REDIS_PORT
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET
export BUNDLE_WORKER_DATA_ROOT=${BUNDLE_WORKER_DATA_ROOT:-$demo/jobs}
# Outputs go to the stack's S3 server (moto, signatures checked), with the
# keys stack-up.sh made, named by reference (the variables of stack.env).
export BUNDLE_WORKER_ARTIFACTS_URL=${BUNDLE_WORKER_ARTIFACTS_URL:-s3://$STACK_S3_BUCKET/demo}
export BUNDLE_WORKER_ARTIFACTS_S3_ENDPOINT=$STACK_S3_ENDPOINT
export BUNDLE_WORKER_ARTIFACTS_S3_REGION=$STACK_S3_REGION
export BUNDLE_WORKER_ARTIFACTS_S3_ACCESS_KEY_ENV=STACK_S3_ACCESS_KEY_ID
export BUNDLE_WORKER_ARTIFACTS_S3_SECRET_KEY_ENV=STACK_S3_SECRET_ACCESS_KEY

echo "== bundle-worker doctor"
"$bw" doctor
echo

# Two workers of one consumer group, as on two hosts (each its own id and
# metrics port). A demo run before this one left its workers running: they
# drain and stop first, so the new ones run the binary just built.
echo "== starting two workers (two job slots each)"
for n in 1 2; do
  pidfile=$run_dir/demo-worker-$n.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill -TERM "$(cat "$pidfile")"
    for _ in $(seq 1 300); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.2; done
  fi
  nohup "$bw" serve --set "worker.id=demo-worker-$n" --set worker.slots=2 \
    --set "metrics.listen=127.0.0.1:$((9463 + n))" \
    >"$demo/worker-$n.out" 2>"$demo/worker-$n.log" </dev/null &
  echo $! >"$pidfile"
  echo "   demo-worker-$n  pid $!  metrics http://127.0.0.1:$((9463 + n))/metrics  log $demo/worker-$n.log"
done
# Ready (Redis and the engine answered), and each holds partitions of
# bundle.runs, so that the jobs below spread over both (by their keys).
for n in 1 2; do
  for _ in $(seq 1 150); do
    curl -fsS "http://127.0.0.1:$((9463 + n))/metrics" 2>/dev/null |
      grep -Eq '^bundle_worker_partitions_assigned [1-9]' && break
    sleep 0.2
  done
done
echo

stamp=$(date +%Y%m%d-%H%M%S)
jobs=$demo/jobs-$stamp
mkdir -p "$jobs"
cat >"$jobs/success.json" <<JSON
{"job_id": "demo-$stamp-success", "component": "bundle.sample", "project_id": "demo",
 "config": {"parameters": {"rows": 3, "#api_token": "this-secret-never-shows"}},
 "state": {"count": 41}}
JSON
cat >"$jobs/user-error.json" <<JSON
{"job_id": "demo-$stamp-user-error", "component": "bundle.exit", "env": {"EXIT_CODE": "1"}}
JSON
cat >"$jobs/oom.json" <<JSON
{"job_id": "demo-$stamp-oom", "component": "bundle.oom"}
JSON
cat >"$jobs/timeout.json" <<JSON
{"job_id": "demo-$stamp-timeout", "component": "bundle.sleep", "env": {"SLEEP_SECONDS": "60"},
 "limits": {"timeout_seconds": 3}}
JSON

echo "== bundle-worker submit --wait (4 jobs; one line per job as it ends)"
set +e
"$bw" submit --wait --timeout 300 "$jobs"/*.json
submit_status=$?
set -e
echo "   (exit status $submit_status: non-zero because three of the four did not succeed)"
echo

# Every event of these jobs, from topic.events (the monitoring consumers' view).
events=$jobs/events.jsonl
kcat -C -b "$STACK_KAFKA_BOOTSTRAP" -t bundle.events -o beginning -e -q 2>/dev/null |
  jq -c --arg p "demo-$stamp-" 'select((.job_id // "") | startswith($p))' >"$events"
echo "== how each ended (job.finished on topic bundle.events)"
jq -r 'select(.type == "job.finished") | "   \(.job_id)  \(.status)  exit \(.exit_code)  \(.duration_ms) ms  on \(.worker)\n      \(.message | split("\n")[0])"' "$events"
echo "== where the outputs of demo-$stamp-success went (artifact.uploaded, also on bundle.uploads)"
jq -r 'select(.type == "artifact.uploaded") | "   \(.path)  \(.size) bytes  sha256 \(.sha256[0:12])...  ETag \(.etag // "-")\n      \(.location)"' "$events"
echo "== its log, secrets masked"
jq -r 'select(.type == "job.log" and (.job_id | endswith("success"))) | "   \(.line)"' "$events" | head -8
echo "== the workers' counters (Prometheus, /metrics)"
for n in 1 2; do
  curl -fsS "http://127.0.0.1:$((9463 + n))/metrics" 2>/dev/null |
    grep -E '^bundle_worker_jobs_(started|finished)_total.* [1-9]' | sed "s/^/   demo-worker-$n  /" || true
done
echo
cat <<EOF_TEXT
The stack and both workers keep running. Try:
   $bw watch                                   # live view of workers and jobs (q quits)
   $bw replay --dry-run --since 1h             # what a replay of the failures would send
   $bw submit --wait my-job.json               # your own request (docs/run-request.md)
   (in this shell first: source $stack_home/stack.env; export BUNDLE_WORKER_CONFIG=$root/deploy/config/local.conf)
Stop everything (workers, Kafka, Redis, registry, dockerd): deploy/local/stack-down.sh
EOF_TEXT

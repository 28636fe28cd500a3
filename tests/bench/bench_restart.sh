#!/usr/bin/env bash
# Restart to first job (prints figures; asserts nothing): a worker runs a
# 30 s job, is SIGKILLed and started again with the same worker.id; the time
# from the restart to the container of the job's next attempt, and to the
# container of a new job sent at the restart. ROUNDS rounds (default 5),
# Release build, the local stack, the default session timeout.
#   tests/bench/bench_restart.sh [ROUNDS]    BW_BENCH_STATIC=false: without static membership
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BW_BENCH_BUILD_DIR:-$root/build-bench}
rounds=${1:-5}
"$root/deploy/local/stack-up.sh" >/dev/null
# shellcheck source=/dev/null
source "${STACK_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-worker}/stack.env"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBW_INTEGRATION=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target bundle-worker kafka_topics >/dev/null

work=$(mktemp -d)
pid=
broker=$STACK_KAFKA_BOOTSTRAP
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export BUNDLE_WORKER_CONFIG=$root/deploy/config/local.conf
export BUNDLE_WORKER_KAFKA_BOOTSTRAP_SERVERS=$broker
export BUNDLE_WORKER_REDIS_HOST=$STACK_REDIS_HOST BUNDLE_WORKER_REDIS_PORT=$STACK_REDIS_PORT
export BUNDLE_WORKER_METRICS_LISTEN=off BUNDLE_WORKER_LOG_LEVEL=warn
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET
export BUNDLE_WORKER_COMPONENTS_FILE=$root/deploy/config/components.local.json
export BUNDLE_WORKER_DATA_ROOT=$work/jobs BUNDLE_WORKER_ARTIFACTS_URL=file://$work/artifacts
export BUNDLE_WORKER_WORKER_STATIC_MEMBERSHIP=${BW_BENCH_STATIC:-true}
now_ms() { date +%s%3N; }
# wait_event FILTER: the epoch ms at which an event matching it was seen
wait_event() {
  local deadline=$(($(date +%s) + 120))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    kcat -C -b "$broker" -t "e-$id" -o beginning -e -q 2>/dev/null | jq -c "select($1)" 2>/dev/null | grep -q . &&
      { now_ms; return 0; }
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2
  return 1
}
again=() fresh=()
for r in $(seq 1 "$rounds"); do
  id=restart-$$-$r-$(date +%s)
  "$build/tests/kafka_topics" "$broker" create 4 "r-$id" "e-$id" "u-$id" "d-$id" >/dev/null
  export BUNDLE_WORKER_TOPIC_RUNS=r-$id BUNDLE_WORKER_TOPIC_EVENTS=e-$id
  export BUNDLE_WORKER_TOPIC_UPLOADS=u-$id BUNDLE_WORKER_TOPIC_DLQ=d-$id BUNDLE_WORKER_KAFKA_GROUP_ID=g-$id
  start() { "$build/bundle-worker" serve --redis-prefix "rb:$id:" --set worker.id=rb --set worker.slots=2 2>>"$work/w.log" & pid=$!; }
  start
  sleep 4
  printf 'long|{"job_id":"long-%s","component":"bundle.sleep","env":{"SLEEP_SECONDS":"30"}}\n' "$id" |
    kcat -P -b "$broker" -t "r-$id" -K '|'
  wait_event ".type == \"container.started\" and .job_id == \"long-$id\"" >/dev/null
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  t0=$(now_ms)
  start
  printf 'fresh|{"job_id":"fresh-%s","component":"bundle.true"}\n' "$id" | kcat -P -b "$broker" -t "r-$id" -K '|'
  t_again=$(wait_event ".type == \"container.started\" and .job_id == \"long-$id\" and .attempt == 2")
  t_fresh=$(wait_event ".type == \"container.started\" and .job_id == \"fresh-$id\"")
  again+=($((t_again - t0)))
  fresh+=($((t_fresh - t0)))
  echo "round $r: restart to the killed job's next attempt ${again[-1]} ms, to a new job ${fresh[-1]} ms"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  for c in $(curl -s --unix-socket "$STACK_DOCKER_SOCKET" -g \
    "http://d/v1.41/containers/json?all=1&filters={\"label\":[\"io.bundle-worker.fleet=rb:$id:\"]}" | jq -r '.[].Id'); do
    curl -s --unix-socket "$STACK_DOCKER_SOCKET" -X DELETE "http://d/v1.41/containers/$c?force=1" >/dev/null
  done
  "$build/tests/kafka_topics" "$broker" delete "r-$id" "e-$id" "u-$id" "d-$id" >/dev/null
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mx() { printf '%s\n' "$@" | sort -n | tail -n 1; }
echo "static membership ${BUNDLE_WORKER_WORKER_STATIC_MEMBERSHIP}: restart to the killed job's next attempt: median $(med "${again[@]}") ms, max $(mx "${again[@]}") ms; to a new job: median $(med "${fresh[@]}") ms, max $(mx "${fresh[@]}") ms"

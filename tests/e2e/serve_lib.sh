# shellcheck shell=bash
# Helpers for the tests of `bundle-worker serve`: per-run topics, consumer
# group and Redis prefix (so runs never see each other's messages), workers
# started in the background, requests produced and events read with kcat.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_stack STACK_KAFKA_BOOTSTRAP STACK_REDIS_HOST STACK_REDIS_PORT STACK_DOCKER_SOCKET \
  STACK_IMAGE_PREFIX STACK_IMAGE_TAG STACK_REGISTRY_USER STACK_REGISTRY_PASSWORD
topics_tool=${BW_TEST_KAFKA_TOPICS:?BW_TEST_KAFKA_TOPICS must name the kafka_topics tool}

run_id=$(date +%s)-$$
broker=$STACK_KAFKA_BOOTSTRAP
t_runs=runs-$run_id
t_events=events-$run_id
t_uploads=uploads-$run_id
t_dlq=dlq-$run_id
redis_prefix="bwt:$run_id:"
"$topics_tool" "$broker" create 4 "$t_runs" "$t_events" "$t_uploads" "$t_dlq" || exit 1

export BUNDLE_WORKER_CONFIG=$src/deploy/config/local.conf
export BUNDLE_WORKER_KAFKA_BOOTSTRAP_SERVERS=$broker
export BUNDLE_WORKER_KAFKA_GROUP_ID=group-$run_id
export BUNDLE_WORKER_TOPIC_RUNS=$t_runs BUNDLE_WORKER_TOPIC_EVENTS=$t_events
export BUNDLE_WORKER_TOPIC_UPLOADS=$t_uploads BUNDLE_WORKER_TOPIC_DLQ=$t_dlq
export BUNDLE_WORKER_REDIS_HOST=$STACK_REDIS_HOST BUNDLE_WORKER_REDIS_PORT=$STACK_REDIS_PORT
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET
export BUNDLE_WORKER_COMPONENTS_FILE=$src/deploy/config/components.local.json
export BUNDLE_WORKER_DATA_ROOT=$work/jobs BUNDLE_WORKER_ARTIFACTS_URL=file://$work/artifacts
export BUNDLE_WORKER_WORKER_HEARTBEAT_INTERVAL_MS=500
export BUNDLE_WORKER_JOBS_STOP_GRACE_SECONDS=2
# Several workers share this host: no metrics port unless a test asks for one.
export BUNDLE_WORKER_METRICS_LISTEN=off

declare -A worker_pids=()
serve_cleanup() {
  local pid log
  if [ "${failed:-0}" -gt 0 ]; then
    for log in "$work"/*.log; do
      echo "--- last lines of $(basename "$log")"
      grep -v '"level":"debug"' "$log" | tail -25 | cut -c1-300
    done
  fi
  for pid in "${worker_pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  wait 2>/dev/null
  "$topics_tool" "$broker" delete "$t_runs" "$t_events" "$t_uploads" "$t_dlq" >/dev/null 2>&1
  rm -rf "$work"
}
trap serve_cleanup EXIT

start_worker() { # start_worker NAME SLOTS [bundle-worker serve options...]
  local name=$1 slots=$2
  shift 2
  "$bw" serve --redis-prefix "$redis_prefix" --set "worker.id=$name" \
    --set "worker.slots=$slots" "$@" >"$work/$name.out" 2>"$work/$name.log" &
  worker_pids[$name]=$!
}
wait_assigned() { # wait until the worker logged a non-empty assignment (or 30 s)
  local name=$1
  for _ in $(seq 1 300); do
    grep '"partitions assigned"' "$work/$name.log" 2>/dev/null | grep -vq '"count":"0"' && return 0
    sleep 0.1
  done
  echo "worker $name got no partitions: $(tail -5 "$work/$name.log")" >&2
  return 1
}
produce() { # produce KEY JSON
  printf '%s|%s\n' "$1" "$2" | kcat -P -b "$broker" -t "$t_runs" -K '|' 2>/dev/null
}
produce_raw() { # produce_raw KEY BYTES-FILE
  kcat -P -b "$broker" -t "$t_runs" -k "$1" "$2" 2>/dev/null
}
events() { kcat -C -b "$broker" -t "$t_events" -o beginning -e -q 2>/dev/null; }
dlq() { kcat -C -b "$broker" -t "$t_dlq" -o beginning -e -q -f '%h\t%s\n' 2>/dev/null; }
count_events() { events | jq -c "select($1)" 2>/dev/null | wc -l; }
wait_events() { # wait_events COUNT JQ-FILTER TIMEOUT-S
  local want=$1 filter=$2 deadline=$(($(date +%s) + $3)) n=0
  while [ "$(date +%s)" -lt "$deadline" ]; do
    n=$(count_events "$filter")
    [ "$n" -ge "$want" ] && return 0
    sleep 1
  done
  echo "waited for $want events matching $filter, saw $n" >&2
  return 1
}
sleep_job() { # sleep_job ID SECONDS -> request JSON
  jq -cn --arg id "$1" --arg s "$2" '{job_id: $id, component: "bundle.sleep", env: {SLEEP_SECONDS: $s}}'
}

#!/usr/bin/env bash
# Benchmark of `bundle-worker serve` (prints figures; asserts nothing):
# dispatch latency (request produced -> container started) p50/p99 and
# throughput in jobs per second at 1, 4 and 8 slots, for containers running
# `true`, against the same containers run through raw Engine API calls at the
# same concurrency in the same run; peak RSS of an idle worker and of a worker
# running 8 jobs.      tests/bench/bench_serve.sh [JOBS-PER-LEVEL]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BW_BENCH_BUILD_DIR:-$root/build-bench}
jobs=${1:-40}
"$root/deploy/local/stack-up.sh" >/dev/null
# shellcheck source=/dev/null
source "${STACK_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-worker}/stack.env"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBW_INTEGRATION=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target bundle-worker bench_run kafka_topics >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
broker=$STACK_KAFKA_BOOTSTRAP
export BUNDLE_WORKER_CONFIG=$root/deploy/config/local.conf
export BUNDLE_WORKER_KAFKA_BOOTSTRAP_SERVERS=$broker
export BUNDLE_WORKER_REDIS_HOST=$STACK_REDIS_HOST BUNDLE_WORKER_REDIS_PORT=$STACK_REDIS_PORT
export BUNDLE_WORKER_METRICS_LISTEN=off # several workers on one host: no shared port
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET
export BUNDLE_WORKER_COMPONENTS_FILE=$root/deploy/config/components.local.json
export BUNDLE_WORKER_DATA_ROOT=$work/jobs BUNDLE_WORKER_ARTIFACTS_URL=file://$work/artifacts
export BUNDLE_WORKER_LOG_LEVEL=warn
image=$STACK_IMAGE_PREFIX/true:$STACK_IMAGE_TAG

hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# One level: a fresh set of topics, one worker with SLOTS slots, JOBS requests.
level() {
  local slots=$1 id="bench-$1-$$-$(date +%s)"
  "$build/tests/kafka_topics" "$broker" create 8 "r-$id" "e-$id" "u-$id" "d-$id"
  BUNDLE_WORKER_TOPIC_RUNS=r-$id BUNDLE_WORKER_TOPIC_EVENTS=e-$id BUNDLE_WORKER_TOPIC_UPLOADS=u-$id \
    BUNDLE_WORKER_TOPIC_DLQ=d-$id BUNDLE_WORKER_KAFKA_GROUP_ID=g-$id \
    "$build/bundle-worker" serve --redis-prefix "bench:$id:" --set "worker.slots=$slots" \
    --set worker.id="bench-$slots" 2>"$work/worker-$slots.log" &
  local pid=$!
  pids+=("$pid")
  sleep 4 # join the group
  if [ "$slots" = 8 ]; then echo "idle worker: VmRSS $(rss_kb "$pid") kB, VmHWM $(hwm_kb "$pid") kB"; fi
  for i in $(seq 1 "$jobs"); do printf 'j%s|{"job_id":"%s-%s","component":"bundle.true"}\n' "$i" "$id" "$i"; done |
    kcat -P -b "$broker" -t "r-$id" -K '|'
  local deadline=$(($(date +%s) + 600))
  while [ "$(kcat -C -b "$broker" -t "e-$id" -o beginning -e -q 2>/dev/null | grep -c '"job.finished"')" -lt "$jobs" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "level $slots: timed out" >&2; return 1; }
    sleep 0.5
  done
  kcat -C -b "$broker" -t "r-$id" -o beginning -e -q -f '%k %T\n' 2>/dev/null >"$work/req-$slots"
  kcat -C -b "$broker" -t "e-$id" -o beginning -e -q 2>/dev/null >"$work/ev-$slots"
  kill -TERM "$pid"
  wait "$pid" || true
  "$build/tests/kafka_topics" "$broker" delete "r-$id" "e-$id" "u-$id" "d-$id" || true
  # Latency: container.started ts - the request's Kafka timestamp (both ms).
  jq -r --slurpfile _ /dev/null 'select(.type == "container.started") | "\(.job_id) \(.ts)"' "$work/ev-$slots" |
    while read -r job ts; do echo "${job##*-} $(date -d "$ts" +%s%3N)"; done | sort >"$work/started-$slots"
  awk '{print substr($1, 2), $2}' "$work/req-$slots" | sort >"$work/produced-$slots"
  join "$work/produced-$slots" "$work/started-$slots" | awk '{print $3 - $2}' | sort -n >"$work/lat-$slots"
  local first last n p50 p99 tput raw
  # Steady-state throughput: from the first job's start (not the group join).
  first=$(jq -r 'select(.type == "job.started") | .ts' "$work/ev-$slots" | while read -r ts; do date -d "$ts" +%s%3N; done | sort -n | head -1)
  last=$(jq -r 'select(.type == "job.finished") | .ts' "$work/ev-$slots" | while read -r ts; do date -d "$ts" +%s%3N; done | sort -n | tail -1)
  n=$(wc -l <"$work/lat-$slots")
  p50=$(awk -v n="$n" 'NR == int(n * 0.50 + 0.5) {print}' "$work/lat-$slots")
  p99=$(awk -v n="$n" 'NR == int(n * 0.99 + 0.5) {print}' "$work/lat-$slots")
  tput=$(echo "scale=3; $jobs * 1000 / ($last - $first)" | bc)
  raw=$("$build/tests/bench_run" --raw-concurrent "$image" "$jobs" "$slots")
  printf '%d slots: dispatch latency p50 %s ms, p99 %s ms; throughput %s jobs/s; raw Engine API at %d: %s jobs/s; ratio %s\n' \
    "$slots" "$p50" "$p99" "$tput" "$slots" "$raw" "$(echo "scale=3; $tput / $raw" | bc)"
}

echo "== bundle-worker serve, $jobs jobs per level, containers running true"
level 1
[ -n "${BENCH_ONLY_ONE:-}" ] && exit 0
level 4
level 8

# Unloaded dispatch latency: one request at a time, each produced once the
# previous one finished, so no request waits for a slot.
id="bench-one-$$-$(date +%s)"
"$build/tests/kafka_topics" "$broker" create 8 "r-$id" "e-$id" "u-$id" "d-$id"
BUNDLE_WORKER_TOPIC_RUNS=r-$id BUNDLE_WORKER_TOPIC_EVENTS=e-$id BUNDLE_WORKER_TOPIC_UPLOADS=u-$id \
  BUNDLE_WORKER_TOPIC_DLQ=d-$id BUNDLE_WORKER_KAFKA_GROUP_ID=g-$id \
  "$build/bundle-worker" serve --redis-prefix "bench:$id:" --set worker.slots=1 --set worker.id=bench-one \
  2>"$work/worker-one.log" &
pid=$!
pids+=("$pid")
sleep 4
for i in $(seq 1 20); do
  printf 'o%s|{"job_id":"%s-%s","component":"bundle.true"}\n' "$i" "$id" "$i" | kcat -P -b "$broker" -t "r-$id" -K '|'
  until kcat -C -b "$broker" -t "e-$id" -o beginning -e -q 2>/dev/null | grep -q "\"job.finished\",\"job_id\":\"$id-$i\""; do sleep 0.05; done
done
kcat -C -b "$broker" -t "r-$id" -o beginning -e -q -f '%k %T\n' 2>/dev/null | awk '{print substr($1, 2), $2}' | sort >"$work/p1"
kcat -C -b "$broker" -t "e-$id" -o beginning -e -q 2>/dev/null |
  jq -r 'select(.type == "container.started") | "\(.job_id) \(.ts)"' |
  while read -r job ts; do echo "${job##*-} $(date -d "$ts" +%s%3N)"; done | sort >"$work/s1"
join "$work/p1" "$work/s1" | awk '{print $3 - $2}' | sort -n >"$work/l1"
n=$(wc -l <"$work/l1")
echo "unloaded dispatch latency (one request at a time, $n jobs): p50 $(awk -v n="$n" 'NR == int(n * 0.50 + 0.5)' "$work/l1") ms, p99 $(awk -v n="$n" 'NR == int(n * 0.99 + 0.5)' "$work/l1") ms"
kill -TERM "$pid"
wait "$pid" || true
"$build/tests/kafka_topics" "$broker" delete "r-$id" "e-$id" "u-$id" "d-$id" || true

# Peak RSS with 8 jobs running (sleeping containers).
id="bench-rss-$$-$(date +%s)"
"$build/tests/kafka_topics" "$broker" create 8 "r-$id" "e-$id" "u-$id" "d-$id"
BUNDLE_WORKER_TOPIC_RUNS=r-$id BUNDLE_WORKER_TOPIC_EVENTS=e-$id BUNDLE_WORKER_TOPIC_UPLOADS=u-$id \
  BUNDLE_WORKER_TOPIC_DLQ=d-$id BUNDLE_WORKER_KAFKA_GROUP_ID=g-$id \
  "$build/bundle-worker" serve --redis-prefix "bench:$id:" --set worker.slots=8 --set worker.id=bench-rss \
  2>"$work/worker-rss.log" &
pid=$!
pids+=("$pid")
sleep 4
for i in $(seq 1 8); do printf 's%s|{"job_id":"%s-%s","component":"bundle.sleep","env":{"SLEEP_SECONDS":"8"}}\n' "$i" "$id" "$i"; done |
  kcat -P -b "$broker" -t "r-$id" -K '|'
sleep 7
echo "worker with 8 jobs running: VmRSS $(rss_kb "$pid") kB, VmHWM $(hwm_kb "$pid") kB"
kill -TERM "$pid"
wait "$pid" || true
"$build/tests/kafka_topics" "$broker" delete "r-$id" "e-$id" "u-$id" "d-$id" || true

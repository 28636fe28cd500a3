#!/usr/bin/env bash
# Benchmark of `bundle-worker serve` (prints figures; asserts nothing):
# dispatch latency (request produced -> container started) p50/p99 and
# throughput in jobs per second at 1, 4 and 8 slots, for containers running
# `true`, against the same containers run through raw Engine API calls at the
# same concurrency in the same run; peak RSS of an idle worker and of a worker
# running 8 jobs.      [BENCH_ROUNDS=3] tests/bench/bench_serve.sh [JOBS-PER-ROUND]
# Each level runs BENCH_ROUNDS rounds, serve and raw alternating;
# BENCH_LEVELS="4" measures only that level (and skips latency and memory).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BW_BENCH_BUILD_DIR:-$root/build-bench}
jobs=${1:-40}
rounds=${BENCH_ROUNDS:-3}
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

# One round of a level: a fresh set of topics, one worker with SLOTS slots,
# JOBS requests; then the raw baseline at the same concurrency. Prints
# "THROUGHPUT RAW" (jobs/s); the dispatch latencies go to $work/lat-SLOTS-ROUND.
round() {
  local slots=$1 r=$2 id
  id="bench-$1-$2-$$-$(date +%s)"
  "$build/tests/kafka_topics" "$broker" create 8 "r-$id" "e-$id" "u-$id" "d-$id" >/dev/null
  BUNDLE_WORKER_TOPIC_RUNS=r-$id BUNDLE_WORKER_TOPIC_EVENTS=e-$id BUNDLE_WORKER_TOPIC_UPLOADS=u-$id \
    BUNDLE_WORKER_TOPIC_DLQ=d-$id BUNDLE_WORKER_KAFKA_GROUP_ID=g-$id \
    "$build/bundle-worker" serve --redis-prefix "bench:$id:" --set "worker.slots=$slots" \
    --set worker.id="bench-$slots" 2>"$work/worker-$slots.log" &
  local pid=$!
  pids+=("$pid")
  sleep 4 # join the group
  if [ "$slots" = 8 ] && [ "$r" = 1 ]; then echo "idle worker: VmRSS $(rss_kb "$pid") kB, VmHWM $(hwm_kb "$pid") kB" >&2; fi
  for i in $(seq 1 "$jobs"); do printf 'j%s|{"job_id":"%s-%s","component":"bundle.true"}\n' "$i" "$id" "$i"; done |
    kcat -P -b "$broker" -t "r-$id" -K '|'
  local deadline=$(($(date +%s) + 600))
  while [ "$(kcat -C -b "$broker" -t "e-$id" -o beginning -e -q 2>/dev/null | grep -c '"job.finished"')" -lt "$jobs" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "level $slots: timed out" >&2; return 1; }
    sleep 0.5
  done
  kcat -C -b "$broker" -t "r-$id" -o beginning -e -q -f '%k %T\n' 2>/dev/null >"$work/req"
  kcat -C -b "$broker" -t "e-$id" -o beginning -e -q 2>/dev/null >"$work/ev"
  kill -TERM "$pid"
  wait "$pid" || true
  "$build/tests/kafka_topics" "$broker" delete "r-$id" "e-$id" "u-$id" "d-$id" >/dev/null || true
  # Latency: container.started ts - the request's Kafka timestamp (both ms).
  jq -r 'select(.type == "container.started") | "\(.job_id) \(.ts)"' "$work/ev" |
    while read -r job ts; do echo "${job##*-} $(date -d "$ts" +%s%3N)"; done | sort >"$work/started"
  awk '{print substr($1, 2), $2}' "$work/req" | sort >"$work/produced"
  join "$work/produced" "$work/started" | awk '{print $3 - $2}' >"$work/lat-$slots-$r"
  # Steady-state throughput: from the first job's start (not the group join).
  local first last
  first=$(jq -r 'select(.type == "job.started") | .ts' "$work/ev" | while read -r ts; do date -d "$ts" +%s%3N; done | sort -n | head -1)
  last=$(jq -r 'select(.type == "job.finished") | .ts' "$work/ev" | while read -r ts; do date -d "$ts" +%s%3N; done | sort -n | tail -1)
  echo "$(echo "scale=3; $jobs * 1000 / ($last - $first)" | bc) $("$build/tests/bench_run" --raw-concurrent "$image" "$jobs" "$slots")"
}

# One level: ROUNDS rounds, serve and raw alternating, so that both see the
# same (shared, noisy) machine; the ratio is of the means.
level() {
  local slots=$1 r line tputs=() raws=()
  for r in $(seq 1 "$rounds"); do
    line=$(round "$slots" "$r")
    tputs+=("${line% *}")
    raws+=("${line#* }")
  done
  sort -n "$work"/lat-"$slots"-* >"$work/lat-$slots"
  local n p50 p99 tput raw
  n=$(wc -l <"$work/lat-$slots")
  p50=$(awk -v n="$n" 'NR == int(n * 0.50 + 0.5) {print}' "$work/lat-$slots")
  p99=$(awk -v n="$n" 'NR == int(n * 0.99 + 0.5) {print}' "$work/lat-$slots")
  tput=$(printf '%s\n' "${tputs[@]}" | awk '{s += $1} END {printf "%.3f", s / NR}')
  raw=$(printf '%s\n' "${raws[@]}" | awk '{s += $1} END {printf "%.3f", s / NR}')
  printf '%d slots: dispatch latency p50 %s ms, p99 %s ms; throughput %s jobs/s; raw Engine API at %d: %s jobs/s; ratio %s (rounds: serve %s, raw %s)\n' \
    "$slots" "$p50" "$p99" "$tput" "$slots" "$raw" "$(echo "scale=3; $tput / $raw" | bc)" \
    "$(IFS=/; echo "${tputs[*]}")" "$(IFS=/; echo "${raws[*]}")"
}

echo "== bundle-worker serve, $jobs jobs per round, $rounds rounds per level, containers running true"
for slots in ${BENCH_LEVELS:-1 4 8}; do level "$slots"; done
[ -n "${BENCH_LEVELS:-}" ] && exit 0

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

#!/usr/bin/env bash
# Memory of one `bundle-worker serve` under an intake flood (prints figures;
# asserts nothing): idle VmRSS, then N malformed requests (default 10,000)
# and 50 of about 1 MB (copied to the DLQ cut), and the peak VmHWM once every
# one has its DLQ record. Release build, the local stack.
#   tests/bench/bench_flood.sh [N]        BW_BENCH_BIN=OTHER-BINARY: measure that one
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BW_BENCH_BUILD_DIR:-$root/build-bench}
n=${1:-10000}
"$root/deploy/local/stack-up.sh" >/dev/null
# shellcheck source=/dev/null
source "${STACK_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-worker}/stack.env"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBW_INTEGRATION=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target bundle-worker kafka_topics >/dev/null
bin=${BW_BENCH_BIN:-$build/bundle-worker} # another build to compare with (an older commit's)

work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  "$build/tests/kafka_topics" "$broker" delete "r-$id" "e-$id" "u-$id" "d-$id" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
broker=$STACK_KAFKA_BOOTSTRAP
id=flood-$$-$(date +%s)
"$build/tests/kafka_topics" "$broker" create 4 "r-$id:max.message.bytes=4194304" "e-$id" "u-$id" "d-$id" >/dev/null
export BUNDLE_WORKER_CONFIG=$root/deploy/config/local.conf
export BUNDLE_WORKER_KAFKA_BOOTSTRAP_SERVERS=$broker BUNDLE_WORKER_KAFKA_GROUP_ID=g-$id
export BUNDLE_WORKER_TOPIC_RUNS=r-$id BUNDLE_WORKER_TOPIC_EVENTS=e-$id
export BUNDLE_WORKER_TOPIC_UPLOADS=u-$id BUNDLE_WORKER_TOPIC_DLQ=d-$id
export BUNDLE_WORKER_REDIS_HOST=$STACK_REDIS_HOST BUNDLE_WORKER_REDIS_PORT=$STACK_REDIS_PORT
export BUNDLE_WORKER_METRICS_LISTEN=off BUNDLE_WORKER_LOG_LEVEL=error
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET
export BUNDLE_WORKER_COMPONENTS_FILE=$root/deploy/config/components.local.json
export BUNDLE_WORKER_DATA_ROOT=$work/jobs BUNDLE_WORKER_ARTIFACTS_URL=file://$work/artifacts

"$bin" serve --redis-prefix "flood:$id:" --set worker.id=flood 2>"$work/worker.log" &
pid=$!
sleep 5
idle=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
# The flood: N malformed requests (each a DLQ record and a job.finished),
# then 50 of about 1 MB, produced as fast as kcat can.
for i in $(seq 1 "$n"); do printf 'bad-%s|{"job_id": "bad-%s", "component": "no.such"}\n' "$i" "$i"; done |
  kcat -P -b "$broker" -t "r-$id" -K '|'
head -c 742500 /dev/urandom | base64 -w 0 >"$work/big" # 990,000 bytes that do not compress
for i in $(seq 1 "${BIG:-50}"); do kcat -P -X message.max.bytes=8000000 -b "$broker" -t "r-$id" -k "big-$i" "$work/big"; done
want=$((n + ${BIG:-50}))
start=$(date +%s)
while :; do
  got=$(kcat -C -b "$broker" -t "d-$id" -o beginning -e -q -f '.\n' 2>/dev/null | wc -l)
  [ "$got" -ge "$want" ] && break
  [ $(($(date +%s) - start)) -lt 600 ] || { echo "timed out: $got of $want DLQ records" >&2; exit 1; }
  sleep 2
done
took=$(($(date +%s) - start))
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "requests: $n malformed + ${BIG:-50} of 990 kB, all in the DLQ after ${took} s"
echo "idle VmRSS: $idle kB"
echo "peak VmHWM under the flood: $hwm kB"

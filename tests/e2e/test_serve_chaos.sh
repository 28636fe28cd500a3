#!/usr/bin/env bash
# Chaos (issue 10.8): three workers of two slots, N jobs of mixed lengths and
# endings (BW_CHAOS_JOBS, default 60), a random worker SIGKILLed every 4 to 6
# s and restarted by its supervisor (same worker.id), the broker stopped for
# about 16 s once, Redis restarted once. Then, read by independent readers
# (kcat on the topics, the Engine's own events, the data root, the group's
# committed offsets), per job: it has a job.finished, every copy of one
# attempt's job.finished carries one event_id, no two of its containers ran
# at once; and no orphan container, no data folder left, lag 0. Jobs that ran
# again after a kill (allowed) are counted and printed.
#   BW_CHAOS_JOBS=200 bash tests/e2e/test_serve_chaos.sh    (the long run)
# shellcheck source=tests/e2e/serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
stack_run=${STACK_HOME:?}/run
jobs=${BW_CHAOS_JOBS:-60}
export BUNDLE_WORKER_KAFKA_SESSION_TIMEOUT_MS=10000
export BUNDLE_WORKER_KAFKA_HEARTBEAT_INTERVAL_MS=1000
export BUNDLE_WORKER_JOBS_MAX_DELIVERIES=5
export BUNDLE_WORKER_LOG_LEVEL=info
ulimit -c 0
since=$(date +%s)
t0=$(date +%s)
"$topics_tool" "$broker" delete "$t_runs" >/dev/null 2>&1
"$topics_tool" "$broker" create 6 "$t_runs" || exit 1

# --- three supervised workers: each restarts its worker (same worker.id)
# a second after it dies, as systemd or the kubelet would
supervise() { # supervise NAME
  local name=$1
  while [ ! -e "$work/stop" ]; do
    "$bw" serve --redis-prefix "$redis_prefix" --set "worker.id=$name" --set worker.slots=2 \
      >>"$work/$name.out" 2>>"$work/$name.log" &
    echo $! >"$work/$name.pid"
    wait $! 2>/dev/null
    echo "$(date +%s) $name exited $?" >>"$work/deaths"
    sleep 1
  done
}
for w in c1 c2 c3; do
  supervise "$w" &
  worker_pids[sup-$w]=$!
done
trap 'touch "$work/stop"; pkill -KILL -f -- "--redis-prefix $redis_prefix"; serve_cleanup' EXIT
wait_assigned c1 && wait_assigned c2 && wait_assigned c3

# --- the jobs: mostly successes of 1 to 8 s, and every other ending
job_of() { # job_of I -> the request
  local id="chaos-$1-$run_id"
  case $(($1 % 10)) in
  6) jq -cn --arg id "$id" '{job_id: $id, component: "bundle.exit", env: {EXIT_CODE: "1"}}' ;;
  7) jq -cn --arg id "$id" '{job_id: $id, component: "bundle.exit", env: {EXIT_CODE: "3"}}' ;;
  8) jq -cn --arg id "$id" '{job_id: $id, component: "bundle.sleep", env: {SLEEP_SECONDS: "30"}, limits: {timeout_seconds: 3}}' ;;
  9) jq -cn --arg id "$id" '{job_id: $id, component: "bundle.oom"}' ;;
  *) jq -cn --arg id "$id" --arg s "$((1 + $1 % 8))" '{job_id: $id, component: "bundle.sleep", env: {SLEEP_SECONDS: $s}}' ;;
  esac
}
expected_status() {
  case $(($1 % 10)) in 6) echo user_error ;; 7) echo application_error ;; 8) echo timeout ;; 9) echo oom ;; *) echo success ;; esac
}
produce_range() { # produce_range FROM TO: as a client would, riding out an outage
  local i
  for i in $(seq "$1" "$2"); do printf 'chaos-%s|%s\n' "$i" "$(job_of "$i")"; done >"$work/batch-$1"
  for _ in 1 2 3 4 5 6; do
    kcat -P -l -b "$broker" -t "$t_runs" -K '|' -X message.timeout.ms=60000 "$work/batch-$1" 2>/dev/null &&
      return 0
    sleep 5
  done
  echo "could not produce jobs $1 to $2" >&2
  return 1
}
third=$((jobs / 3))

# --- the chaos: kills all along; the broker out once, Redis restarted once
chaos() {
  local workers=(c1 c2 c3) next_kill=$(($(date +%s) + 5)) broker_done=0 redis_done=0 now pid
  while [ ! -e "$work/stop" ]; do
    now=$(date +%s)
    if [ "$now" -ge "$next_kill" ]; then
      pid=$(cat "$work/${workers[RANDOM % 3]}.pid" 2>/dev/null)
      [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && echo "$now kill $pid" >>"$work/chaos"
      next_kill=$((now + 4 + RANDOM % 3))
    fi
    if [ "$broker_done" = 0 ] && [ $((now - t0)) -ge 20 ]; then
      echo "$now broker down" >>"$work/chaos"
      kill -TERM "$(cat "$stack_run/kafka.pid")"
      sleep 16
      "$src/deploy/local/stack-up.sh" >/dev/null 2>&1 || echo "stack-up after the broker stop failed" >&2
      echo "$(date +%s) broker up" >>"$work/chaos"
      broker_done=1
    fi
    if [ "$redis_done" = 0 ] && [ $((now - t0)) -ge 60 ]; then
      echo "$now redis restart" >>"$work/chaos"
      kill -TERM "$(cat "$stack_run/redis.pid")"
      sleep 2
      "$src/deploy/local/stack-up.sh" >/dev/null 2>&1 || echo "stack-up after the Redis stop failed" >&2
      redis_done=1
    fi
    sleep 0.5
  done
}
produce_range 1 "$third"
chaos &
chaos_pid=$!
sleep 25
produce_range $((third + 1)) $((2 * third))
sleep 30
produce_range $((2 * third + 1)) "$jobs"

# --- until every job has ended (distinct jobs, not event counts)
finished_jobs() {
  events | jq -r "select(.type == \"job.finished\" and (.job_id | startswith(\"chaos-\"))) | .job_id" | sort -u | wc -l
}
deadline=$(($(date +%s) + 240 + jobs * 6))
while [ "$(finished_jobs)" -lt "$jobs" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 3; done
touch "$work/stop"
wait "$chaos_pid" 2>/dev/null
# Let the workers end cleanly (what they ran was done), then one more start
# of one of them sweeps what the last kills left.
for w in c1 c2 c3; do kill -TERM "$(cat "$work/$w.pid")" 2>/dev/null; done
for w in c1 c2 c3; do wait "${worker_pids[sup-$w]}" 2>/dev/null; unset "worker_pids[sup-$w]"; done
"$bw" serve --redis-prefix "$redis_prefix" --set worker.id=c1 --set worker.slots=2 \
  >>"$work/final.out" 2>>"$work/final.log" &
final=$!
worker_pids[final]=$final
sleep 8
kill -TERM "$final"
wait "$final"
unset 'worker_pids[final]'
events | jq -c 'fromjson? // empty' -R >"$work/events" # a reader skips what it cannot read

# --- the checks
every_job_finished() {
  local missing=() i
  jq -r 'select(.type == "job.finished") | .job_id' "$work/events" | sort -u >"$work/finished-ids"
  for i in $(seq 1 "$jobs"); do
    grep -qxF "chaos-$i-$run_id" "$work/finished-ids" || missing+=("chaos-$i")
  done
  [ ${#missing[@]} = 0 ] && return 0
  echo "  without a job.finished: ${missing[*]}"
  return 1
}
one_event_id_per_attempt() {
  local bad
  bad=$(jq -r 'select(.type == "job.finished" and (.job_id | startswith("chaos-"))) | "\(.job_id) \(.attempt) \(.event_id)"' "$work/events" |
    sort -u | cut -d' ' -f1,2 | uniq -d)
  [ -z "$bad" ] && return 0
  echo "  attempts with two different job.finished: $bad"
  return 1
}
statuses_as_expected() {
  local i want got bad=()
  for i in $(seq 1 "$jobs"); do
    want=$(expected_status "$i")
    got=$(jq -r --arg id "chaos-$i-$run_id" 'select(.type == "job.finished" and .job_id == $id) | .status' "$work/events" | tail -n 1)
    # a job whose workers kept dying ends as infra_error, saying so
    if [ "$got" != "$want" ] && [ "$got" != infra_error ]; then
      bad+=("chaos-$i:$got")
      jq -c --arg id "chaos-$i-$run_id" 'select(.job_id == $id and (.type | test("^job\\.(started|finished|duplicate|interrupted)$|container"))) | {type, attempt, worker, status, exit_code, message, ts}' "$work/events" | sed 's/^/    /'
    fi
  done
  [ ${#bad[@]} = 0 ] && return 0
  echo "  unexpected: ${bad[*]}"
  return 1
}
never_overlapped() {
  curl -s --unix-socket "$STACK_DOCKER_SOCKET" -g \
    "http://d/v1.41/events?since=$since&until=$(date +%s)&filters={\"event\":[\"start\",\"die\"],\"label\":[\"io.bundle-worker.fleet=$redis_prefix\"]}" |
    jq -r '"\(.timeNano) \(.Action) \(.id) \(.Actor.Attributes["io.bundle-worker.job-id"])"' | sort -n >"$work/engine"
  awk '
    $2 == "start" { if (($4 in running) && running[$4] != $3) { print "  " $4 ": " $3 " started while " running[$4] " ran"; bad = 1 } running[$4] = $3; starts[$4]++ }
    $2 == "die" { if (($4 in running) && running[$4] == $3) delete running[$4] }
    END { n = 0; for (j in starts) if (starts[j] > 1) n++; print n > "/dev/stderr"; exit bad }' "$work/engine" 2>"$work/reruns"
}
no_orphans() {
  local n
  n=$(curl -s --unix-socket "$STACK_DOCKER_SOCKET" -g \
    "http://d/v1.41/containers/json?all=1&filters={\"label\":[\"io.bundle-worker.fleet=$redis_prefix\"]}" | jq length)
  [ "$n" = 0 ] && return 0
  echo "  $n containers left"
  return 1
}
no_folders() {
  local n
  n=$(find "$work/jobs" -mindepth 2 -maxdepth 2 2>/dev/null | grep -c .)
  [ "$n" = 0 ] && return 0
  echo "  $n data folders left: $(find "$work/jobs" -mindepth 2 -maxdepth 2 | head -3)"
  return 1
}
lag=$("$topics_tool" "$broker" lag "group-$run_id" "$t_runs")
check "every one of the $jobs jobs has a job.finished" every_job_finished
check "every attempt's copies of job.finished carry one event_id" one_event_id_per_attempt
check "each job ended as it should (or infra_error after its workers kept dying)" statuses_as_expected
check "no two containers of one job ran at once" never_overlapped
check "no orphan container left" no_orphans
check "no data folder left" no_folders
the_group_s_lag_on_the_runs_topic_is_0() { [ "$lag" = 0 ]; }
check "the group's lag on the runs topic is 0 (got $lag)" the_group_s_lag_on_the_runs_topic_is_0
kills=$(grep -c kill "$work/chaos" 2>/dev/null)
copies=$(jq -r 'select(.type == "job.finished" and (.job_id | startswith("chaos-"))) | .event_id' "$work/events" | sort | uniq -d | wc -l)
poisoned=$(jq -r 'select(.type == "job.finished" and (.job_id | startswith("chaos-")) and .status == "infra_error") | .job_id' "$work/events" | sort -u | wc -l)
jq -r 'select(.type == "job.finished" and (.job_id | startswith("chaos-")) and .status == "infra_error") | "  infra_error: \(.job_id) attempt \(.attempt): \(.message)"' "$work/events" | sort -u
echo "chaos: $jobs jobs in $(($(date +%s) - t0)) s; $kills kills, one broker outage, one Redis restart;" \
  "$(cat "$work/reruns" 2>/dev/null || echo '?') jobs ran again after a kill (one after the other);" \
  "$copies job.finished sent twice (same event_id); $poisoned ended infra_error"
finish

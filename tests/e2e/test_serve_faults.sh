#!/usr/bin/env bash
# `bundle-worker serve` when things fail: a worker killed mid-job, a job
# longer than max.poll.interval.ms, and Kafka and Redis restarted mid-run.
# shellcheck source=tests/e2e/serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
stack_run=${STACK_HOME:?}/run
# Short group timeouts so that a dead worker's partitions move within seconds.
export BUNDLE_WORKER_KAFKA_SESSION_TIMEOUT_MS=6000
export BUNDLE_WORKER_KAFKA_HEARTBEAT_INTERVAL_MS=1000

finished_once_each() { # PREFIX COUNT: every job has a success, none two job.finished
  local out
  out=$(events)
  [ "$(jq -r "select(.type == \"job.finished\" and (.job_id | startswith(\"$1\")) and .status == \"success\") | .job_id" <<<"$out" | sort -u | wc -l)" = "$2" ] && return 0
  echo "  how the $1 jobs ended (job attempt status worker message):"
  jq -r "select((.type == \"job.finished\" or .type == \"job.interrupted\" or .type == \"job.duplicate\") and (.job_id | startswith(\"$1\"))) | \"  \\(.type) \\(.job_id) \\(.attempt) \\(.status // \"-\") \\(.worker) \\(.message // .reason // \"\")\"" <<<"$out" | sort -k2
  return 1
}

# --- SIGKILL a worker while its jobs run: every job still finishes, orphans go
start_worker w1 2
start_worker w2 2
wait_assigned w1 && wait_assigned w2
for i in $(seq 1 6); do produce "kill-$i" "$(sleep_job "kill-$i-$run_id" 6)"; done
wait_events 1 '.type == "container.started" and .worker == "w1"' 60
kill -KILL "${worker_pids[w1]}"
wait "${worker_pids[w1]}" 2>/dev/null
unset 'worker_pids[w1]'
wait_events 6 '.type == "job.finished" and (.job_id | startswith("kill-")) and .status == "success"' 180
check "SIGKILL: every job finished (a job may run twice, none is lost)" finished_once_each kill- 6
for _ in $(seq 1 60); do
  n=$(curl -s --unix-socket "$STACK_DOCKER_SOCKET" -g \
    'http://d/v1.41/containers/json?all=1&filters={"label":["io.bundle-worker.worker=w1"]}' | jq length)
  [ "$n" = 0 ] && break
  sleep 1
done
sigkill_the_dead_worker_s_containers() { [ "$n" = 0 ]; }
check "SIGKILL: the dead worker's containers were cleaned up" sigkill_the_dead_worker_s_containers
sigkill_the_survivor_removed_orphans() { grep -q "orphaned container" "$work/w2.log"; }
check "SIGKILL: the survivor removed orphans" sigkill_the_survivor_removed_orphans

# --- a job longer than max.poll.interval.ms: no rebalance storm
kill -TERM "${worker_pids[w2]}"
wait "${worker_pids[w2]}"
unset 'worker_pids[w2]'
start_worker w3 1 --set kafka.max.poll.interval.ms=7000
wait_assigned w3
produce long-1 "$(sleep_job "long-1-$run_id" 15)"
wait_events 1 ".type == \"job.finished\" and .job_id == \"long-1-$run_id\"" 90
out=$(events)
a_15_s_job_with_max_poll_interval_ms_7_s() { [ "$(jq -c "select(.type == \"job.finished\" and .job_id == \"long-1-$run_id\" and .status == \"success\")" <<<"$out" | wc -l)" = 1 ]; }
check "a 15 s job with max.poll.interval.ms 7 s finishes once" a_15_s_job_with_max_poll_interval_ms_7_s
assigned=$(grep -c '"partitions assigned"' "$work/w3.log")
no_rebalance_storm() { [ "$assigned" -le 2 ]; }
check "no rebalance storm (assignments seen: $assigned)" no_rebalance_storm

# --- Kafka restarted, then Redis restarted, during a run of 20 jobs
kill -TERM "${worker_pids[w3]}"
wait "${worker_pids[w3]}"
unset 'worker_pids[w3]'
start_worker w4 2
wait_assigned w4
for i in $(seq 1 20); do produce "outage-$i" "$(sleep_job "outage-$i-$run_id" 2)"; done
wait_events 2 '.type == "job.finished" and (.job_id | startswith("outage-"))' 60
kill -TERM "$(cat "$stack_run/kafka.pid")"
sleep 3
"$src/deploy/local/stack-up.sh" >/dev/null 2>&1 || echo "stack-up after the Kafka stop failed" >&2
wait_events 8 '.type == "job.finished" and (.job_id | startswith("outage-"))' 120
kill -TERM "$(cat "$stack_run/redis.pid")"
sleep 2
"$src/deploy/local/stack-up.sh" >/dev/null 2>&1 || echo "stack-up after the Redis stop failed" >&2
# Distinct jobs, not events: a job that ran twice must not stand in for one
# that has not finished yet.
for _ in $(seq 1 240); do
  [ "$(events | jq -r 'select(.type == "job.finished" and (.job_id | startswith("outage-"))) | .job_id' | sort -u | wc -l)" -ge 20 ] && break
  sleep 1
done
check "outages: all 20 jobs finished" finished_once_each outage- 20
out=$(events)
# A job.finished may reach the topic twice (the outbox sends it again when its
# delivery was never confirmed), always with one event_id: consumers dedupe
# by it. Each job ran once: one attempt, one event_id.
ran_once_each() {
  local dup
  dup=$(jq -r 'select(.type == "job.finished" and (.job_id | startswith("outage-"))) | "\(.job_id) \(.event_id)"' <<<"$out" |
    sort -u | cut -d' ' -f1 | uniq -d)
  [ -z "$dup" ] && return 0
  echo "  jobs with two different job.finished: $dup"
  return 1
}
check "outages: each ran once (one job.finished event_id per job)" ran_once_each
outages_the_workers_logged_the_outage() { grep -q "redis.*reachable again" "$work/w4.log" && grep -q "Connection refused" "$work/w4.log"; }
check "outages: the workers logged the outage and went on" outages_the_workers_logged_the_outage

# --- the Docker Engine restarted under a running job: that job ends (as an
# infra_error, reported, replayable), the worker goes on with the next ones
kill -TERM "${worker_pids[w4]}"
wait "${worker_pids[w4]}"
unset 'worker_pids[w4]'
start_worker w5 2
wait_assigned w5
produce engine-1 "$(sleep_job "engine-1-$run_id" 30)"
wait_events 1 ".type == \"container.started\" and .job_id == \"engine-1-$run_id\"" 60
if [ -s "$stack_run/dockerd.pid" ]; then
  dockerd_pid=$(cat "$stack_run/dockerd.pid")
  kill -TERM "$dockerd_pid"
  for _ in $(seq 1 300); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
  "$src/deploy/local/stack-up.sh" >/dev/null 2>&1 || echo "stack-up after the engine stop failed" >&2
  wait_events 1 ".type == \"job.finished\" and .job_id == \"engine-1-$run_id\"" 120
  produce engine-2 "$(sleep_job "engine-2-$run_id" 1)"
  wait_events 1 ".type == \"job.finished\" and .job_id == \"engine-2-$run_id\"" 120
  out=$(events)
  engine_restart_the_running_job_was() { [ "$(jq -c "select(.type == \"job.finished\" and .job_id == \"engine-1-$run_id\")" <<<"$out" | wc -l)" = 1 ]; }
  check "engine restart: the running job was reported (not lost)" engine_restart_the_running_job_was
  engine_restart_the_next_job_succeeds_on() { [ "$(jq -r "select(.type == \"job.finished\" and .job_id == \"engine-2-$run_id\") | .status" <<<"$out")" = success ] && kill -0 "${worker_pids[w5]}"; }
  check "engine restart: the next job succeeds on the same worker" engine_restart_the_next_job_succeeds_on
else
  check "engine restart: the stack started dockerd (a pid file), so the test can restart it" false
fi
finish

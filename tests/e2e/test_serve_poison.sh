#!/usr/bin/env bash
# A request that kills every worker that runs it (issue 9.2): it runs at most
# jobs.max.deliveries times, then goes to the DLQ with a job.finished
# (infra_error) that says how many workers it took down; the fleet lives on.
# The deaths are real: a test build (BW_TEST_HOOKS) aborts on purpose when
# BW_TEST_CRASH names the job (shared/core/test_hooks.h).
# shellcheck source=tests/e2e/serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
export BUNDLE_WORKER_KAFKA_SESSION_TIMEOUT_MS=6000
export BUNDLE_WORKER_KAFKA_HEARTBEAT_INTERVAL_MS=1000
export BUNDLE_WORKER_JOBS_MAX_DELIVERIES=3
ulimit -c 0 # the aborts are on purpose: no core files

poison=poison-$run_id
good=after-poison-$run_id
since=$(date +%s)

# A supervisor, as systemd or Kubernetes would be: restarts the worker when
# it dies, and counts the deaths.
supervise() {
  local _
  for _ in $(seq 1 8); do
    BW_TEST_CRASH="started:poison-" "$bw" serve --redis-prefix "$redis_prefix" \
      --set worker.id=p1 --set worker.slots=1 >>"$work/p1.out" 2>>"$work/p1.log"
    echo "exit $?" >>"$work/deaths"
  done
}
supervise &
worker_pids[supervisor]=$!
# The supervisor's current worker too, however the test ends.
trap 'pkill -KILL -f -- "--redis-prefix $redis_prefix"; serve_cleanup' EXIT
wait_assigned p1

produce "$poison" "$(jq -cn --arg id "$poison" '{job_id: $id, component: "bundle.exit", env: {EXIT_CODE: "0"}}')"
wait_events 1 ".type == \"job.finished\" and .job_id == \"$poison\"" 150
out=$(events)
finished=$(jq -c "select(.type == \"job.finished\" and .job_id == \"$poison\")" <<<"$out")
deaths=$(grep -c . "$work/deaths" 2>/dev/null || echo 0)
# The Engine's own record of the starts (the events of a worker that dies at
# once may never reach Kafka: the worker's count would lie).
started=$(curl -s --unix-socket "$STACK_DOCKER_SOCKET" -g \
  "http://d/v1.41/events?since=$since&until=$(date +%s)&filters={\"event\":[\"start\"],\"label\":[\"io.bundle-worker.job-id=$poison\"]}" |
  jq -s length)

the_poison_request_ends_with_one_job() { [ "$(grep -c . <<<"$finished")" = 1 ]; }
check "the poison request ends with one job.finished" the_poison_request_ends_with_one_job
its_status_is_infra_error() { [ "$(jq -r .status <<<"$finished")" = infra_error ]; }
check "its status is infra_error" its_status_is_infra_error
its_message_says_it_took_down_3_workers() { jq -r .message <<<"$finished" | grep -q "took down 3 workers"; }
check "its message says it took down 3 workers" its_message_says_it_took_down_3_workers
it_ran_3_times_never_a_4th() { [ "$started" = 3 ]; }
check "it ran 3 times, never a 4th (containers started: $started)" it_ran_3_times_never_a_4th
case_3_workers_died() { [ "$deaths" = 3 ]; }
check "3 workers died (deaths: $deaths)" case_3_workers_died
dlq_out=$(dlq)
the_dlq_has_it_with_the_reason() { grep -F "$poison" <<<"$dlq_out" | grep -q "took down 3 workers"; }
check "the DLQ has it, with the reason" the_dlq_has_it_with_the_reason

# The fleet lives on: the restarted worker takes the next job.
produce "$good" "$(jq -cn --arg id "$good" '{job_id: $id, component: "bundle.exit", env: {EXIT_CODE: "0"}}')"
wait_events 1 ".type == \"job.finished\" and .job_id == \"$good\"" 60
out=$(events)
the_next_job_runs_and_succeeds() { [ "$(jq -r "select(.type == \"job.finished\" and .job_id == \"$good\") | .status" <<<"$out")" = success ]; }
check "the next job runs and succeeds" the_next_job_runs_and_succeeds
the_worker_is_still_alive() { kill -0 "${worker_pids[supervisor]}" && [ "$(grep -c . "$work/deaths")" = 3 ]; }
check "the worker is still alive" the_worker_is_still_alive

# The dead workers' containers are swept (the survivor's orphan sweep).
for _ in $(seq 1 30); do
  n=$(curl -s --unix-socket "$STACK_DOCKER_SOCKET" -g \
    "http://d/v1.41/containers/json?all=1&filters={\"label\":[\"io.bundle-worker.job-id=$poison\"]}" | jq length)
  [ "$n" = 0 ] && break
  sleep 1
done
no_container_of_the_poison_job_is_left() { [ "$n" = 0 ]; }
check "no container of the poison job is left" no_container_of_the_poison_job_is_left
finish

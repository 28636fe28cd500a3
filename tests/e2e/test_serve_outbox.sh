#!/usr/bin/env bash
# The outbox (issue 10.1): a job that ends on a worker that dies before the
# broker has its job.finished still gets it on the topic, sent by whoever meets
# its final record next, with the same event_id; the job does not run again.
# Checked per job from the topic (kcat) and from the Engine's own events.
# shellcheck source=tests/e2e/serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
stack_run=${STACK_HOME:?}/run
export BUNDLE_WORKER_KAFKA_SESSION_TIMEOUT_MS=6000
export BUNDLE_WORKER_KAFKA_HEARTBEAT_INTERVAL_MS=1000
ulimit -c 0
since=$(date +%s)

exit_job() { jq -cn --arg id "$1" '{job_id: $id, component: "bundle.exit", env: {EXIT_CODE: "0"}}'; }
starts_of() { # starts_of JOB_ID: container starts the Engine saw
  curl -s --unix-socket "$STACK_DOCKER_SOCKET" -g \
    "http://d/v1.41/events?since=$since&until=$(date +%s)&filters={\"event\":[\"start\"],\"label\":[\"io.bundle-worker.job-id=$1\"]}" |
    jq -s length
}
finished_of() { events | jq -c "select(.type == \"job.finished\" and .job_id == \"$1\")"; }
one_event_id() { # one_event_id JOB_ID: at least one job.finished, all with one event_id
  local ids
  ids=$(finished_of "$1" | jq -r .event_id | sort -u)
  [ -n "$ids" ] && [ "$(grep -c . <<<"$ids")" = 1 ]
}

# --- A: the worker dies right after it queued job.finished (a test build's
# crash point): the next worker sends the recorded event
a=outbox-a-$run_id
BW_TEST_CRASH="finished:outbox-a-" start_worker w1 1
wait_assigned w1
produce "$a" "$(exit_job "$a")"
for _ in $(seq 1 60); do kill -0 "${worker_pids[w1]}" 2>/dev/null || break; sleep 0.5; done
a_the_worker_died_on_purpose_after() { ! kill -0 "${worker_pids[w1]}" 2>/dev/null; }
check "A: the worker died on purpose after queueing job.finished" a_the_worker_died_on_purpose_after
unset 'worker_pids[w1]'
start_worker w2 1
wait_assigned w2
wait_events 1 ".type == \"job.finished\" and .job_id == \"$a\"" 60
check "A: the job has its job.finished on the topic, every copy with one event_id" one_event_id "$a"
a_it_ran_once() { [ "$(starts_of "$a")" = 1 ]; }
check "A: it ran once (one container start)" a_it_ran_once
a_the_survivor_said_it_sent_the_recorded() { grep -q "sending it again from the outbox" "$work/w2.log"; }
check "A: the survivor said it sent the recorded event" a_the_survivor_said_it_sent_the_recorded
wait_events 1 ".type == \"job.duplicate\" and .job_id == \"$a\"" 30
a_and_answered_the_redelivered_request() { [ "$(events | jq -c "select(.type == \"job.duplicate\" and .job_id == \"$a\")" | wc -l)" -ge 1 ]; }
check "A: and answered the redelivered request with job.duplicate" a_and_answered_the_redelivered_request

# --- B: the issue's case: the job finishes while the broker is down, the
# worker is killed before the broker is back
b=outbox-b-$run_id
produce "$b" "$(jq -cn --arg id "$b" '{job_id: $id, component: "bundle.sleep", env: {SLEEP_SECONDS: "6"}}')"
wait_events 1 ".type == \"container.started\" and .job_id == \"$b\"" 60
kill -TERM "$(cat "$stack_run/kafka.pid")"
for _ in $(seq 1 60); do
  grep -q "\"job finished\".*$b\|\"job_id\":\"$b\".*recording" "$work/w2.log" 2>/dev/null && break
  # the job's end is in Redis once its record says so
  [ "$(redis-cli -h "$STACK_REDIS_HOST" -p "$STACK_REDIS_PORT" HGET "${redis_prefix}job:$b" status)" = success ] && break
  sleep 0.5
done
recorded=$(redis-cli -h "$STACK_REDIS_HOST" -p "$STACK_REDIS_PORT" HGET "${redis_prefix}job:$b" delivered)
b_the_job_ended_with_the_broker_down_the() { [ "$recorded" = 0 ]; }
check "B: the job ended with the broker down; the outbox holds its event, undelivered" b_the_job_ended_with_the_broker_down_the
kill -KILL "${worker_pids[w2]}"
wait "${worker_pids[w2]}" 2>/dev/null
unset 'worker_pids[w2]'
"$src/deploy/local/stack-up.sh" >/dev/null 2>&1 || echo "stack-up after the Kafka stop failed" >&2
start_worker w3 1
wait_assigned w3
wait_events 1 ".type == \"job.finished\" and .job_id == \"$b\"" 90
check "B: the job has its job.finished on the topic, every copy with one event_id" one_event_id "$b"
b_it_ran_once() { [ "$(starts_of "$b")" = 1 ]; }
check "B: it ran once (one container start)" b_it_ran_once
for _ in $(seq 1 20); do
  [ "$(redis-cli -h "$STACK_REDIS_HOST" -p "$STACK_REDIS_PORT" HGET "${redis_prefix}job:$b" delivered)" = 1 ] && break
  sleep 0.5
done
b_and_the_delivery_is_confirmed_in_the() { [ "$(redis-cli -h "$STACK_REDIS_HOST" -p "$STACK_REDIS_PORT" HGET "${redis_prefix}job:$b" delivered)" = 1 ]; }
check "B: and the delivery is confirmed in the record" b_and_the_delivery_is_confirmed_in_the
finish

#!/usr/bin/env bash
# `bundle-worker serve` against the real Kafka, Redis and Docker Engine.
# shellcheck source=tests/e2e/serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"

# --- two workers with two slots each, 40 jobs of 1 to 3 s: each finishes once
start_worker w1 2
start_worker w2 2
wait_assigned w1 && wait_assigned w2
for i in $(seq 1 40); do
  produce "many-$i" "$(sleep_job "many-$i-$run_id" $((i % 3 + 1)))"
done
wait_events 40 '.type == "job.finished" and (.job_id | startswith("many-"))' 180
out=$(events)
case_40_jobs_each_has_exactly_one_job() {
  [ "$(jq -r "select(.type == \"job.finished\" and (.job_id | startswith(\"many-\"))) | .job_id + \" \" + .status" <<<"$out" | sort | uniq | grep -c " success$")" = 40 ] &&
  [ "$(jq -r "select(.type == \"job.finished\" and (.job_id | startswith(\"many-\"))) | .job_id" <<<"$out" | sort | uniq -d | wc -l)" = 0 ]
}
check "40 jobs: each has exactly one job.finished, all success" case_40_jobs_each_has_exactly_one_job
case_40_jobs_both_workers_ran_some() { [ "$(jq -r "select(.type == \"job.finished\") | .worker" <<<"$out" | sort -u | wc -l)" = 2 ]; }
check "40 jobs: both workers ran some" case_40_jobs_both_workers_ran_some
# Concurrency per worker from the events: +1 at job.started, -1 at job.finished.
max_running() {
  jq -s -r --arg w "$1" '[.[] | select(.worker == $w and (.type == "job.started" or .type == "job.finished"))]
    | sort_by(.ts, (if .type == "job.finished" then 0 else 1 end))
    | reduce .[] as $e ({n: 0, max: 0}; .n += (if $e.type == "job.started" then 1 else -1 end) | .max = ([.max, .n] | max))
    | .max' <<<"$out"
}
case_40_jobs_at_most_2_at_once_per_worker() { [ "$(max_running w1)" -le 2 ] && [ "$(max_running w2)" -le 2 ] && [ "$(max_running w1)" -ge 1 ]; }
check "40 jobs: at most 2 at once per worker (w1 $(max_running w1), w2 $(max_running w2))" case_40_jobs_at_most_2_at_once_per_worker
case_40_jobs_no_error_in_the_workers_logs() { ! grep -q "\"level\":\"error\"" "$work/w1.log" "$work/w2.log"; }
check "40 jobs: no error in the workers' logs" case_40_jobs_no_error_in_the_workers_logs

# --- bad messages go to the DLQ with their reason; the workers go on
printf '\x01\xff\xfe not json at all' >"$work/garbage.bin"
produce_raw bad-1 "$work/garbage.bin"
produce bad-2 '{"job_id": "bad-2", "component": "bundle.sleep", "limits": {"memory": -3}}'
produce bad-3 '{"job_id": "bad-3", "component": "no.such.component"}'
for _ in $(seq 1 30); do [ "$(dlq | wc -l)" -ge 3 ] && break; sleep 1; done
out=$(dlq)
dlq_unparseable_bytes_with_the_reason() { grep -q "dlq.reason=request: not valid JSON" <<<"$out" && grep -q "dlq.source.topic=$t_runs" <<<"$out" && grep -q "dlq.worker=w" <<<"$out"; }
check "DLQ: unparseable bytes, with the reason and the source" dlq_unparseable_bytes_with_the_reason
dlq_an_invalid_request_names_the_json() { grep -q "limits.memory: expected bytes" <<<"$out"; }
check "DLQ: an invalid request names the JSON path" dlq_an_invalid_request_names_the_json
dlq_an_unknown_component() { grep -q "not a registered component" <<<"$out"; }
check "DLQ: an unknown component" dlq_an_unknown_component
dlq_the_original_bytes_are_kept() { grep -q "not json at all" <<<"$out"; }
check "DLQ: the original bytes are kept" dlq_the_original_bytes_are_kept

# --- cancel a running job
produce cancel-1 "$(sleep_job "cancel-1-$run_id" 60)"
wait_events 1 ".type == \"container.started\" and .job_id == \"cancel-1-$run_id\"" 30
run_bw cancel --redis-prefix "$redis_prefix" "cancel-1-$run_id"
cancel_the_command_says_so() { [ "$rc" -eq 0 ] && has "$out" "cancel requested"; }
check "cancel: the command says so" cancel_the_command_says_so
wait_events 1 ".type == \"job.finished\" and .job_id == \"cancel-1-$run_id\"" 30
out=$(events)
cancel_the_job_ends_as_cancelled() { [ "$(jq -r "select(.type == \"job.finished\" and .job_id == \"cancel-1-$run_id\") | .status" <<<"$out")" = cancelled ]; }
check "cancel: the job ends as cancelled" cancel_the_job_ends_as_cancelled

# --- one pull of a new image, however many jobs need it at once
curl -s --unix-socket "$STACK_DOCKER_SOCKET" -X DELETE \
  "http://d/v1.41/images/$(jq -rn --arg s "$STACK_IMAGE_PREFIX/exit:$STACK_IMAGE_TAG" '$s|@uri')?force=1" >/dev/null
for i in $(seq 1 6); do
  produce "pull-$i" "$(jq -cn --arg id "pull-$i-$run_id" '{job_id: $id, component: "bundle.exit"}')"
done
wait_events 6 '.type == "job.finished" and (.job_id | startswith("pull-"))' 120
out=$(events)
case_6_jobs_on_a_missing_image_exactly_one() {
  [ "$(jq -c "select(.type == \"image.pulled\" and (.job_id | startswith(\"pull-\")) and .cached == false)" <<<"$out" | wc -l)" = 1 ] &&
  [ "$(jq -c "select(.type == \"job.finished\" and (.job_id | startswith(\"pull-\")) and .status == \"success\")" <<<"$out" | wc -l)" = 6 ]
}
check "6 jobs on a missing image: exactly one pull" case_6_jobs_on_a_missing_image_exactly_one

# --- SIGTERM drains: the running job finishes, the worker exits 0
kill -TERM "${worker_pids[w2]}"
produce drain-1 "$(sleep_job "drain-1-$run_id" 3)"
wait_events 1 ".type == \"job.finished\" and .job_id == \"drain-1-$run_id\"" 60
kill -TERM "${worker_pids[w1]}"
wait "${worker_pids[w1]}"
rc_w1=$?
wait "${worker_pids[w2]}"
rc_w2=$?
unset 'worker_pids[w1]' 'worker_pids[w2]'
out=$(events)
drain_workers_exit_0_on_sigterm() { [ "$rc_w1" -eq 0 ] && [ "$rc_w2" -eq 0 ]; }
check "drain: workers exit 0 on SIGTERM (w1 $rc_w1, w2 $rc_w2)" drain_workers_exit_0_on_sigterm
drain_the_job_finished() { [ "$(jq -r "select(.type == \"job.finished\" and .job_id == \"drain-1-$run_id\") | .status" <<<"$out")" = success ]; }
check "drain: the job finished" drain_the_job_finished
drain_the_worker_said_it_drained() { grep -q draining "$work/w1.log"; }
check "drain: the worker said it drained" drain_the_worker_said_it_drained

# --- the drain timeout passes: the job is interrupted, left uncommitted, and
# runs again on the next worker as attempt 2
start_worker w5 1 --set worker.drain.timeout.seconds=1
wait_assigned w5
produce intr-1 "$(sleep_job "intr-1-$run_id" 6)"
wait_events 1 ".type == \"container.started\" and .job_id == \"intr-1-$run_id\"" 60
kill -TERM "${worker_pids[w5]}"
wait "${worker_pids[w5]}"
rc_w5=$?
unset 'worker_pids[w5]'
out=$(events)
drain_timeout_job_interrupted_no_job() {
  [ "$rc_w5" -eq 0 ] && [ "$(jq -c "select(.type == \"job.interrupted\" and .job_id == \"intr-1-$run_id\")" <<<"$out" | wc -l)" = 1 ] &&
  [ "$(jq -c "select(.type == \"job.finished\" and .job_id == \"intr-1-$run_id\")" <<<"$out" | wc -l)" = 0 ]
}
check "drain timeout: job.interrupted, no job.finished, exit 0 ($rc_w5)" drain_timeout_job_interrupted_no_job
start_worker w6 1
wait_events 1 ".type == \"job.finished\" and .job_id == \"intr-1-$run_id\"" 90
out=$(events)
the_interrupted_job_runs_again_as() { [ "$(jq -r "select(.type == \"job.finished\" and .job_id == \"intr-1-$run_id\") | \"\(.attempt) \(.status)\"" <<<"$out")" = "2 success" ]; }
check "the interrupted job runs again as attempt 2 and succeeds" the_interrupted_job_runs_again_as
kill -TERM "${worker_pids[w6]}"
wait "${worker_pids[w6]}"
unset 'worker_pids[w6]'

# --- a second SIGTERM does not wait for the stop grace: SIGKILL at once
start_worker w7 1 --set worker.drain.timeout.seconds=120 --set jobs.stop.grace.seconds=60
wait_assigned w7
produce stub-1 "$(jq -cn --arg id "stub-1-$run_id" '{job_id: $id, component: "bundle.ignore-term"}')"
wait_events 1 ".type == \"container.started\" and .job_id == \"stub-1-$run_id\"" 60
t0=$(date +%s)
kill -TERM "${worker_pids[w7]}"
sleep 1
kill -TERM "${worker_pids[w7]}"
wait "${worker_pids[w7]}"
rc_w7=$? took=$(($(date +%s) - t0))
unset 'worker_pids[w7]'
second_sigterm_the_job_is_killed_at_once() { [ "$rc_w7" -eq 0 ] && [ $took -lt 20 ] && [ "$(count_events ".type == \"job.interrupted\" and .job_id == \"stub-1-$run_id\"")" = 1 ]; }
check "second SIGTERM: the job is killed at once, not after the 60 s grace (exit $rc_w7, ${took} s)" second_sigterm_the_job_is_killed_at_once

leftovers=$(curl -s --unix-socket "$STACK_DOCKER_SOCKET" -g \
  'http://d/v1.41/containers/json?all=1&filters={"label":["io.bundle-worker.job-id"]}' | jq length)
no_container_left() { [ "$leftovers" = 0 ]; }
check "no container left" no_container_left
finish

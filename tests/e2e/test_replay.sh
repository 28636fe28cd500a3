#!/usr/bin/env bash
# `bundle-worker replay` against a worker on the real stack: selection by
# status, job, time window and source; --dry-run sends nothing; a job that has
# succeeded since is never sent; replaying a selection twice runs no job twice.
# shellcheck source=tests/e2e/serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"

mkdir -p "$work/inputs"
start_worker r1 2 --set "jobs.inputs.file.root=$work/inputs"
wait_assigned r1

# flaky: its input's checksum is wrong until the test fixes the file.
printf 'hello\n' >"$work/want.txt"
printf 'wrong\n' >"$work/inputs/in.txt"
sum=$(sha256sum "$work/want.txt" | cut -d' ' -f1)
id() { echo "$1-$run_id"; }
t_before=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 1
produce "$(id good)" "$(jq -cn --arg id "$(id good)" '{job_id: $id, component: "bundle.exit"}')"
produce "$(id flaky)" "$(jq -cn --arg id "$(id flaky)" --arg url "file://$work/inputs/in.txt" --arg sum "$sum" \
  '{job_id: $id, component: "bundle.exit", config: {parameters: {"#token": "s3cret"}}, inputs: [{url: $url, path: "files/in.txt", sha256: $sum}]}')"
produce "$(id oom)" "$(jq -cn --arg id "$(id oom)" '{job_id: $id, component: "bundle.oom"}')"
produce "$(id slow)" "$(jq -cn --arg id "$(id slow)" '{job_id: $id, component: "bundle.sleep", env: {SLEEP_SECONDS: "30"}, limits: {timeout_seconds: 1}}')"
produce "$(id later)" "$(jq -cn --arg id "$(id later)" '{job_id: $id, component: "bundle.not-registered"}')"
printf 'not json at all' >"$work/garbage"
produce_raw "$(id garbage)" "$work/garbage"
wait_events 4 '.type == "job.finished"' 120
sleep 1
t_after=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
runs_count() { kcat -C -b "$broker" -t "$t_runs" -o beginning -e -q 2>/dev/null | wc -l; }
started() { count_events ".type == \"job.started\" and .job_id == \"$1\" and .attempt == $2"; }
row() { jq -c "select(.job_id == \"$1\")" <<<"$out"; }
field() { row "$1" | jq -r ".$2"; }
first_runs_success_user_error_oom() { [ "$(count_events ".type == \"job.finished\" and .status == \"user_error\"")" = 1 ] && [ "$(count_events ".type == \"job.finished\" and .status == \"oom\"")" = 1 ] && [ "$(count_events ".type == \"job.finished\" and .status == \"timeout\"")" = 1 ] && [ "$(dlq | wc -l)" = 2 ]; }
check "first runs: success, user_error, oom, timeout; two dead letters" first_runs_success_user_error_oom
job_finished_names_where_its_request_is() { [ "$(events | jq -r "select(.type == \"job.finished\" and .job_id == \"$(id oom)\") | .request.topic")" = "$t_runs" ]; }
check "job.finished names where its request is (topic, partition, offset)" job_finished_names_where_its_request_is

# --- dry run: lists, sends nothing
n_runs=$(runs_count)
run_bw replay --redis-prefix "$redis_prefix" --dry-run --json
dry_run_the_three_failures_would_be_sent() { [ "$rc" -eq 0 ] && [ "$(field "$(id flaky)" action)" = "would send" ] && [ "$(field "$(id oom)" new_attempt)" = 2 ] && [ "$(field "$(id slow)" status)" = timeout ] && [ -z "$(row "$(id good)")" ] && [ "$(runs_count)" = "$n_runs" ]; }
check "--dry-run: the three failures would be sent as attempt 2, nothing is sent" dry_run_the_three_failures_would_be_sent
dry_run_dead_letters_are_judged_still() { [ "$(field "$(id later)" action)" = skipped ] && field "$(id later)" why | grep -q "still invalid: component: .*bundle.not-registered" && field "$(id garbage)" why | grep -q "not a readable request"; }
check "--dry-run: dead letters are judged: still invalid, or not a readable request" dry_run_dead_letters_are_judged_still
run_bw replay --redis-prefix "$redis_prefix" --dry-run
dry_run_a_table_with_a_header_and_a() { has "$out" "JOB" && has "$out" "1 -> 2" && has "$err" "3 to send (dry run)"; }
check "--dry-run: a table with a header and a summary on stderr" dry_run_a_table_with_a_header_and_a

# --- by status, twice in a row: one run of attempt 2
cp "$work/want.txt" "$work/inputs/in.txt"
run_bw replay --redis-prefix "$redis_prefix" --status user_error
first_rc=$rc first_out=$out
run_bw replay --redis-prefix "$redis_prefix" --status user_error --json
replay_status_user_error_flaky_sent_as() { [ $first_rc -eq 0 ] && grep -q "$(id flaky) .*1 -> 2 .*sent" <<<"$first_out" && ! grep -q "$(id oom)" <<<"$first_out"; }
check "replay --status user_error: flaky sent as attempt 2" replay_status_user_error_flaky_sent_as
wait_events 1 ".type == \"job.finished\" and .job_id == \"$(id flaky)\" and .attempt == 2" 60
sleep 2
the_same_selection_replayed_twice_ran() { [ "$(started "$(id flaky)" 2)" = 1 ] && [ "$(count_events ".type == \"job.finished\" and .job_id == \"$(id flaky)\" and .attempt == 2 and .status == \"success\" and .replay_of == \"$(id flaky)\"")" = 1 ]; }
check "the same selection replayed twice ran attempt 2 once, and it succeeded" the_same_selection_replayed_twice_ran
the_replayed_request_is_the_original() { kcat -C -b "$broker" -t "$t_runs" -o beginning -e -q 2>/dev/null | jq -R "fromjson? // empty" | jq -c "select(.job_id == \"$(id flaky)\" and .attempt == 2 and .replay_of == \"$(id flaky)\" and .config.parameters[\"#token\"] == \"s3cret\")" | grep -q .; }
check "the replayed request is the original (secrets kept) with attempt 2 and replay_of" the_replayed_request_is_the_original
run_bw replay --redis-prefix "$redis_prefix" --status user_error --json
a_job_that_has_succeeded_since_is_never() { [ "$rc" -eq 0 ] && [ "$(field "$(id flaky)" action)" = skipped ] && field "$(id flaky)" why | grep -q "succeeded since"; }
check "a job that has succeeded since is never sent again" a_job_that_has_succeeded_since_is_never

# --- time window (offsets for times): outside it nothing, inside it the job
run_bw replay --redis-prefix "$redis_prefix" --dry-run --json --since "$t_after" --status oom
since_after_the_failures_nothing() { [ "$rc" -eq 0 ] && [ -z "$(row "$(id oom)")" ]; }
check "--since after the failures: nothing selected" since_after_the_failures_nothing
run_bw replay --redis-prefix "$redis_prefix" --dry-run --json --until "$t_before" --status oom
until_before_the_failures_nothing() { [ "$rc" -eq 0 ] && [ -z "$(row "$(id oom)")" ]; }
check "--until before the failures: nothing selected" until_before_the_failures_nothing
run_bw replay --redis-prefix "$redis_prefix" --json --since "$t_before" --until "$t_after" \
  --status oom,timeout --job "$(id oom)" --job "$(id slow)" --source events
since_until_around_them_by_job_id_oom() { [ "$rc" -eq 0 ] && [ "$(field "$(id oom)" action)" = sent ] && [ "$(field "$(id slow)" action)" = sent ] && [ -z "$(row "$(id flaky)")" ]; }
check "--since/--until around them, by job id: oom and slow sent" since_until_around_them_by_job_id_oom
wait_events 1 ".type == \"job.finished\" and .job_id == \"$(id oom)\" and .attempt == 2" 90
wait_events 1 ".type == \"job.finished\" and .job_id == \"$(id slow)\" and .attempt == 2" 90
run_bw replay --redis-prefix "$redis_prefix" --json --since "$t_before" --until "$t_after" --status oom
the_same_window_again_already_run_again() { [ "$(field "$(id oom)" action)" = skipped ] && field "$(id oom)" why | grep -q "already run again as attempt 2"; }
check "the same window again: already run again as attempt 2, not sent" the_same_window_again_already_run_again
sleep 2
each_replayed_job_ran_attempt_2_exactly() { [ "$(started "$(id oom)" 2)" = 1 ] && [ "$(started "$(id slow)" 2)" = 1 ]; }
check "each replayed job ran attempt 2 exactly once" each_replayed_job_ran_attempt_2_exactly

# --- the worker's own guard: a copy of a replay already run is a duplicate
produce "$(id oom)" "$(jq -cn --arg id "$(id oom)" '{job_id: $id, component: "bundle.oom", attempt: 2, replay_of: $id}')"
wait_events 1 ".type == \"job.duplicate\" and .job_id == \"$(id oom)\"" 60
a_second_copy_of_attempt_2_is_answered() { [ "$(started "$(id oom)" 2)" = 1 ]; }
check "a second copy of attempt 2 is answered by job.duplicate, not run" a_second_copy_of_attempt_2_is_answered

# --- errors
run_bw replay --status nope
an_unknown_status_is_a_usage_error() { [ "$rc" -eq 2 ] && has "$err" "unknown status 'nope'"; }
check "an unknown status is a usage error naming it" an_unknown_status_is_a_usage_error
run_bw replay --since yesterday
a_bad_time_says_which_forms_are() { [ "$rc" -eq 2 ] && has "$err" "2026-11-28T03:00:00Z"; }
check "a bad time says which forms are understood" a_bad_time_says_which_forms_are
run_bw replay --set kafka.bootstrap.servers=127.0.0.1:1 --dry-run
an_unreachable_broker_is_a_clear_error() { [ "$rc" -eq 1 ] && has "$err" "kafka"; }
check "an unreachable broker is a clear error, exit 1" an_unreachable_broker_is_a_clear_error
finish

#!/usr/bin/env bash
# `bundle-worker watch` (the live view, and --json) against a worker on the real stack.
# shellcheck source=tests/e2e/serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"

# --- without a terminal and without --json: a clear error, nothing else
run_bw watch --redis-prefix "$redis_prefix"
watch_stdout_not_a_terminal_and_no_json() { [ "$rc" -eq 2 ] && has "$err" "not a terminal" && has "$err" "--json" && [ -z "$out" ]; }
check "watch: stdout not a terminal and no --json is refused, pointing at --json" watch_stdout_not_a_terminal_and_no_json
run_bw watch --json --since 10m --from-beginning
watch_since_and_from_beginning_exclude() { [ "$rc" -eq 2 ]; }
check "watch: --since and --from-beginning exclude each other" watch_since_and_from_beginning_exclude
run_bw watch --json --interval 1fortnight
watch_a_bad_duration_is_a_usage_error() { [ "$rc" -eq 2 ] && has "$err" "--interval"; }
check "watch: a bad duration is a usage error" watch_a_bad_duration_is_a_usage_error

start_worker watcher-w1 2
wait_assigned watcher-w1

# --- --json streams the events as they come: start it, then submit 3 jobs
"$bw" watch --json --redis-prefix "$redis_prefix" >"$work/watch.out" 2>"$work/watch.err" &
watch_pid=$!
for _ in $(seq 1 100); do
  grep -q "following" "$work/watch.err" 2>/dev/null && break
  sleep 0.1
done
watch_json_says_where_it_follows_from() { grep -q "following $t_events (4 partitions) from the end" "$work/watch.err"; }
check "watch --json: says where it follows from" watch_json_says_where_it_follows_from

ok1=watch-ok1-$run_id ok2=watch-ok2-$run_id bad=watch-bad-$run_id
produce "$ok1" "$(jq -cn --arg id "$ok1" '{job_id: $id, component: "bundle.exit"}')"
produce "$ok2" "$(jq -cn --arg id "$ok2" '{job_id: $id, component: "bundle.exit"}')"
produce "$bad" "$(jq -cn --arg id "$bad" '{job_id: $id, component: "bundle.exit", env: {EXIT_CODE: "1"}}')"
finished() { jq -r 'select(.type == "job.finished") | .job_id + " " + .status' "$1" 2>/dev/null | sort; }
for _ in $(seq 1 120); do
  [ "$(finished "$work/watch.out" | grep -c "^watch-")" -ge 3 ] && break
  sleep 1
done
kill -INT "$watch_pid"
wait "$watch_pid"
watch_rc=$?
out=$(cat "$work/watch.out") err=$(cat "$work/watch.err") rc=$watch_rc
want=$(printf '%s success\n%s user_error\n%s success\n' "$ok1" "$bad" "$ok2" | sort)
watch_json_each_job_s_job_finished_with() { [ "$(finished "$work/watch.out")" = "$want" ]; }
check "watch --json: each job's job.finished with its status" watch_json_each_job_s_job_finished_with
watch_json_one_valid_json_object_per() {
  [ "$(grep -c . "$work/watch.out")" -ge 9 ] &&
  [ "$(jq -c "select(type == \"object\" and .schema_version == 1)" "$work/watch.out" | wc -l)" = "$(wc -l <"$work/watch.out")" ]
}
check "watch --json: one valid JSON object per line" watch_json_one_valid_json_object_per
watch_json_the_other_events_too() { [ "$(jq -r "select(.job_id == \"$ok1\") | .type" "$work/watch.out" | sort -u | grep -cx "job.started\|container.started\|job.log\|job.finished")" = 4 ]; }
check "watch --json: the other events too (job.started, container.started, job.log)" watch_json_the_other_events_too
watch_json_sigint_ends_it_with_0_quietly() { [ $watch_rc -eq 0 ] && [ "$(grep -vc "following" "$work/watch.err")" = 0 ]; }
check "watch --json: SIGINT ends it with 0, quietly" watch_json_sigint_ends_it_with_0_quietly

# --- earlier events: --since and --from-beginning (offsets for times), ended by SIGTERM
timeout --preserve-status -s TERM 6 "$bw" watch --json --since 10m >"$work/since.out" 2>"$work/since.err"
rc=$? out=$(head -c 2000 "$work/since.out") err=$(cat "$work/since.err")
watch_json_since_10m_the_jobs_that() { [ "$rc" -eq 0 ] && [ "$(finished "$work/since.out")" = "$want" ]; }
check "watch --json --since 10m: the jobs that already finished, exit 0 on SIGTERM" watch_json_since_10m_the_jobs_that
timeout --preserve-status -s TERM 6 "$bw" watch --json --from-beginning >"$work/begin.out" 2>"$work/begin.err"
rc=$? out=$(head -c 2000 "$work/begin.out") err=$(cat "$work/begin.err")
watch_json_from_beginning_everything_the() { [ "$rc" -eq 0 ] && [ "$(wc -l <"$work/begin.out")" = "$(wc -l <"$work/since.out")" ] && has "$err" "from the beginning"; }
check "watch --json --from-beginning: everything the topic keeps" watch_json_from_beginning_everything_the

# --- a reader that goes away (SIGPIPE) ends it quietly with 0
timeout 30 "$bw" watch --json --from-beginning 2>"$work/pipe.err" | head -n 1 >"$work/pipe.out"
rc=${PIPESTATUS[0]} out=$(cat "$work/pipe.out") err=$(cat "$work/pipe.err")
watch_json_head_1_exit_0_when_the_pipe() { [ "$rc" -eq 0 ] && [ "$(wc -l <"$work/pipe.out")" = 1 ] && ! grep -qv following "$work/pipe.err"; }
check "watch --json | head -1: exit 0 when the pipe closes" watch_json_head_1_exit_0_when_the_pipe

# --- the live view, in a terminal (script gives it a pty): q quits
slow=watch-slow-$run_id
produce "$slow" "$(sleep_job "$slow" 8)"
wait_events 1 ".type == \"container.started\" and .job_id == \"$slow\"" 30
tui_cmd="stty cols 150 rows 40; exec $bw watch --redis-prefix $redis_prefix --since 10m --interval 300ms"
{ sleep 3; printf q; sleep 5; } | timeout 20 script -qfec "$tui_cmd" /dev/null >"$work/tui.out" 2>&1
rc=$? out=$(tr -d '\033' <"$work/tui.out" | tail -c 3000) err=""
watch_q_ends_the_live_view_with_0() { [ "$rc" -eq 0 ]; }
check "watch: q ends the live view with 0" watch_q_ends_the_live_view_with_0
watch_the_frame_shows_the_worker_and_the() {
  grep -q "watcher-w1" "$work/tui.out" && grep -q "WORKERS (1, [01] of 2 slots busy)" "$work/tui.out" &&
  grep -q "$bad" "$work/tui.out" && grep -q "user_error" "$work/tui.out" && grep -q "RECENT FINISHES (3" "$work/tui.out"
}
check "watch: the frame shows the worker (from its heartbeat) and the finished jobs" watch_the_frame_shows_the_worker_and_the
watch_the_frame_shows_the_running_job_in() {
  grep -q "RUNNING (1)" "$work/tui.out" && grep -q "$slow  *bundle.sleep  *run " "$work/tui.out" &&
  grep -q "[0-9] jobs/min\|[0-9]/min" "$work/tui.out"
}
check "watch: the frame shows the running job in its phase, and the rate" watch_the_frame_shows_the_running_job_in
watch_the_alternate_screen_is_entered() {
  grep -qF $'\033[?1049h' "$work/tui.out" && grep -qF $'\033[?1049l' "$work/tui.out" &&
  grep -qF $'\033[?25h' "$work/tui.out"
}
check "watch: the alternate screen is entered, then left (terminal restored)" watch_the_alternate_screen_is_entered
watch_no_line_of_the_frame_is_wider_than() { [ "$(sed "s/\x1b\[H/\n/g; s/\x1b\[[0-9;?]*[a-zA-Z]//g" "$work/tui.out" | tr "\r" "\n" | awk "length > 150" | wc -l)" = 0 ]; }
check "watch: no line of the frame is wider than the terminal" watch_no_line_of_the_frame_is_wider_than

# --- SIGTERM to the live view: exit 0, and the terminal is restored as well
term_cmd="stty cols 60 rows 15; $bw watch --redis-prefix $redis_prefix & pid=\$!; sleep 2; kill -TERM \$pid; wait \$pid; echo rc=\$?"
timeout 20 script -qfec "$term_cmd" /dev/null </dev/null >"$work/term.out" 2>&1
out=$(tr -d '\033' <"$work/term.out" | tail -c 2000) rc=""
watch_sigterm_ends_the_live_view_with_0() { grep -q "rc=0" "$work/term.out" && grep -qF $'\033[?1049l' "$work/term.out" && grep -q "watcher-w1" "$work/term.out"; }
check "watch: SIGTERM ends the live view with 0 and leaves the alternate screen" watch_sigterm_ends_the_live_view_with_0
watch_a_narrow_terminal_gets_no_line() { [ "$(sed "s/\x1b\[H/\n/g; s/\x1b\[[0-9;?]*[a-zA-Z]//g" "$work/term.out" | tr "\r" "\n" | awk "length > 60" | wc -l)" = 0 ]; }
check "watch: a narrow terminal gets no line wider than it" watch_a_narrow_terminal_gets_no_line
finish

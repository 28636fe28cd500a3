#!/usr/bin/env bash
# `bundle-worker watch` (the live view, and --json) against a worker on the real stack.
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"

# --- without a terminal and without --json: a clear error, nothing else
run_bw watch --redis-prefix "$redis_prefix"
check "watch: stdout not a terminal and no --json is refused, pointing at --json" eval \
  '[ $rc -eq 2 ] && has "$err" "not a terminal" && has "$err" "--json" && [ -z "$out" ]'
run_bw watch --json --since 10m --from-beginning
check "watch: --since and --from-beginning exclude each other" eval '[ $rc -eq 2 ]'
run_bw watch --json --interval 1fortnight
check "watch: a bad duration is a usage error" eval '[ $rc -eq 2 ] && has "$err" "--interval"'

start_worker watcher-w1 2
wait_assigned watcher-w1

# --- --json streams the events as they come: start it, then submit 3 jobs
"$bw" watch --json --redis-prefix "$redis_prefix" >"$work/watch.out" 2>"$work/watch.err" &
watch_pid=$!
for _ in $(seq 1 100); do
  grep -q "following" "$work/watch.err" 2>/dev/null && break
  sleep 0.1
done
check "watch --json: says where it follows from" eval 'grep -q "following $t_events (4 partitions) from the end" "$work/watch.err"'

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
check "watch --json: each job's job.finished with its status" eval '[ "$(finished "$work/watch.out")" = "$want" ]'
check "watch --json: one valid JSON object per line" eval \
  '[ "$(grep -c . "$work/watch.out")" -ge 9 ] &&
   [ "$(jq -c "select(type == \"object\" and .schema_version == 1)" "$work/watch.out" | wc -l)" = "$(wc -l <"$work/watch.out")" ]'
check "watch --json: the other events too (job.started, container.started, job.log)" eval \
  '[ "$(jq -r "select(.job_id == \"$ok1\") | .type" "$work/watch.out" | sort -u | grep -cx "job.started\|container.started\|job.log\|job.finished")" = 4 ]'
check "watch --json: SIGINT ends it with 0, quietly" eval \
  '[ $watch_rc -eq 0 ] && [ "$(grep -vc "following" "$work/watch.err")" = 0 ]'

# --- earlier events: --since and --from-beginning (offsets for times), ended by SIGTERM
timeout --preserve-status -s TERM 6 "$bw" watch --json --since 10m >"$work/since.out" 2>"$work/since.err"
rc=$? out=$(head -c 2000 "$work/since.out") err=$(cat "$work/since.err")
check "watch --json --since 10m: the jobs that already finished, exit 0 on SIGTERM" eval \
  '[ $rc -eq 0 ] && [ "$(finished "$work/since.out")" = "$want" ]'
timeout --preserve-status -s TERM 6 "$bw" watch --json --from-beginning >"$work/begin.out" 2>"$work/begin.err"
rc=$? out=$(head -c 2000 "$work/begin.out") err=$(cat "$work/begin.err")
check "watch --json --from-beginning: everything the topic keeps" eval \
  '[ $rc -eq 0 ] && [ "$(wc -l <"$work/begin.out")" = "$(wc -l <"$work/since.out")" ] && has "$err" "from the beginning"'

# --- a reader that goes away (SIGPIPE) ends it quietly with 0
timeout 30 "$bw" watch --json --from-beginning 2>"$work/pipe.err" | head -n 1 >"$work/pipe.out"
rc=${PIPESTATUS[0]} out=$(cat "$work/pipe.out") err=$(cat "$work/pipe.err")
check "watch --json | head -1: exit 0 when the pipe closes" eval \
  '[ $rc -eq 0 ] && [ "$(wc -l <"$work/pipe.out")" = 1 ] && ! grep -qv following "$work/pipe.err"'

# --- the live view, in a terminal (script gives it a pty): q quits
slow=watch-slow-$run_id
produce "$slow" "$(sleep_job "$slow" 8)"
wait_events 1 ".type == \"container.started\" and .job_id == \"$slow\"" 30
tui_cmd="stty cols 150 rows 40; exec $bw watch --redis-prefix $redis_prefix --since 10m --interval 300ms"
{ sleep 3; printf q; sleep 5; } | timeout 20 script -qfec "$tui_cmd" /dev/null >"$work/tui.out" 2>&1
rc=$? out=$(tr -d '\033' <"$work/tui.out" | tail -c 3000) err=""
check "watch: q ends the live view with 0" eval '[ $rc -eq 0 ]'
check "watch: the frame shows the worker (from its heartbeat) and the finished jobs" eval \
  'grep -q "watcher-w1" "$work/tui.out" && grep -q "WORKERS (1, [01] of 2 slots busy)" "$work/tui.out" &&
   grep -q "$bad" "$work/tui.out" && grep -q "user_error" "$work/tui.out" && grep -q "RECENT FINISHES (3" "$work/tui.out"'
check "watch: the frame shows the running job in its phase, and the rate" eval \
  'grep -q "RUNNING (1)" "$work/tui.out" && grep -q "$slow  *bundle.sleep  *run " "$work/tui.out" &&
   grep -q "[0-9] jobs/min\|[0-9]/min" "$work/tui.out"'
check "watch: the alternate screen is entered, then left (terminal restored)" eval \
  'grep -qF $'"'"'\033[?1049h'"'"' "$work/tui.out" && grep -qF $'"'"'\033[?1049l'"'"' "$work/tui.out" &&
   grep -qF $'"'"'\033[?25h'"'"' "$work/tui.out"'
check "watch: no line of the frame is wider than the terminal" eval \
  '[ "$(sed "s/\x1b\[H/\n/g; s/\x1b\[[0-9;?]*[a-zA-Z]//g" "$work/tui.out" | tr "\r" "\n" | awk "length > 150" | wc -l)" = 0 ]'

# --- SIGTERM to the live view: exit 0, and the terminal is restored as well
term_cmd="stty cols 60 rows 15; $bw watch --redis-prefix $redis_prefix & pid=\$!; sleep 2; kill -TERM \$pid; wait \$pid; echo rc=\$?"
timeout 20 script -qfec "$term_cmd" /dev/null </dev/null >"$work/term.out" 2>&1
out=$(tr -d '\033' <"$work/term.out" | tail -c 2000) rc=""
check "watch: SIGTERM ends the live view with 0 and leaves the alternate screen" eval \
  'grep -q "rc=0" "$work/term.out" && grep -qF $'"'"'\033[?1049l'"'"' "$work/term.out" && grep -q "watcher-w1" "$work/term.out"'
check "watch: a narrow terminal gets no line wider than it" eval \
  '[ "$(sed "s/\x1b\[H/\n/g; s/\x1b\[[0-9;?]*[a-zA-Z]//g" "$work/term.out" | tr "\r" "\n" | awk "length > 60" | wc -l)" = 0 ]'
finish

#!/usr/bin/env bash
# Hostile output: a container that printed one line and then a line of 2047
# bytes or more crashed the worker (an over-read of the tail kept for the
# message of a failed job), and under `serve` every worker of the fleet died in
# turn on the same job, leaving its container and data folder behind. Lines of
# 1 to 1,000,000 bytes, after and before other lines, on stdout and stderr (and
# both at once), with and without a final newline, and 100,000 tiny lines,
# through `bundle-worker run`; then the hostile job through two `serve` workers.
# Each run must end with exactly one job.finished, every printed line must be
# reassembled exactly from its job.log events, and nothing may be left behind.
# shellcheck source=tests/e2e/serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"

sock=$STACK_DOCKER_SOCKET
lengths="1 2046 2047 2048 16383 16384 16385 65536 1000000"
max_piece=16384    # JOB_OUTPUT_MAX_LINE: longer lines arrive as pieces marked "cut"
tail_max=2047      # LOG_TAIL_BYTES - 1: the most of the output a message quotes
user_error_prefix='the container exited with 1 (user error)'

engine() { curl -s --unix-socket "$sock" "$@"; }
containers_of() { # the containers the engine has for job ID (any state)
  engine -g "http://d/v1.41/containers/json?all=1&filters={\"label\":[\"io.bundle-worker.job-id=$1\"]}" | jq length
}
data_left() { find "$work/jobs" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# expect_output ID KEY=VALUE...: what the print-lines image prints with that
# environment (its contract, in deploy/local/images/print-lines/run.sh, written
# again here), one file per stream, every line ended by '\n' as the reassembled
# job.log events are: $work/ID.exp.stdout and .stderr. Prints the number of
# job.log events each stream must give (a line of N bytes: ceil(N / 16384) pieces, at least 1).
expect_output() {
  local id=$1
  shift
  env -i PATH="$PATH" "$@" awk -v out="$work/$id.exp.stdout" -v err="$work/$id.exp.stderr" -v max="$max_piece" '
    function line(k, text,    n) {
      f = (mode == "stderr" || (mode == "both" && k % 2 == 0)) ? err : out
      printf "%s\n", text > f
      n = length(text)
      pieces[f] += n > max ? int((n + max - 1) / max) : 1
    }
    BEGIN {
      alpha = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
      mode = ENVIRON["STREAM"] == "" ? "stdout" : ENVIRON["STREAM"]
      before = ("BEFORE" in ENVIRON) ? ENVIRON["BEFORE"] : "before"
      after = ("AFTER" in ENVIRON) ? ENVIRON["AFTER"] : "after"
      n = split(ENVIRON["LINES"], len, " ")
      rep = alpha
      for (i = 1; i <= n; i++) while (length(rep) < len[i] + 62) rep = rep rep
      printf "" > out
      printf "" > err
      k = 0
      if (before != "") line(++k, before)
      for (i = 1; i <= n; i++) {
        line(++k, substr(rep, i % 62 + 1, len[i]))
        if (ENVIRON["BETWEEN"] == "1" && i < n) line(++k, "between-" i)
      }
      for (i = 1; i <= ENVIRON["TINY"] + 0; i++) line(++k, "t" i)
      if (after != "") line(++k, after)
      printf "%d %d\n", pieces[out], pieces[err]
    }'
}

# tail_verdict EVENTS-FILE: checks the message of a user_error against the job.log
# events, in the order the worker saw them (stdout and stderr interleave as they
# came). log_tail keeps the longest run of whole recent lines that fits in 2047
# bytes, joined by '\n', or only the end of a last line that alone does not fit.
# Prints "whole lines" when the message quotes exactly that (the pieces of a
# cut line count as the one line they are); anything else: "MISMATCH" with the
# lengths, and "last piece only" when it quotes just a line's last piece (the
# bug this check was written for).
tail_verdict() {
  jq -c 'select(.type == "job.log") | [.stream, .line, (.cut // false)]' "$1" | tail -n 5000 |
    jq -s -r --arg msg "$(jq -r 'select(.type == "job.finished") | .message' "$1")" \
      --arg prefix "$user_error_prefix" --argjson cap "$tail_max" '
      def tail_of(units):
        if (units | length) == 0 then ""
        elif (units[-1] | length) >= $cap then units[-1][-$cap:]
        else reduce (units | reverse)[] as $u ({t: null, full: false};
            if .full then .
            elif .t == null then .t = $u
            elif (.t | length) + 1 + ($u | length) <= $cap then .t = $u + "\n" + .t
            else .full = true end) | .t
        end;
      def message(t): $prefix + (if t == "" then "" else ": " + t end);
      # whole lines: the pieces of each stream joined, in the order their last piece came
      (reduce .[] as $e ({pend: {}, lines: []};
        .pend[$e[0]] = ((.pend[$e[0]] // "") + $e[1])
        | if $e[2] then . else .lines += [.pend[$e[0]]] | .pend[$e[0]] = "" end) | .lines) as $lines
      | [.[] | .[1]] as $pieces
      | if $msg == message(tail_of($lines)) then "whole lines"
        elif $msg == message(tail_of($pieces)) then "last piece only"
        else "MISMATCH: message of \($msg | length) chars, whole lines give \(message(tail_of($lines)) | length), pieces \(message(tail_of($pieces)) | length)"
        end'
}

# check_events LABEL ID STATUS PIECES EVENTS-FILE [LATER]: the checks every job
# gets, whether its events came from `run` (stdout) or `serve` (the events
# topic). LATER: a type that may follow job.finished (serve: job.duplicate, the
# answer to a redelivered request, docs/service.md).
check_events() {
  local label=$1 id=$2 want=$3 pieces=$4 file=$5 later=${6:-} s n types want_code=0
  [ "$want" = user_error ] && want_code=1
  out=$(jq -c 'select(.type == "job.finished") | .message |= .[0:300]' "$file" 2>&1)
  types=$(jq -r '"\(.type) \(.job_id)"' "$file" 2>/dev/null) || types="not JSON"
  every_line_is_a_json_event_of() { [ "$types" != "not JSON" ] && ! grep -qv " $id\$" <<<"$types"; }
  check "$label: every line is a JSON event of $id" every_line_is_a_json_event_of
  exactly_one_job_started_and_one_job() {
    [ "$(grep -c "^job.finished " <<<"$types")" = 1 ] && [ "$(grep -c "^job.started " <<<"$types")" = 1 ] &&
    ! awk "f; /^job.finished /{f=1}" <<<"$types" | grep -qv "^${later:-none} "
  }
  check "$label: exactly one job.started and one job.finished, the last event${later:+ (but for $later)}" exactly_one_job_started_and_one_job
  status_exit_code() { [ "$(jq -r "select(.type == \"job.finished\") | \"\(.status) \(.exit_code)\"" "$file")" = "$want $want_code" ]; }
  check "$label: status $want, exit_code $want_code" status_exit_code
  within_the_log_budget() { ! grep -q "^job.log.trimmed " <<<"$types" && [ "$(jq -r "select(.type == \"job.finished\") | .log_bytes_dropped" "$file")" = 0 ]; }
  check "$label: within the log budget (no job.log.trimmed, nothing dropped)" within_the_log_budget
  no_job_log_piece_over_bytes_every_cut() { [ -z "$(jq -c "select(.type == \"job.log\" and ((.line | length) > $max_piece or (.cut == true and (.line | length) != $max_piece))) | [.stream, (.line | length), .cut]" "$file" | head -3)" ]; }
  check "$label: no job.log piece over $max_piece bytes, every cut piece exactly $max_piece" no_job_log_piece_over_bytes_every_cut
  local want_pieces
  # shellcheck disable=SC2086 # the pieces are words on purpose
  set -- $pieces
  for s in stdout stderr; do
    want_pieces=$1
    jq -j --arg s "$s" 'select(.type == "job.log" and .stream == $s) | .line + (if .cut then "" else "\n" end)' \
      "$file" >"$work/$id.got.$s"
    n=$(jq -c --arg s "$s" 'select(.type == "job.log" and .stream == $s)' "$file" | wc -l)
    every_line_reassembled_exactly_in_job() { cmp "$work/$id.exp.$s" "$work/$id.got.$s" >&2 && [ "$n" = "$want_pieces" ]; }
    check "$label: $s: every line reassembled exactly ($(wc -l <"$work/$id.exp.$s") lines, $(wc -c <"$work/$id.exp.$s") bytes), in $want_pieces job.log events (got $n)" every_line_reassembled_exactly_in_job
    shift
  done
  if [ "$want" = user_error ]; then
    local verdict
    verdict=$(tail_verdict "$file")
    the_message_quotes_the_end_of_the_output() { [ "$verdict" = "whole lines" ]; }
    check "$label: the message quotes the end of the output, at most $tail_max bytes ($verdict)" the_message_quotes_the_end_of_the_output
  fi
}

# hostile_run NAME STATUS KEY=VALUE...: job hostile-NAME-RUN of bundle.print-lines
# with that environment through `bundle-worker run`, then every check.
hostile_run() {
  local name=$1 want=$2 id=hostile-$1-$run_id want_rc pieces
  shift 2
  case $want in success) want_rc=0 ;; user_error) want_rc=1 ;; esac
  jq -n --arg id "$id" '{job_id: $id, component: "bundle.print-lines",
    env: ([$ARGS.positional[] | capture("^(?<k>[^=]+)=(?<v>.*)$") | {(.k): .v}] | add // {})}' \
    --args "$@" >"$work/$id.json"
  pieces=$(expect_output "$id" "$@")
  "$bw" run "$work/$id.json" >"$work/$id.out" 2>"$work/$id.err"
  rc=$?
  out=$(jq -c 'select(.type == "job.finished") | .message |= .[0:300]' "$work/$id.out" 2>&1)
  err=$(grep -v '"level":"\(debug\|info\)"' "$work/$id.err" | tail -c 1500)
  bundle_worker_run_exits() { [ "$rc" -eq "$want_rc" ] && ! grep -q "AddressSanitizer\|runtime error:" "$work/$id.err"; }
  check "$name: bundle-worker run exits $want_rc (docs/cli.md: $want)" bundle_worker_run_exits
  check_events "$name" "$id" "$want" "$pieces" "$work/$id.out"
  no_container_and_no_data_folder_left() { [ "$(containers_of "$id")" = 0 ] && [ "$(data_left)" = 0 ]; }
  check "$name: no container and no data folder left" no_container_and_no_data_folder_left
  rm -f "$work/$id".{out,got.stdout,got.stderr,exp.stdout,exp.stderr}
}

# --- bundle-worker run: the lengths grouped, one run per stream and final newline.
# A run prints every length between short lines: the tail, the line splitter and
# the budget see each length after and before other lines, and one run costs
# about as much as a run printing a single line (~0.3 s), so 6 runs instead of
# 72 (9 lengths x 2 streams x 2 newline states x after/before). On one stream,
# "between-I" lines separate the lengths; with STREAM=both lines alternate
# between stdout and stderr, and the lengths are printed twice (an odd count)
# so that each length comes once on each stream, interleaved with the other.
# Without a final newline the last line is the 1,000,000-byte one (and on
# stderr, for both, the 65536-byte one), flushed at the end of the stream,
# and the job exits 1: its message quotes that end (the path of the crash).
for stream in stdout stderr both; do
  if [ "$stream" = both ]; then set -- LINES="$lengths $lengths"; else set -- LINES="$lengths" BETWEEN=1; fi
  hostile_run "$stream-nl" success STREAM="$stream" BEFORE=before AFTER=after FINAL_NEWLINE=1 "$@"
  hostile_run "$stream-nonl" user_error STREAM="$stream" BEFORE=before AFTER= FINAL_NEWLINE=0 EXIT_CODE=1 "$@"
done

# --- every length as the very last line, without a newline, of a failed job
# (exit 1: the message quotes the tail). One short line, then the length twice,
# alternating streams: it ends both stdout and stderr unterminated. The crash
# needed exactly this: one line, then a long one, then the message.
for len in $lengths; do
  hostile_run "last-$len" user_error STREAM=both BEFORE=short LINES="$len $len" AFTER= FINAL_NEWLINE=0 EXIT_CODE=1
done

# --- 100,000 tiny lines on both streams, the last unterminated, exit 1
hostile_run tiny user_error STREAM=both TINY=100000 FINAL_NEWLINE=0 EXIT_CODE=1

# --- serve: the hostile job through two workers, then a normal job on every partition
# A worker that joins a cooperative group logs an empty assignment first; its
# partitions come with a second rebalance, up to a heartbeat (3 s) later. Jobs
# sent before that can have their offset commits refused ("generation id is
# not valid"), be read again and answered with job.duplicate: so wait until
# both workers own partitions.
wait_owns() { # wait_owns NAME: until the worker logged a non-empty assignment (or 30 s)
  local _
  for _ in $(seq 1 300); do
    grep -q '"partitions assigned","count":"[1-9]' "$work/$1.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "worker $1 got no partitions: $(tail -5 "$work/$1.log")" >&2
  return 1
}
start_worker hw1 2
start_worker hw2 2
wait_owns hw1 && wait_owns hw2
hid=hostile-serve-$run_id
hostile_env=(STREAM=stdout BEFORE=short LINES="2047 1000000" AFTER= EXIT_CODE=1)
pieces=$(expect_output "$hid" "${hostile_env[@]}")
produce "$hid" "$(jq -cn --arg id "$hid" '{job_id: $id, component: "bundle.print-lines",
  env: ([$ARGS.positional[] | capture("^(?<k>[^=]+)=(?<v>.*)$") | {(.k): .v}] | add)}' --args "${hostile_env[@]}")"
wait_events 1 ".type == \"job.finished\" and .job_id == \"$hid\"" 90
serve_both_workers_alive_after_the() { kill -0 "${worker_pids[hw1]}" 2>/dev/null && kill -0 "${worker_pids[hw2]}" 2>/dev/null; }
check "serve: both workers alive after the hostile job" serve_both_workers_alive_after_the
# One normal job on each of the 4 partitions (serve_lib.sh creates 4): each
# worker owns some, so both must take one.
for p in 0 1 2 3; do
  printf '%s|%s\n' "hostile-next-$p-$run_id" \
    "$(jq -cn --arg id "hostile-next-$p-$run_id" '{job_id: $id, component: "bundle.print-lines", env: {LINES: "100"}}')" |
    kcat -P -b "$broker" -t "$t_runs" -K '|' -p "$p" 2>/dev/null
done
wait_events 4 ".type == \"job.finished\" and (.job_id | startswith(\"hostile-next-\"))" 90
events >"$work/serve.events"
jq -c --arg id "$hid" 'select(.job_id == $id)' "$work/serve.events" >"$work/$hid.out"
err=$(grep -hv '"level":"\(debug\|info\)"' "$work/hw1.log" "$work/hw2.log" | tail -c 1500)
# Read after the next jobs finished: a crashed worker's job would have run again by now.
check_events "serve" "$hid" user_error "$pieces" "$work/$hid.out" job.duplicate
out=$(jq -c 'select(.type == "job.finished" and (.job_id | startswith("hostile-next-"))) | [.job_id, .worker, .status]' "$work/serve.events")
serve_the_next_4_jobs_succeed_both() { [ "$(grep -c "\"success\"" <<<"$out")" = 4 ] && [ "$(jq -r ".[1]" <<<"$out" | sort -u | tr "\n" " ")" = "hw1 hw2 " ]; }
check "serve: the next 4 jobs succeed, both workers ran some" serve_the_next_4_jobs_succeed_both
kill -TERM "${worker_pids[hw1]}" "${worker_pids[hw2]}"
wait "${worker_pids[hw1]}"
rc_1=$?
wait "${worker_pids[hw2]}"
rc_2=$?
unset 'worker_pids[hw1]' 'worker_pids[hw2]'
serve_both_workers_exit_0_on_sigterm_no() { [ "$rc_1" -eq 0 ] && [ "$rc_2" -eq 0 ] && ! grep -q "\"level\":\"error\"\|AddressSanitizer\|runtime error:" "$work/hw1.log" "$work/hw2.log"; }
check "serve: both workers exit 0 on SIGTERM (hw1 $rc_1, hw2 $rc_2), no error logged, no sanitizer report" serve_both_workers_exit_0_on_sigterm_no
nothing_left() {
  local id
  for id in "$hid" hostile-next-{0,1,2,3}-"$run_id"; do
    [ "$(containers_of "$id")" = 0 ] || return 1
  done
  [ "$(data_left)" = 0 ]
}
check "serve: no container and no data folder left" nothing_left
finish

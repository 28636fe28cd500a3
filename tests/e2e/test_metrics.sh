#!/usr/bin/env bash
# `bundle-worker serve`'s /metrics, /healthz and /readyz against the real
# Kafka, Redis and Docker Engine: the counters scraped must match the jobs run.
# shellcheck source=tests/e2e/serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"

# The worker picks a free port (0) and logs it: no race for a port number.
start_worker m1 2 --set metrics.listen=127.0.0.1:0 --set jobs.log.max.bytes=65536
port=
for _ in $(seq 1 100); do
  port=$(jq -r 'select(.msg == "metrics and probes listening") | .port' "$work/m1.log" 2>/dev/null)
  [ -n "$port" ] && break
  sleep 0.1
done
the_worker_logs_the_metrics_port() { [ -n "$port" ]; }
check "the worker logs the metrics port" the_worker_logs_the_metrics_port
base=http://127.0.0.1:$port

scrape() { curl -fsS "$base/metrics" >"$work/metrics.txt"; }
# The value of one sample, its name and labels exactly as rendered.
sample() { awk -v n="$1" '$1 == n {print $2; found = 1} END {if (!found) print "absent"}' "$work/metrics.txt"; }
status_of() { curl -s -o "$work/body" -w '%{http_code}' "$base$1"; }

healthz_200_while_the_process_runs() { [ "$(status_of /healthz)" = 200 ]; }
check "/healthz: 200 while the process runs" healthz_200_while_the_process_runs
wait_assigned m1
ready=
for _ in $(seq 1 150); do
  ready=$(status_of /readyz)
  [ "$ready" = 200 ] && break
  sleep 0.1
done
readyz_200_once_in_the_group() { [ "$ready" = 200 ]; }
check "/readyz: 200 once in the group (last: $ready $(cat "$work/body"))" readyz_200_once_in_the_group
any_other_path_404() { [ "$(status_of /nope)" = 404 ]; }
check "any other path: 404" any_other_path_404
post_405() { [ "$(curl -s -o /dev/null -w "%{http_code}" -X POST "$base/metrics")" = 405 ]; }
check "POST: 405" post_405

# --- known outcomes: 3 successes (one printing past the log budget), 1 user
# error, 1 request for the DLQ, then a redelivery of a finished job
produce true-1 "$(jq -cn --arg id "true-1-$run_id" '{job_id: $id, component: "bundle.true"}')"
produce true-2 "$(jq -cn --arg id "true-2-$run_id" '{job_id: $id, component: "bundle.true"}')"
produce flood-1 "$(jq -cn --arg id "flood-1-$run_id" \
  '{job_id: $id, component: "bundle.log-flood", env: {LOG_BYTES: "200000"}}')"
produce exit-1 "$(jq -cn --arg id "exit-1-$run_id" '{job_id: $id, component: "bundle.exit", env: {EXIT_CODE: "1"}}')"
printf 'not json' >"$work/garbage.bin"
produce_raw bad-1 "$work/garbage.bin"
wait_events 4 '.type == "job.finished"' 120
for _ in $(seq 1 30); do [ "$(dlq | wc -l)" -ge 1 ] && break; sleep 1; done
produce true-1 "$(jq -cn --arg id "true-1-$run_id" '{job_id: $id, component: "bundle.true"}')"
wait_events 1 '.type == "job.duplicate"' 60

# Counters move when a slot is reaped (after the broker acknowledged the
# event): wait until the scrape shows every job, then compare exactly.
for _ in $(seq 1 50); do
  scrape
  [ "$(sample bundle_worker_duplicates_total)" = 1 ] &&
    [ "$(sample 'bundle_worker_jobs_finished_total{status="success"}')" = 3 ] &&
    [ "$(sample 'bundle_worker_jobs_finished_total{status="user_error"}')" = 1 ] &&
    [ "$(sample bundle_worker_slots_busy)" = 0 ] && break
  sleep 0.2
done
ev=$(events)
metrics_every_line_is_a_comment_or_name() { ! grep -vE "^(# (HELP|TYPE) [a-z_]+ .+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eInfNa]+)$" "$work/metrics.txt"; }
check "/metrics: every line is a comment or 'name{labels} value'" metrics_every_line_is_a_comment_or_name
metrics_the_content_type_of_the_text() { [ "$(curl -s -o /dev/null -w "%{content_type}" "$base/metrics")" = "text/plain; version=0.0.4; charset=utf-8" ]; }
check "/metrics: the content type of the text format 0.0.4" metrics_the_content_type_of_the_text
jobs_started_4() { [ "$(sample bundle_worker_jobs_started_total)" = 4 ]; }
check "jobs started: 4" jobs_started_4
jobs_finished_3_success() { [ "$(sample "bundle_worker_jobs_finished_total{status=\"success\"}")" = 3 ]; }
check "jobs finished: 3 success" jobs_finished_3_success
jobs_finished_1_user_error() { [ "$(sample "bundle_worker_jobs_finished_total{status=\"user_error\"}")" = 1 ]; }
check "jobs finished: 1 user_error" jobs_finished_1_user_error
others=$(awk '/^bundle_worker_jobs_finished_total/ && !/"success"|"user_error"/ {s += $2} END {print s + 0}' "$work/metrics.txt")
jobs_finished_no_other_status() { [ "$others" = 0 ]; }
check "jobs finished: no other status ($others)" jobs_finished_no_other_status
dead_letters_1() { [ "$(sample bundle_worker_dead_letters_total)" = 1 ]; }
check "dead letters: 1" dead_letters_1
duplicates_1() { [ "$(sample bundle_worker_duplicates_total)" = 1 ]; }
check "duplicates: 1" duplicates_1
job_durations_4_observations_summing_to() {
  [ "$(sample bundle_worker_job_duration_seconds_count)" = 4 ] &&
  [ "$(sample "bundle_worker_job_duration_seconds_bucket{le=\"+Inf\"}")" = 4 ] &&
  awk -v m="$(sample bundle_worker_job_duration_seconds_sum)" \
    -v e="$(jq -s "[.[] | select(.type == \"job.finished\") | .duration_ms] | add / 1000" <<<"$ev")" \
    "BEGIN {d = m - e; exit !(d < 0.04 && d > -0.04)}"
}
check "job durations: 4 observations, summing to the events' (within 10 ms per job)" job_durations_4_observations_summing_to
phase_durations_each_of_the_4_jobs_ran() {
  [ "$(sample "bundle_worker_job_phase_duration_seconds_count{phase=\"run\"}")" = 4 ] &&
  [ "$(sample "bundle_worker_job_phase_duration_seconds_bucket{phase=\"run\",le=\"+Inf\"}")" = 4 ]
}
check "phase durations: each of the 4 jobs ran" phase_durations_each_of_the_4_jobs_ran
pulled=$(jq -s '[.[] | select(.type == "image.pulled" and .cached == false)] | length' <<<"$ev")
cached=$(jq -s '[.[] | select(.type == "image.pulled" and .cached == true)] | length' <<<"$ev")
image_pulls_and_cache_hits_match_the() {
  [ "$(sample bundle_worker_image_pulls_total)" = "$pulled" ] &&
  [ "$(sample bundle_worker_image_cache_hits_total)" = "$cached" ] && [ $((pulled + cached)) = 4 ]
}
check "image pulls ($pulled) and cache hits ($cached) match the image.pulled events" image_pulls_and_cache_hits_match_the
log_bytes=$(jq -s '[.[] | select(.type == "job.finished") | .log_bytes // 0] | add' <<<"$ev")
dropped=$(jq -s '[.[] | select(.type == "job.finished") | .log_bytes_dropped // 0] | add' <<<"$ev")
log_bytes_and_dropped_match_job_finished() {
  [ "$(sample bundle_worker_job_log_bytes_total)" = "$log_bytes" ] &&
  [ "$(sample bundle_worker_job_log_dropped_bytes_total)" = "$dropped" ] && [ "$dropped" -gt 0 ]
}
check "log bytes ($log_bytes) and dropped ($dropped) match job.finished" log_bytes_and_dropped_match_job_finished
slots_2_none_busy() { [ "$(sample bundle_worker_slots)" = 2 ] && [ "$(sample bundle_worker_slots_busy)" = 0 ]; }
check "slots: 2, none busy" slots_2_none_busy
partitions_assigned_4() { [ "$(sample bundle_worker_partitions_assigned)" = 4 ]; }
check "partitions assigned: 4" partitions_assigned_4
lag_rows=$(grep -c "^bundle_worker_consumer_lag_messages{topic=\"$t_runs\",partition=\"[0-3]\"} 0$" "$work/metrics.txt")
consumer_lag_0_on_each_of_the_4() { [ "$lag_rows" = 4 ]; }
check "consumer lag: 0 on each of the 4 partitions ($lag_rows series)" consumer_lag_0_on_each_of_the_4

# --- the lag while requests wait: 1 slot, paused behind a long job
start_worker m2 1 --set metrics.listen=127.0.0.1:0 --set worker.prefetch=0 \
  --set "kafka.group.id=lag-$run_id"
for _ in $(seq 1 100); do
  port2=$(jq -r 'select(.msg == "metrics and probes listening") | .port' "$work/m2.log" 2>/dev/null)
  [ -n "$port2" ] && break
  sleep 0.1
done
kill -TERM "${worker_pids[m1]}"
wait "${worker_pids[m1]}"
wait_assigned m2
# Everything produced so far is read again by the new group; it all ends as duplicates or the DLQ.
# One key, so one partition: one request runs, the next may sit in the slot's
# queue (taken before the pause), the other two wait in Kafka as lag.
for i in 1 2 3 4; do produce "lag" "$(sleep_job "lag-$i-$run_id" 20)"; done
lag=
for _ in $(seq 1 30); do
  lag=$(curl -fsS "http://127.0.0.1:$port2/metrics" |
    awk '/^bundle_worker_consumer_lag_messages/ {s += $2} END {print s + 0}')
  [ "$lag" -ge 2 ] && break
  sleep 1
done
consumer_lag_the_requests_waiting_behind() { [ "$lag" -ge 2 ]; }
check "consumer lag: the requests waiting behind a busy slot show ($lag)" consumer_lag_the_requests_waiting_behind

# --- draining: not ready any more, still alive
kill -TERM "${worker_pids[m2]}"
sleep 0.5
r2=$(curl -s -o "$work/body2" -w '%{http_code}' "http://127.0.0.1:$port2/readyz")
draining_readyz_503_and_why() { [ "$r2" = 503 ] && grep -q "^draining" "$work/body2"; }
check "draining: /readyz 503 and why ($(cat "$work/body2"))" draining_readyz_503_and_why
draining_healthz_still_200() { [ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$port2/healthz")" = 200 ]; }
check "draining: /healthz still 200" draining_healthz_still_200
kill -TERM "${worker_pids[m2]}" # a second signal stops its job at once
wait "${worker_pids[m2]}"

# --- start-up errors: the port taken, a malformed address
python3 -c 'import socket,time,sys; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)' >"$work/busy-port" &
holder=$!
for _ in $(seq 1 50); do [ -s "$work/busy-port" ] && break; sleep 0.1; done
busy=$(cat "$work/busy-port")
serve_briefly() { # a worker that should not start: never let one run on
  timeout 60 "$bw" serve "$@" >"$work/out" 2>"$work/err"
  rc=$?
  out=$(cat "$work/out")
  err=$(cat "$work/err")
}
serve_briefly --set metrics.listen="127.0.0.1:$busy"
a_port_in_use_exit_1_and_a_clear_error() { [ "$rc" -eq 1 ] && has "$err" "bundle-worker serve: metrics.listen: cannot listen on 127.0.0.1:$busy: Address already in use"; }
check "a port in use: exit 1 and a clear error" a_port_in_use_exit_1_and_a_clear_error
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
serve_briefly --set metrics.listen=9464
a_malformed_address_exit_2_naming_the() { [ "$rc" -eq 2 ] && has "$err" "metrics.listen: expected HOST:PORT"; }
check "a malformed address: exit 2 naming the key" a_malformed_address_exit_2_naming_the

finish

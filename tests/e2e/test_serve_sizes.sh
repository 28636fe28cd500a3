#!/usr/bin/env bash
# Requests at and above the producer's and the broker's limits (issue 10.2):
# each goes to the DLQ (cut when it cannot be copied whole, with its size,
# sha256 and source), gets a job.finished, and no offset is left behind:
# after a clean drain a new worker of the group finds nothing to read again.
# The runs topic takes records of up to 4 MiB; one DLQ topic has the broker's
# default limit, another only 200 kB (so a cut copy is refused by the broker
# and the worker falls back to a copy without the request).
# shellcheck source=tests/e2e/serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
big_runs=bigruns-$run_id
small_dlq=smalldlq-$run_id
"$topics_tool" "$broker" create 1 "$big_runs:max.message.bytes=4194304" \
  "$small_dlq:max.message.bytes=200000" || exit 1
trap '"$topics_tool" "$broker" delete "$big_runs" "$small_dlq" >/dev/null 2>&1; serve_cleanup' EXIT
export BUNDLE_WORKER_TOPIC_RUNS=$big_runs
export BUNDLE_WORKER_METRICS_LISTEN=127.0.0.1:0

# garbage SIZE: that many bytes that are not JSON, and do not compress (the
# producer compresses batches: a run of one byte would fit any limit)
garbage() { head -c "$1" /dev/urandom | base64 -w 0 | head -c "$1"; }
produce_big() { # produce_big KEY FILE
  kcat -P -X message.max.bytes=8000000 -b "$broker" -t "$big_runs" -k "$1" "$2" 2>/dev/null
}
produce_json() { # produce_json KEY JSON
  printf '%s|%s\n' "$1" "$2" | kcat -P -b "$broker" -t "$big_runs" -K '|' 2>/dev/null
}
dlq_of() { kcat -C -b "$broker" -t "$1" -o beginning -e -q -f '%h\t%S\n' 2>/dev/null; }
header() { # header NAME LINE: of a "%h\t%S" line of kcat
  tr ',' '\n' <<<"${2%%$'\t'*}" | sed -n "s/^$1=//p" | head -n 1
}

sizes=(999000 1000000 1048576 1048577 2000000)
for s in "${sizes[@]}"; do
  garbage "$s" >"$work/req-$s"
  sha[s]=$(sha256sum "$work/req-$s" | cut -d' ' -f1)
done

# --- the broker's default DLQ limit: every request copied whole or cut
start_worker s1 1
wait_assigned s1
for s in "${sizes[@]}"; do produce_big "size-$s" "$work/req-$s"; done
produce_json "after-$run_id" "$(jq -cn --arg id "after-$run_id" '{job_id: $id, component: "bundle.exit", env: {EXIT_CODE: "0"}}')"
wait_events 1 ".type == \"job.finished\" and .job_id == \"after-$run_id\"" 120
dlq_of "$t_dlq" >"$work/dlq1"
one_record_each() {
  local s line
  for s in "${sizes[@]}"; do
    line=$(grep -F "size-$s" "$work/dlq1" | head -n 1)
    [ -z "$line" ] && line=$(grep -F "dlq.original.bytes=$s" "$work/dlq1" | head -n 1)
    if [ -z "$line" ]; then
      echo "  no DLQ record for the $s-byte request"
      return 1
    fi
  done
  [ "$(grep -c . "$work/dlq1")" = "${#sizes[@]}" ]
}
check "default DLQ limit: one DLQ record per oversized request ($(grep -c . "$work/dlq1") records)" one_record_each
cut_copies_say_what_they_were() {
  local line s ok=0
  while IFS= read -r line; do
    s=$(header dlq.original.bytes "$line")
    [ -z "$s" ] && continue
    [ "$(header dlq.truncated "$line")" = true ] || return 1
    [ "$(header dlq.original.sha256 "$line")" = "${sha[$s]}" ] || return 1
    [ -n "$(header dlq.source.offset "$line")" ] || return 1
    [ "${line##*$'\t'}" -lt 1000000 ] || return 1 # the copy's value size
    ok=$((ok + 1))
  done <"$work/dlq1"
  [ "$ok" -ge 4 ]
}
check "cut copies carry dlq.truncated, the original size and sha256 and the source" cut_copies_say_what_they_were
reasons_right() {
  grep -q "dlq.reason=request: 1048577 bytes, more than jobs.request.max.bytes" "$work/dlq1" &&
    grep -q "dlq.reason=request: not valid JSON" "$work/dlq1"
}
check "the reasons: over jobs.request.max.bytes (not parsed), or not JSON" reasons_right
the_job_after_them_ran() { [ "$(events | jq -r "select(.type == \"job.finished\" and .job_id == \"after-$run_id\") | .status")" = success ]; }
check "the job after them ran (nothing stalled)" the_job_after_them_ran
every_oversized_request_has_a_job() { [ "$(events | jq -c "select(.type == \"job.finished\" and .status == \"rejected\")" | wc -l)" -ge ${#sizes[@]} ]; }
check "every oversized request has a job.finished (rejected)" every_oversized_request_has_a_job
port=$(grep "metrics and probes listening" "$work/s1.log" | jq -r .port | head -n 1)
metrics=$(curl -s "http://127.0.0.1:$port/metrics")
metrics_count_the_cut_copies() { grep -q "^bundle_worker_dead_letters_truncated_total [4-9]" <<<"$metrics"; }
check "metrics count the cut copies" metrics_count_the_cut_copies
kill -TERM "${worker_pids[s1]}"
wait "${worker_pids[s1]}"
unset 'worker_pids[s1]'

# --- a DLQ topic that takes only 200 kB: the cut copy is refused by the
# broker; the worker falls back to a copy without the request
export BUNDLE_WORKER_TOPIC_DLQ=$small_dlq
export BUNDLE_WORKER_KAFKA_GROUP_ID=group2-$run_id
start_worker s2 1
wait_assigned s2
# s2 meets the job after them again (a new group reads from the start): it
# answers job.duplicate, or sends job.finished again when s1's delivery was
# not yet confirmed in the outbox; either way, s2 got past the big ones
wait_events 1 ".job_id == \"after-$run_id\" and .worker == \"s2\" and (.type == \"job.duplicate\" or .type == \"job.finished\")" 120
dlq_of "$small_dlq" >"$work/dlq2"
minimal_copies() {
  [ "$(grep -c . "$work/dlq2")" = "${#sizes[@]}" ] &&
    [ "$(awk -F'\t' '$2 == 0' "$work/dlq2" | grep -c .)" -ge 4 ]
}
cut -c1-300 "$work/dlq2" | sed 's/^/  | /'
check "small DLQ topic: the refused copies fall back to the headers alone ($(grep -c . "$work/dlq2") records)" minimal_copies
small_dlq_topic_the_worker_logged_the() { grep -q "trying a smaller one" "$work/s2.log"; }
check "small DLQ topic: the worker logged the fallback" small_dlq_topic_the_worker_logged_the
kill -TERM "${worker_pids[s2]}"
wait "${worker_pids[s2]}"
unset 'worker_pids[s2]'

# --- nothing left behind: a new worker of the first group reads nothing again
export BUNDLE_WORKER_TOPIC_DLQ=$t_dlq
export BUNDLE_WORKER_KAFKA_GROUP_ID=group-$run_id
before=$(dlq_of "$t_dlq" | grep -c .)
start_worker s3 1
wait_assigned s3
sleep 5
after=$(dlq_of "$t_dlq" | grep -c .)
after_a_clean_drain_no_offset_was_left() { [ "$before" = "$after" ]; }
check "after a clean drain no offset was left behind (DLQ records $before, then $after)" after_a_clean_drain_no_offset_was_left
finish

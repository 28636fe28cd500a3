#!/usr/bin/env bash
# `bundle-worker submit` (and --wait) against a worker on the real stack.
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"

start_worker s1 2
wait_assigned s1
jq -cn --arg id "sub-ok-$run_id" '{job_id: $id, component: "bundle.exit"}' >"$work/ok.json"
jq -cn --arg id "sub-fail-$run_id" '{job_id: $id, component: "bundle.exit", env: {EXIT_CODE: "1"}}' >"$work/fail.json"

run_bw submit --wait --timeout 120 "$work/ok.json"
check "submit --wait: one successful job, exit 0, its line" eval \
  '[ $rc -eq 0 ] && has "$out" "submitted sub-ok-$run_id" && has "$out" "sub-ok-$run_id  success  exit 0"'

jq -c '.job_id += "-2"' "$work/ok.json" >"$work/ok2.json"
run_bw submit --wait --timeout 120 "$work/ok2.json" "$work/fail.json"
check "submit --wait: a failed job makes the exit status 1, one line per job" eval \
  '[ $rc -eq 1 ] && has "$out" "sub-ok-$run_id-2  success" && has "$out" "sub-fail-$run_id  user_error  exit 1"'

printf '{"job_id": "sub-bad-%s", "component": "bundle.exit", "limits": {"memory": -3}}' "$run_id" >"$work/bad.json"
run_bw submit "$work/ok.json" "$work/bad.json"
check "submit: an invalid request is refused with its path, nothing is sent" eval \
  '[ $rc -eq 3 ] && has "$err" "limits.memory: expected bytes" && ! has "$out" submitted'

run_bw submit --wait --timeout 60 - <"$work/ok.json"
check "submit -: a resubmitted finished job reports its earlier end (job.duplicate)" eval \
  '[ $rc -eq 0 ] && has "$out" "sub-ok-$run_id  success"'

run_bw submit --set kafka.bootstrap.servers=127.0.0.1:1 --set kafka.message.timeout.ms=2000 "$work/ok.json"
check "submit: an unreachable broker is a clear error" eval '[ $rc -eq 8 ] && has "$err" "not delivered"'
finish

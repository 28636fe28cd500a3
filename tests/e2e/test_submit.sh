#!/usr/bin/env bash
# `bundle-worker submit` (and --wait) against a worker on the real stack.
# shellcheck source=tests/e2e/serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"

start_worker s1 2
wait_assigned s1
jq -cn --arg id "sub-ok-$run_id" '{job_id: $id, component: "bundle.exit"}' >"$work/ok.json"
jq -cn --arg id "sub-fail-$run_id" '{job_id: $id, component: "bundle.exit", env: {EXIT_CODE: "1"}}' >"$work/fail.json"

run_bw submit --wait --timeout 120 "$work/ok.json"
submit_wait_one_successful_job_exit_0() { [ "$rc" -eq 0 ] && has "$out" "submitted sub-ok-$run_id" && has "$out" "sub-ok-$run_id  success  exit 0"; }
check "submit --wait: one successful job, exit 0, its line" submit_wait_one_successful_job_exit_0

jq -c '.job_id += "-2"' "$work/ok.json" >"$work/ok2.json"
run_bw submit --wait --timeout 120 "$work/ok2.json" "$work/fail.json"
submit_wait_a_failed_job_makes_the_exit() { [ "$rc" -eq 1 ] && has "$out" "sub-ok-$run_id-2  success" && has "$out" "sub-fail-$run_id  user_error  exit 1"; }
check "submit --wait: a failed job makes the exit status 1, one line per job" submit_wait_a_failed_job_makes_the_exit

printf '{"job_id": "sub-bad-%s", "component": "bundle.exit", "limits": {"memory": -3}}' "$run_id" >"$work/bad.json"
run_bw submit "$work/ok.json" "$work/bad.json"
submit_an_invalid_request_is_refused() { [ "$rc" -eq 3 ] && has "$err" "limits.memory: expected bytes" && ! has "$out" submitted; }
check "submit: an invalid request is refused with its path, nothing is sent" submit_an_invalid_request_is_refused

run_bw submit --wait --timeout 60 - <"$work/ok.json"
submit_a_resubmitted_finished_job() { [ "$rc" -eq 0 ] && has "$out" "sub-ok-$run_id  success"; }
check "submit -: a resubmitted finished job reports its earlier end (job.duplicate)" submit_a_resubmitted_finished_job

run_bw submit --set kafka.bootstrap.servers=127.0.0.1:1 --set kafka.message.timeout.ms=2000 "$work/ok.json"
submit_an_unreachable_broker_is_a_clear() { [ "$rc" -eq 8 ] && has "$err" "not delivered"; }
check "submit: an unreachable broker is a clear error" submit_an_unreachable_broker_is_a_clear
# A request larger than the producer takes (message.max.bytes) is refused
# (exit 3, the size said), not reported as a broker that is down.
jq --arg pad "$(head -c 6000 /dev/zero | tr '\0' x)" '.config.parameters.pad = $pad | .job_id = "big-1"' "$work/ok.json" >"$work/big.json"
run_bw submit --set kafka.message.max.bytes=4096 "$work/big.json"
submit_too_large_for_kafka_is_refused() { [ "$rc" -eq 3 ] && has "$err" "too large" && has "$err" "big-1"; }
check "submit: a request too large for Kafka is refused (exit 3), not unavailable" submit_too_large_for_kafka_is_refused
finish

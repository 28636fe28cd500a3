#!/usr/bin/env bash
# `bundle-worker run` against the real Docker Engine and the local registry:
# every job status, pulls (cached, uncached, private), rejections, log flood,
# masking, refused symlinks, input checksums, timeouts, and no leftovers.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_stack STACK_DOCKER_SOCKET STACK_IMAGE_PREFIX STACK_IMAGE_TAG STACK_REGISTRY_USER STACK_REGISTRY_PASSWORD

export BUNDLE_WORKER_CONFIG=$src/deploy/config/local.conf
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET
export BUNDLE_WORKER_DATA_ROOT=$work/jobs
export BUNDLE_WORKER_ARTIFACTS_URL=file://$work/artifacts
export BUNDLE_WORKER_COMPONENTS_FILE=$src/deploy/config/components.local.json
export BUNDLE_WORKER_JOBS_INPUTS_FILE_ROOT=$work/inputs
mkdir -p "$work/inputs"
sock=$STACK_DOCKER_SOCKET
prefix=$STACK_IMAGE_PREFIX
tag=$STACK_IMAGE_TAG

engine() { curl -s --unix-socket "$sock" "$@"; }
remove_image() { engine -X DELETE "http://d/v1.41/images/$(jq -rn --arg s "$prefix/$1:$tag" '$s|@uri')?force=1" >/dev/null; }
leftovers() { engine -g 'http://d/v1.41/containers/json?all=1&filters={"label":["io.bundle-worker.job-id"]}' | jq length; }
events_of() { jq -c "select(.type == \"$1\")" <<<"$out"; }
finished() { jq -r 'select(.type == "job.finished") | .'"$1" <<<"$out"; }
# some FILTER: true when an event matches the jq filter.
some() { jq -c "select($1)" <<<"$out" | grep -q .; }

job() { # job ID COMPONENT [EXTRA-JSON] -> writes $work/ID.json
  local extra=${3:-'{}'}
  jq -n --arg id "$1" --arg c "$2" --argjson x "$extra" '{job_id: $id, component: $c} + $x' >"$work/$1.json"
}
run_job() { # run_job ID [bundle-worker options...]
  local id=$1
  shift
  run_bw run "$@" "$work/$id.json"
}
no_leftovers() { [ "$(leftovers)" = 0 ] && [ ! -e "$work/jobs/$1" ]; }

# --- success, with outputs and state
job ok-1 bundle.sample '{"config": {"parameters": {"rows": 3}}, "state": {"count": 1}}'
remove_image sample
run_job ok-1
success_exit_0_and_status() { [ "$rc" -eq 0 ] && [ "$(finished status)" = success ]; }
check "success: exit 0 and status" success_exit_0_and_status
success_event_order() { [ "$(jq -r .type <<<"$out" | grep -v job.log | tr "\n" " ")" = "job.started image.pulled container.started artifact.uploaded artifact.uploaded job.finished " ]; }
check "success: event order" success_event_order
success_uncached_pull() { [ "$(events_of image.pulled | jq .cached)" = false ] && some ".type == \"image.pulled\" and (.digest | startswith(\"sha256:\"))"; }
check "success: uncached pull" success_uncached_pull
success_state_from_out_state_json() { [ "$(finished state.count)" = 2 ]; }
check "success: state from out/state.json" success_state_from_out_state_json
success_table_with_its_manifest_stored() { loc=$(events_of artifact.uploaded | jq -r "select(.path == \"tables/result.csv\") | .location"); [ -f "${loc#file://}" ] && some ".path == \"tables/result.csv\" and .manifest.primary_key[0] == \"id\""; }
check "success: table with its manifest stored" success_table_with_its_manifest_stored
success_sha256_matches_the_stored_file() { a=$(events_of artifact.uploaded | jq -c "select(.path == \"tables/result.csv\")"); [ "$(jq -r .sha256 <<<"$a")" = "$(sha256sum "$(jq -r .location <<<"$a" | sed "s|^file://||")" | cut -d" " -f1)" ]; }
check "success: sha256 matches the stored file" success_sha256_matches_the_stored_file
success_common_fields() { [ "$(jq -c "select(.schema_version == 1 and .job_id == \"ok-1\" and .attempt == 1 and (.ts|test(\"Z$\")) and .worker != null)" <<<"$out" | wc -l)" = "$(wc -l <<<"$out")" ]; }
check "success: common fields" success_common_fields
check "success: no leftovers" no_leftovers ok-1
run_job ok-1
second_run_cached_pull() { [ "$rc" -eq 0 ] && [ "$(events_of image.pulled | jq .cached)" = true ]; }
check "second run: cached pull" second_run_cached_pull

# --- exit codes
job user-1 bundle.exit '{"env": {"EXIT_CODE": "1"}}'
run_job user-1
exit_1_is_user_error_with_the_output_in() { [ "$rc" -eq 1 ] && [ "$(finished status)" = user_error ] && [ "$(finished exit_code)" = 1 ] && finished message | grep -q "exiting with 1"; }
check "exit 1 is user_error (exit status 1) with the output in the message" exit_1_is_user_error_with_the_output_in
stdout_and_stderr_lines_are_job_log() { some ".type == \"job.log\" and .stream == \"stderr\"" && some ".type == \"job.log\" and .stream == \"stdout\""; }
check "stdout and stderr lines are job.log events" stdout_and_stderr_lines_are_job_log
job app-1 bundle.exit '{"env": {"EXIT_CODE": "3"}}'
run_job app-1
exit_3_is_application_error() { [ "$rc" -eq 4 ] && [ "$(finished status)" = application_error ] && [ "$(finished exit_code)" = 3 ]; }
check "exit 3 is application_error (exit status 4)" exit_3_is_application_error

# --- out of memory
job oom-1 bundle.oom
run_job oom-1
oom_status_exit_6_the_limit_in_the() { [ "$rc" -eq 6 ] && [ "$(finished status)" = oom ] && finished message | grep -q "32m"; }
check "oom: status, exit 6, the limit in the message" oom_status_exit_6_the_limit_in_the
check "oom: no leftovers" no_leftovers oom-1

# --- timeout of a container that ignores SIGTERM: killed within grace + 2 s
job slow-1 bundle.ignore-term '{"limits": {"timeout_seconds": 2}}'
start=$(date +%s.%N)
run_job slow-1 --set jobs.stop.grace.seconds=2
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
timeout_status_and_exit_5() { [ "$rc" -eq 5 ] && [ "$(finished status)" = timeout ] && finished message | grep -q "limit of 2 s"; }
check "timeout: status and exit 5" timeout_status_and_exit_5
timeout_killed_within_timeout_grace_2_s() { [ "$(echo "$elapsed < 2 + 2 + 2 + 1" | bc)" = 1 ]; }
check "timeout: killed within timeout + grace + 2 s (took ${elapsed}s)" timeout_killed_within_timeout_grace_2_s
check "timeout: no leftovers" no_leftovers slow-1

# --- cancelled by SIGTERM to bundle-worker run
job cancel-1 bundle.sleep '{"env": {"SLEEP_SECONDS": "60"}}'
"$bw" run "$work/cancel-1.json" >"$work/cancel.out" 2>"$work/cancel.err" &
pid=$!
for _ in $(seq 1 100); do grep -q container.started "$work/cancel.out" && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"
rc=$?
out=$(cat "$work/cancel.out")
err=$(cat "$work/cancel.err")
cancel_status_cancelled_exit_7() { [ "$rc" -eq 7 ] && [ "$(finished status)" = cancelled ]; }
check "cancel: status cancelled, exit 7" cancel_status_cancelled_exit_7
check "cancel: container removed" no_leftovers cancel-1

# --- rejected requests: nothing runs
printf '{"component": "bundle.exit"}' >"$work/nojob.json"
run_bw run "$work/nojob.json"
rejected_missing_job_id() { [ "$rc" -eq 3 ] && [ "$(finished status)" = rejected ] && finished message | grep -q "job_id: required"; }
check "rejected: missing job_id" rejected_missing_job_id
job bad-mem bundle.exit '{"limits": {"memory": -3}}'
run_job bad-mem
rejected_the_json_path_and_what_was() { [ "$rc" -eq 3 ] && [ "$(finished message)" = "limits.memory: expected bytes or a size like \"512m\" (at least 4m), got -3" ]; }
check "rejected: the JSON path and what was expected" rejected_the_json_path_and_what_was
job unknown-1 no.such.component
run_job unknown-1
rejected_unknown_component_nothing() { [ "$rc" -eq 3 ] && ! grep -q image.pulled <<<"$out" && finished message | grep -q "not a registered component"; }
check "rejected: unknown component, nothing pulled" rejected_unknown_component_nothing
job tag-1 bundle.exit '{"tag": "9.9"}'
run_job tag-1
rejected_a_tag_the_component_does_not() { [ "$rc" -eq 3 ] && finished message | grep -q "not allowed for component bundle.exit"; }
check "rejected: a tag the component does not allow" rejected_a_tag_the_component_does_not
job big-1 bundle.sample '{"limits": {"memory": "1g"}}'
run_job big-1
rejected_above_the_component_maximum_not() { [ "$rc" -eq 3 ] && finished message | grep -q "above the maximum 512m"; }
check "rejected: above the component maximum, not clamped" rejected_above_the_component_maximum_not
printf 'not json' >"$work/garbage.json"
run_bw run "$work/garbage.json"
rejected_not_json() { [ "$rc" -eq 3 ] && [ "$(finished job_id)" = null ] && finished message | grep -q "not valid JSON"; }
check "rejected: not JSON" rejected_not_json

# --- private image: wrong and right credentials
remove_image exit
job priv-1 bundle.exit
STACK_REGISTRY_PASSWORD=wrong-pass-123 run_job priv-1
wrong_credentials_user_error() { [ "$rc" -eq 1 ] && [ "$(finished status)" = user_error ] && ! grep -q wrong-pass-123 <<<"$out$err"; }
check "wrong credentials: user_error, unauthorized, no secret" wrong_credentials_user_error
run_job priv-1
right_credentials_pulled_and_ran() { [ "$rc" -eq 0 ] && [ "$(events_of image.pulled | jq .cached)" = false ]; }
check "right credentials: pulled and ran" right_credentials_pulled_and_ran

# --- infrastructure error
job infra-1 bundle.exit
run_job infra-1 --set docker.socket=/nonexistent/docker.sock
infra_error_engine_unreachable_exit_8() { [ "$rc" -eq 8 ] && [ "$(finished status)" = infra_error ] && finished message | grep -q nonexistent; }
check "infra_error: engine unreachable, exit 8" infra_error_engine_unreachable_exit_8

# --- masking: plain and base64 forms of a '#' secret
secret='pa55-W0rd-s3cret'
b64=$(printf %s "$secret" | base64)
job mask-1 bundle.print-secret "{\"config\": {\"parameters\": {\"#password\": \"$secret\"}}}"
run_job mask-1
masking_neither_the_secret_nor_its() { [ "$rc" -eq 0 ] && ! grep -qF -- "$secret" <<<"$out$err" && ! grep -qF -- "$b64" <<<"$out$err" && grep -q "plain: \[hidden\]" <<<"$out" && grep -q "base64: \[hidden\]" <<<"$out"; }
check "masking: neither the secret nor its base64 form appears" masking_neither_the_secret_nor_its

# --- outputs: symlinks out of /data/out are refused
job evil-1 bundle.out-symlink
run_job evil-1
symlinks_refused_the_regular_file_stored() { [ "$rc" -eq 0 ] && some ".type == \"artifact.refused\" and .path == \"files/evil\"" && some ".type == \"artifact.refused\" and .path == \"tables/up.csv\"" && some ".type == \"artifact.uploaded\" and .path == \"files/ok.txt\"" && [ "$(events_of artifact.uploaded | wc -l)" = 1 ]; }
check "symlinks refused, the regular file stored" symlinks_refused_the_regular_file_stored

# --- inputs: a checksum mismatch fails the job before any container starts
printf 'a,b\n1,2\n' >"$work/inputs/input.csv"
job in-1 bundle.exit "{\"inputs\": [{\"url\": \"file://$work/inputs/input.csv\", \"path\": \"tables/input.csv\", \"sha256\": \"$(printf '0%.0s' $(seq 64))\"}]}"
run_job in-1
input_checksum_mismatch_user_error_no() { [ "$rc" -eq 1 ] && finished message | grep -q "sha256 mismatch" && ! grep -q container.started <<<"$out"; }
check "input checksum mismatch: user_error, no container" input_checksum_mismatch_user_error_no
job in-2 bundle.exit "{\"inputs\": [{\"url\": \"file://$work/inputs/input.csv\", \"path\": \"tables/input.csv\", \"sha256\": \"$(sha256sum "$work/inputs/input.csv" | cut -d' ' -f1)\"}]}"
run_job in-2
input_with_the_right_checksum_success() { [ "$rc" -eq 0 ]; }
check "input with the right checksum: success" input_with_the_right_checksum_success
job in-3 bundle.exit '{"inputs": [{"url": "file:///etc/passwd", "path": "files/passwd"}]}'
run_job in-3
a_file_input_outside_jobs_inputs_file() { [ "$rc" -eq 1 ] && finished message | grep -q "must be existing files under" && ! grep -q container.started <<<"$out"; }
check "a file:// input outside jobs.inputs.file.root is refused" a_file_input_outside_jobs_inputs_file

# --- a 100 MB log flood: first and last part kept, the worker's memory bounded
plain=${BW_TEST_PLAIN_BIN:-$bw}
job flood-1 bundle.log-flood '{"env": {"LOG_MB": "100"}}'
"$plain" run "$work/flood-1.json" >"$work/flood.out" 2>"$work/flood.err" &
pid=$!
hwm=0
while kill -0 "$pid" 2>/dev/null; do
  v=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null)
  [ -n "$v" ] && hwm=$v
  sleep 0.05
done
wait "$pid"
rc=$?
out=$(cat "$work/flood.out")
err=$(cat "$work/flood.err")
flood_success_trimmed_event_counts_the() { [ "$rc" -eq 0 ] && [ "$(events_of job.log.trimmed | jq .bytes_dropped)" -gt 80000000 ] && [ "$(finished log_bytes)" -ge 104857600 ]; }
check "flood: success, trimmed event counts the dropped bytes" flood_success_trimmed_event_counts_the
flood_peak_memory_kb_under_64_mb() { [ "$hwm" -gt 0 ] && [ "$hwm" -lt 65536 ]; }
check "flood: peak memory (VmHWM) ${hwm} kB under 64 MB" flood_peak_memory_kb_under_64_mb
check "flood: no leftovers" no_leftovers flood-1

# --- a terminal (TTY): one raw stream, no frame headers
job tty-1 bundle.exit-tty
run_job tty-1
tty_success_both_lines_arrive_as_stdout() { [ "$rc" -eq 0 ] && [ "$(jq -c "select(.type == \"job.log\" and .stream == \"stdout\")" <<<"$out" | wc -l)" = 2 ]; }
check "tty: success, both lines arrive as stdout" tty_success_both_lines_arrive_as_stdout

# --- read-only root filesystem with a tmpfs /tmp
job ro-1 bundle.sample-ro
run_job ro-1
read_only_root_the_sample_still_writes() { [ "$rc" -eq 0 ] && some ".type == \"artifact.uploaded\" and .path == \"tables/result.csv\""; }
check "read-only root: the sample still writes its outputs to /data" read_only_root_the_sample_still_writes

# --- digest pin: the right digest runs, a wrong one is the job's error
digest=$(engine "http://d/v1.41/images/$(jq -rn --arg s "$prefix/sample:$tag" '$s|@uri')/json" | jq -r '.RepoDigests[0] | split("@")[1]')
jq --arg d "$digest" '.components["pinned"] = (.components["bundle.sample"] + {digest: $d}) |
  .components["pinned-wrong"] = (.components["bundle.sample"] + {digest: ("sha256:" + ("0" * 64))})' \
  "$BUNDLE_WORKER_COMPONENTS_FILE" >"$work/pinned.json"
job pin-1 pinned
run_job pin-1 --components "$work/pinned.json"
digest_pin_runs_the_pinned_image() { [ "$rc" -eq 0 ] && [ "$(finished image_digest)" = "$digest" ]; }
check "digest pin: runs the pinned image ($digest)" digest_pin_runs_the_pinned_image
job pin-2 pinned-wrong
run_job pin-2 --components "$work/pinned.json"
digest_pin_a_digest_the_registry_does() { [ "$rc" -eq 1 ] && [ "$(finished status)" = user_error ]; }
check "digest pin: a digest the registry does not have is a user_error" digest_pin_a_digest_the_registry_does

# --- a leftover container with the job's name (409 Conflict) is recovered from
engine -X POST -H 'Content-Type: application/json' \
  -d "{\"Image\": \"$prefix/true:$tag\", \"Labels\": {\"io.bundle-worker.job-id\": \"conflict-1\"}}" \
  'http://d/v1.41/containers/create?name=bw-conflict-1-1' >/dev/null
job conflict-1 bundle.exit
run_job conflict-1
case_409_conflict_the_leftover_is_removed_and() { [ "$rc" -eq 0 ] && [ "$(finished status)" = success ]; }
check "409 Conflict: the leftover is removed and the job runs" case_409_conflict_the_leftover_is_removed_and
check "409 Conflict: no leftovers" no_leftovers conflict-1

after_every_test_no_container_with_the() { [ "$(leftovers)" = 0 ]; }
check "after every test: no container with the project's labels" after_every_test_no_container_with_the
finish

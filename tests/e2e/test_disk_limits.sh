#!/usr/bin/env bash
# limits.disk (issue 9.5): a job that writes more than its disk limit into
# /data or its own files is stopped with status disk_limit, and nothing of it
# is uploaded; within the limit everything is; a limit above the component's
# maximum is rejected. Checked with `bundle-worker run` against the real
# Engine, the store on disk and the Engine's container list.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_stack STACK_DOCKER_SOCKET

export BUNDLE_WORKER_CONFIG=$src/deploy/config/local.conf
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET
export BUNDLE_WORKER_DATA_ROOT=$work/jobs
export BUNDLE_WORKER_ARTIFACTS_URL=file://$work/artifacts
export BUNDLE_WORKER_COMPONENTS_FILE=$src/deploy/config/components.local.json
export BUNDLE_WORKER_JOBS_DISK_CHECK_INTERVAL_MS=200
id_prefix=disk-$$

containers_of() { # containers_of JOB_ID: how many containers the Engine has of the job
  curl -s --unix-socket "$STACK_DOCKER_SOCKET" -g \
    "http://d/v1.41/containers/json?all=1&filters={\"label\":[\"io.bundle-worker.job-id=$1\"]}" | jq length
}
finished() { jq -r "select(.type == \"job.finished\") | .$1" <<<"$out"; }
uploads() { jq -c 'select(.type == "artifact.uploaded")' <<<"$out" | grep -c .; }
stored_bytes() { du -sb "$work/artifacts/$1" 2>/dev/null | cut -f1; }

write_job() { # write_job ID ENV-JSON DISK
  jq -n --arg id "$1" --argjson env "$2" --arg disk "$3" \
    '{job_id: $id, component: "bundle.write-out", env: $env, limits: {disk: $disk}}' >"$work/$1.json"
  local start
  start=$(date +%s)
  run_bw run "$work/$1.json"
  took=$(($(date +%s) - start))
}

nothing_left_of() { [ "$(containers_of "$1")" = 0 ] && [ ! -e "$work/jobs/$1" ]; }

# --- a writer that keeps going is stopped by the watch, long before it ends
stopped_while_running() {
  [ "$rc" -eq 9 ] && [ "$(finished status)" = disk_limit ] &&
    finished message | grep -q "disk limit: the job wrote more than its limit of 10m" &&
    [ "$took" -lt 30 ]
}
nothing_uploaded() { [ "$(uploads)" = 0 ] && [ -z "$(stored_bytes "$1")" ]; }
job=$id_prefix-running
write_job "$job" '{"MB": "40", "SLEEP": "30"}' 10m
check "over limits.disk while running: stopped, status disk_limit, exit 9" stopped_while_running
check "over limits.disk while running: nothing uploaded" nothing_uploaded "$job"
check "over limits.disk while running: no container or folder left" nothing_left_of "$job"

# --- a writer that is done before the watch looks: caught before the upload
caught_before_upload() { [ "$(finished status)" = disk_limit ] && [ "$(uploads)" = 0 ]; }
job=$id_prefix-quick
write_job "$job" '{"MB": "30"}' 10m
check "over limits.disk at the end: disk_limit, nothing uploaded" caught_before_upload
check "over limits.disk at the end: no container or folder left" nothing_left_of "$job"

# --- many small files count too
job=$id_prefix-files
write_job "$job" '{"FILES": "3000", "FILE_KB": "8", "SLEEP": "20"}' 10m
check "3000 files of 8 KiB over a 10m limit: disk_limit" caught_before_upload

# --- the container's own files (its writable layer) count too
layer_caught() {
  [ "$(finished status)" = disk_limit ] && finished message | grep -q "container's own files"
}
job=$id_prefix-layer
write_job "$job" '{"TMP_MB": "40", "SLEEP": "30"}' 10m
check "40 MiB in /tmp (the writable layer) over a 10m limit: disk_limit" layer_caught
check "writable layer: no container left" nothing_left_of "$job"

# --- within the limit everything is stored
all_stored() {
  [ "$rc" -eq 0 ] && [ "$(finished status)" = success ] && [ "$(uploads)" = 1 ] &&
    [ "$(stored_bytes "$1")" -ge $((5 * 1024 * 1024)) ]
}
job=$id_prefix-within
write_job "$job" '{"MB": "5"}' 10m
check "5 MiB within a 10m limit: success and stored whole" all_stored "$job"

# --- the request may not go above the component's maximum
rejected_above_max() {
  [ "$rc" -eq 3 ] && [ "$(finished status)" = rejected ] && [ "$(finished job_id)" = "$job" ] &&
    finished message | grep -q "limits.disk: 5g is above the maximum 1g of bundle.write-out"
}
job=$id_prefix-above
write_job "$job" '{"MB": "1"}' 5g
check "limits.disk above the component's maximum: rejected with the reason" rejected_above_max
bad_size() { [ "$rc" -eq 3 ] && finished message | grep -q 'limits.disk: expected bytes or a size like "512m" (at least 1m)'; }
job=$id_prefix-bad
write_job "$job" '{"MB": "1"}' 12q
check "a malformed limits.disk: rejected with the reason" bad_size

# --- a request over jobs.request.max.bytes is refused before it is parsed
too_big_refused() {
  [ "$rc" -eq 3 ] && [ "$(finished status)" = rejected ] &&
    finished message | grep -q "request: 1048577 bytes, more than jobs.request.max.bytes (1048576): not parsed"
}
python3 -c 'import json; r = {"job_id": "big-1", "component": "bundle.exit", "config": {"pad": ""}}; s = json.dumps(r); r["config"]["pad"] = "x" * (1048577 - len(s)); print(json.dumps(r), end="")' >"$work/big.json"
run_bw run "$work/big.json"
check "a request of 1 MiB + 1 byte: rejected before it is parsed" too_big_refused
python3 -c 'import json; r = {"job_id": "big-2", "component": "bundle.exit", "config": {"pad": ""}}; s = json.dumps(r); r["config"]["pad"] = "x" * (1048576 - len(s)); print(json.dumps(r), end="")' >"$work/big2.json"
run_bw run "$work/big2.json"
a_request_of_exactly_1_mib_runs() { [ "$rc" -eq 0 ] && [ "$(finished status)" = success ]; }
check "a request of exactly 1 MiB: runs" a_request_of_exactly_1_mib_runs

finish

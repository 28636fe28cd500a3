#!/usr/bin/env bash
# Jobs whose outputs go to the stack's S3 server (moto, signatures checked):
# every artifact.uploaded event names the s3:// object, its size, sha256,
# ETag (and version id on a versioned bucket), and an independent reader
# (boto3, tests/tools/s3_check.py) finds exactly those bytes there. A wrong
# secret fails the job with a message that names the bucket and the status,
# never the secret.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_stack STACK_DOCKER_SOCKET STACK_S3_ENDPOINT STACK_S3_BUCKET STACK_S3_ACCESS_KEY_ID \
  STACK_S3_SECRET_ACCESS_KEY STACK_MOTO_VENV

export BUNDLE_WORKER_CONFIG=$src/deploy/config/local.conf
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET
export BUNDLE_WORKER_DATA_ROOT=$work/jobs
export BUNDLE_WORKER_COMPONENTS_FILE=$src/deploy/config/components.local.json
export BUNDLE_WORKER_ARTIFACTS_S3_ENDPOINT=$STACK_S3_ENDPOINT
export BUNDLE_WORKER_ARTIFACTS_S3_REGION=$STACK_S3_REGION
export BUNDLE_WORKER_ARTIFACTS_S3_ACCESS_KEY_ENV=STACK_S3_ACCESS_KEY_ID
export BUNDLE_WORKER_ARTIFACTS_S3_SECRET_KEY_ENV=STACK_S3_SECRET_ACCESS_KEY
# Small parts, so that a 12 MiB output goes up in three.
export BUNDLE_WORKER_ARTIFACTS_S3_PART_SIZE=$((5 * 1024 * 1024))
prefix="e2e-$$-$(date +%s)"
s3_check() { "$STACK_MOTO_VENV/bin/python" "$src/tests/tools/s3_check.py" "$@"; }
events_of() { jq -c "select(.type == \"$1\")" <<<"$out"; }
finished() { jq -r 'select(.type == "job.finished") | .'"$1" <<<"$out"; }

job() { # job ID COMPONENT [EXTRA-JSON] -> writes $work/ID.json
  local extra=${3:-'{}'}
  jq -n --arg id "$1" --arg c "$2" --argjson x "$extra" '{job_id: $id, component: $c} + $x' >"$work/$1.json"
}

# every_upload_is_in_s3: for each artifact.uploaded event, the object at its
# location has the event's size and sha256 (read back by boto3), the sha256
# as metadata, and the event's ETag.
every_upload_is_in_s3() {
  local a loc bucket key got n=0
  while read -r a; do
    [ -n "$a" ] || continue
    loc=$(jq -r .location <<<"$a")
    [[ "$loc" == s3://* ]] || return 1
    bucket=${loc#s3://}
    bucket=${bucket%%/*}
    key=${loc#s3://"$bucket"/}
    got=$(s3_check get "$bucket" "$key") || return 1
    [ "$(jq -r .size <<<"$got")" = "$(jq -r .size <<<"$a")" ] || return 1
    [ "$(jq -r .sha256 <<<"$got")" = "$(jq -r .sha256 <<<"$a")" ] || return 1
    [ "$(jq -r .metadata.sha256 <<<"$got")" = "$(jq -r .sha256 <<<"$a")" ] || return 1
    [ "$(jq -r .etag <<<"$got")" = "$(jq -r .etag <<<"$a")" ] || return 1
    n=$((n + 1))
  done < <(events_of artifact.uploaded)
  [ "$n" -gt 0 ]
}

# --- a job's outputs, one of them in parts
job s3-1 bundle.write-out '{"env": {"MB": "12", "SOURCE": "urandom", "FILES": "5"}}'
BUNDLE_WORKER_ARTIFACTS_URL="s3://$STACK_S3_BUCKET/$prefix" run_bw run "$work/s3-1.json"
s3_job_succeeds() { [ "$rc" -eq 0 ] && [ "$(finished status)" = success ]; }
check "s3: the job succeeds" s3_job_succeeds
s3_locations_name_the_objects() { [ "$(events_of artifact.uploaded | jq -r .location | grep -c "^s3://$STACK_S3_BUCKET/$prefix/s3-1/1/files/")" = 6 ]; }
check "s3: six uploads, each at s3://BUCKET/PREFIX/JOB/ATTEMPT/PATH" s3_locations_name_the_objects
check "s3: every object read back by boto3 matches its event (size, sha256, metadata, ETag)" every_upload_is_in_s3
s3_big_file_in_three_parts() { events_of artifact.uploaded | jq -e 'select(.path == "files/big.bin") | .etag | endswith("-3")' >/dev/null; }
check "s3: the 12 MiB output went up in three parts" s3_big_file_in_three_parts
s3_no_upload_left_open() { [ "$(s3_check uploads "$STACK_S3_BUCKET")" = 0 ]; }
check "s3: no multipart upload left open" s3_no_upload_left_open

# --- a state too large for job.finished (Kafka's messages are bounded): stored
# beside the outputs, named by job.finished, never carried inline
job s3-state bundle.write-out '{"env": {"STATE_KB": "600"}}'
BUNDLE_WORKER_ARTIFACTS_URL="s3://$STACK_S3_BUCKET/$prefix" run_bw run "$work/s3-state.json"
s3_big_state_stored() { [ "$rc" -eq 0 ] && [ "$(finished state)" = null ] && [ "$(finished state_artifact.size)" -gt 600000 ] && [ "$(finished state_artifact.location)" = "s3://$STACK_S3_BUCKET/$prefix/s3-state/1/state.json" ]; }
check "s3: a 600 KiB state is stored as state.json and named by job.finished" s3_big_state_stored
check "s3: the stored state reads back (boto3)" every_upload_is_in_s3
s3_big_state_event_small() { [ "$(jq -c 'select(.type == "job.finished")' <<<"$out" | wc -c)" -lt 20000 ]; }
check "s3: job.finished stays small" s3_big_state_event_small

# --- a versioned bucket: the events carry the version id
job s3-2 bundle.write-out '{"env": {"FILES": "2"}}'
BUNDLE_WORKER_ARTIFACTS_URL="s3://$STACK_S3_BUCKET-versioned/$prefix" run_bw run "$work/s3-2.json"
s3_version_ids() { [ "$rc" -eq 0 ] && [ "$(events_of artifact.uploaded | jq -r '.version_id // empty' | grep -c .)" = 2 ]; }
check "s3: a versioned bucket's uploads carry their version id" s3_version_ids
check "s3: versioned objects read back" every_upload_is_in_s3

# --- a wrong secret: the job says what happened, never the secret
job s3-3 bundle.write-out '{"env": {"FILES": "1"}}'
BW_TEST_WRONG_SECRET=wrong-s3-secret-value-77 BUNDLE_WORKER_ARTIFACTS_S3_SECRET_KEY_ENV=BW_TEST_WRONG_SECRET \
  BUNDLE_WORKER_ARTIFACTS_URL="s3://$STACK_S3_BUCKET/$prefix" run_bw run "$work/s3-3.json"
s3_wrong_secret_is_infra_error() { [ "$rc" -eq 8 ] && [ "$(finished status)" = infra_error ] && finished message | grep -q "$STACK_S3_BUCKET" && finished message | grep -q "HTTP 403 SignatureDoesNotMatch"; }
check "s3: a wrong secret fails the job as infra_error, naming the bucket and S3's answer" s3_wrong_secret_is_infra_error
s3_wrong_secret_never_shown() { ! grep -rqF wrong-s3-secret-value-77 <<<"$out$err" && ! grep -rqF "$STACK_S3_SECRET_ACCESS_KEY" <<<"$out$err"; }
check "s3: neither secret appears in any event or log line" s3_wrong_secret_never_shown

# --- inputs from the same store: one object (sha256 checked), and a prefix
# of table slices into a folder. A failed job keeps its data folder here, so
# that what in/ held can be read.
printf 'id,v\n1,a\n' >"$work/one.csv"
for i in 1 2 3; do printf 'id,v\n%d,slice\n' "$i" >"$work/slice-$i.csv"; done
s3_check put "$STACK_S3_BUCKET" "$prefix/in/one.csv" "$work/one.csv"
for i in 1 2 3; do s3_check put "$STACK_S3_BUCKET" "$prefix/in/slices/part-$i.csv" "$work/slice-$i.csv"; done
one_sha=$(sha256sum "$work/one.csv" | cut -d' ' -f1)
inputs=$(jq -nc --arg b "$STACK_S3_BUCKET" --arg p "$prefix" --arg sha "$one_sha" '[
  {url: "s3://\($b)/\($p)/in/one.csv", path: "tables/one.csv", sha256: $sha},
  {url: "s3://\($b)/\($p)/in/slices/", path: "tables/sliced.csv"}]')
job s3-in-1 bundle.exit "{\"inputs\": $inputs, \"env\": {\"EXIT_CODE\": \"3\"}}"
BUNDLE_WORKER_JOBS_KEEP_FAILED_DATA=true BUNDLE_WORKER_ARTIFACTS_URL="s3://$STACK_S3_BUCKET/$prefix" run_bw run "$work/s3-in-1.json"
in_dir=$(find "$work/jobs" -type d -path '*s3-in-1*' -name in | head -n 1)
s3_inputs_arrive() { [ "$(finished status)" = application_error ] && [ -n "$in_dir" ] && cmp -s "$in_dir/tables/one.csv" "$work/one.csv" && for i in 1 2 3; do cmp -s "$in_dir/tables/sliced.csv/part-$i.csv" "$work/slice-$i.csv" || return 1; done; }
check "s3 inputs: an object and a prefix's slices arrive in in/, byte for byte" s3_inputs_arrive
inputs=$(jq -nc --arg b "$STACK_S3_BUCKET" --arg p "$prefix" '[{url: "s3://\($b)/\($p)/in/one.csv", path: "tables/one.csv", sha256: ("0" * 64)}]')
job s3-in-2 bundle.exit "{\"inputs\": $inputs}"
BUNDLE_WORKER_ARTIFACTS_URL="s3://$STACK_S3_BUCKET/$prefix" run_bw run "$work/s3-in-2.json"
s3_input_sha_mismatch() { [ "$rc" -eq 1 ] && finished message | grep -q "sha256 mismatch" && ! grep -q container.started <<<"$out"; }
check "s3 inputs: a sha256 mismatch is user_error before any container" s3_input_sha_mismatch
inputs=$(jq -nc --arg b "$STACK_S3_BUCKET" --arg p "$prefix" '[{url: "s3://\($b)/\($p)/in/nothing-here.csv", path: "tables/x.csv"}]')
job s3-in-3 bundle.exit "{\"inputs\": $inputs}"
BUNDLE_WORKER_ARTIFACTS_URL="s3://$STACK_S3_BUCKET/$prefix" run_bw run "$work/s3-in-3.json"
s3_input_missing() { [ "$rc" -eq 1 ] && finished message | grep -q "HTTP 404 NoSuchKey" && finished message | grep -q "nothing-here.csv"; }
check "s3 inputs: a missing object is user_error naming it and S3's answer" s3_input_missing
# A hostile key under the prefix ("../"): refused, nothing written outside in/.
s3_check put "$STACK_S3_BUCKET" "$prefix/in/evil/../../escape.csv" "$work/one.csv"
inputs=$(jq -nc --arg b "$STACK_S3_BUCKET" --arg p "$prefix" '[{url: "s3://\($b)/\($p)/in/evil/", path: "tables/evil"}]')
job s3-in-4 bundle.exit "{\"inputs\": $inputs}"
BUNDLE_WORKER_ARTIFACTS_URL="s3://$STACK_S3_BUCKET/$prefix" run_bw run "$work/s3-in-4.json"
s3_hostile_key_refused() { [ "$rc" -eq 1 ] && finished message | grep -q "must stay inside in/" && [ -z "$(find "$work/jobs" -name escape.csv)" ]; }
check "s3 inputs: a key with ../ under a prefix is refused, nothing written outside in/" s3_hostile_key_refused

finish

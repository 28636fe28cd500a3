#!/usr/bin/env bash
# Secrets never leave the worker (issue 9.3): a component that prints and
# writes its secrets in every form, a multi-line key, '#' values of the state,
# and requests whose rejection would quote a secret, through `run` and
# `serve`. Every byte the worker emits (events on stdout and on the topics,
# DLQ headers, its own log lines, the artifact store, the data root) is
# searched for every form of every secret by an independent reader
# (python3, not the worker's masker).
# shellcheck source=tests/e2e/serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"

secret='p@ss"wo/rd\Zq9-xK'   # JSON-special characters: its escaped forms differ
simple='SimpleSecret4711abc'   # one without: for the state copy
state_secret='StateTok3n-98765zz'
pem=$'-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n-----END PRIVATE KEY-----'
export BUNDLE_WORKER_JOBS_KEEP_FAILED_DATA=false

# Every form a reader could recognise: plain, base64 and base64url (padded or
# not), JSON-escaped as jansson, Python and PHP write it, and for the key each
# of its lines (the worker masks a multi-line secret line by line too).
forms_file=$work/forms
python3 - "$secret" "$simple" "$state_secret" "$pem" >"$forms_file" <<'PY'
import base64, json, sys
forms = set()
for s in sys.argv[1:]:
    parts = [s] + [l.rstrip("\r") for l in s.split("\n") if len(l.rstrip("\r")) >= 3]
    for v in parts:
        b = v.encode()
        forms.add(v)
        for enc in (base64.b64encode(b).decode(), base64.urlsafe_b64encode(b).decode()):
            forms.add(enc)
            forms.add(enc.rstrip("="))
        forms.add(json.dumps(v)[1:-1])
        forms.add(json.dumps(v, ensure_ascii=False)[1:-1])
        forms.add(json.dumps(v).replace("/", "\\/")[1:-1])
# the BEGIN/END lines of a PEM block are not secret on their own: every key has them
forms = {f for f in forms if "-----" not in f and len(f) >= 3}
for f in sorted(forms):
    print(f)
PY
# leaks FILE...: prints the forms found in the files (nothing when clean)
leaks() {
  python3 - "$forms_file" "$@" <<'PY'
import sys
forms = [l.rstrip("\n") for l in open(sys.argv[1], encoding="utf-8")]
for path in sys.argv[2:]:
    try:
        data = open(path, "rb").read().decode("utf-8", "replace")
    except (IsADirectoryError, FileNotFoundError):
        continue
    for f in forms:
        if f in data:
            print(f"{path}: {f!r}")
PY
}
leaks_in_tree() { # leaks_in_tree DIR: in every file below it
  [ -d "$1" ] || return 0
  find "$1" -type f -print0 | xargs -0 -r bash -c 'leaks "$@"' _
}
export -f leaks
export forms_file

leak_job() { # leak_job ID EXIT_CODE LEAK_STATE -> the request
  jq -cn --arg id "$1" --arg s "$secret" --arg simple "$simple" --arg st "$state_secret" \
    --arg pem "$pem" --arg code "$2" --arg leak "$3" '{
      job_id: $id, component: "bundle.leak",
      config: {"#password": $s, "#simple": $simple, parameters: {"#key": $pem}},
      state: {"#token": $st},
      env: {SECRET: $s, SECRET_SIMPLE: $simple, STATE_SECRET: $st, PEM: $pem,
            EXIT_CODE: $code, LEAK_STATE: $leak}}'
}
# event_text FILE: the events without job.finished's state, which travels
# whole on purpose (docs/events.md); everything else must be clean.
without_state() {
  local f
  for f in "$@"; do
    jq -c 'if .type == "job.finished" then del(.state) else . end' "$f" 2>/dev/null ||
      cat "$f"
  done
}
clean() { # clean FILE...: no form of any secret in them (job.finished's state aside)
  local found f
  for f in "$@"; do without_state "$f" >"$f.checked"; done
  found=$(leaks "${@/%/.checked}")
  [ -z "$found" ] && return 0
  echo "  found: ${found:0:600}"
  return 1
}

# --- run: a user_error whose message quotes the tail, files and a state
leak_job "sec-run-$run_id" 1 0 >"$work/run.json"
"$bw" run "$work/run.json" >"$work/run.out" 2>"$work/run.err"
run_rc=$?
run_the_job_is_a_user_error() { [ "$run_rc" = 1 ]; }
check "run: the job is a user_error (exit 1)" run_the_job_is_a_user_error
check "run: no secret in any event or log line" clean "$work/run.out" "$work/run.err"
run_the_message_quotes_the_masked_tail() { jq -r "select(.type == \"job.finished\") | .message" "$work/run.out" | grep -q "the end: \[hidden\]"; }
check "run: the message quotes the masked tail" run_the_message_quotes_the_masked_tail
run_every_line_of_the_pem_key_is_masked() { [ "$(jq -r "select(.type == \"job.log\") | .line" "$work/run.out" | grep -c "^\[hidden\]$")" -ge 2 ]; }
check "run: every line of the PEM key is masked" run_every_line_of_the_pem_key_is_masked
has_event() { # has_event FILE JQ-FILTER
  [ -n "$(jq -c "select($2)" "$1" 2>/dev/null)" ]
}
file_refused_clean_stored() {
  has_event "$work/run.out" '.type == "artifact.refused" and .path == "files/leak.txt"' &&
    has_event "$work/run.out" '.type == "artifact.uploaded" and .path == "files/ok.txt"'
}
check "run: the file holding the secret is refused, the clean one stored" file_refused_clean_stored
run_nothing_with_a_secret_in_the() { [ -z "$(leaks_in_tree "$work/artifacts")" ] && [ -z "$(leaks_in_tree "$work/jobs")" ]; }
check "run: nothing with a secret in the artifact store or the data root" run_nothing_with_a_secret_in_the
run_the_state_goes_back_whole() { [ "$(jq -r "select(.type == \"job.finished\") | .state[\"#token\"]" "$work/run.out")" = "$state_secret" ]; }
check "run: the state goes back whole ('#' values are the next run's)" run_the_state_goes_back_whole

# --- run: a state that copies a secret outside a '#' key is not carried
leak_job "sec-state-$run_id" 0 1 >"$work/state.json"
"$bw" run "$work/state.json" >"$work/state.out" 2>"$work/state.err"
state_refused() {
  [ "$(jq -c 'select(.type == "job.finished") | .state' "$work/state.out")" = null ] &&
    has_event "$work/state.out" '.type == "artifact.refused" and .path == "state.json"'
}
check "run: a state with a secret outside '#' keys is refused (state null, artifact.refused)" state_refused
check "run: and nothing leaks there either" clean "$work/state.out" "$work/state.err"

# --- rejections that would quote a secret
jq -cn --arg s "$secret" '{job_id: "sec-rej-1", component: "bundle.leak", attempt: $s, config: {"#p": $s}}' >"$work/rej1.json"
jq -cn --arg s "$simple" '{job_id: "sec-rej-2", component: "bundle.leak", tag: $s, state: {"#t": $s}}' >"$work/rej2.json"
printf '{"job_id": "sec-rej-3", "config": {"#p": %s}}' "$simple" >"$work/rej3.json"
for r in rej1 rej2 rej3; do
  "$bw" run "$work/$r.json" >"$work/$r.out" 2>"$work/$r.err"
done
run_rejections_say_what_was_wrong() {
  jq -r "select(.type == \"job.finished\") | .message" "$work/rej1.out" | grep -q "attempt: expected an integer" &&
  jq -r "select(.type == \"job.finished\") | .message" "$work/rej3.out" | grep -q "not valid JSON: line 1 column"
}
check "run: rejections say what was wrong, without the secret" run_rejections_say_what_was_wrong
check "run: no secret in any rejection" clean "$work"/rej*.out "$work"/rej*.err

# --- serve: the same through the topics, the DLQ and the worker's log
start_worker sw1 2
wait_assigned sw1
produce "sec-serve-$run_id" "$(leak_job "sec-serve-$run_id" 1 0)"
produce sec-rej-1 "$(cat "$work/rej1.json")"
produce sec-rej-3 "$(cat "$work/rej3.json")"
wait_events 3 '.type == "job.finished"' 90
events >"$work/serve.events"
kcat -C -b "$broker" -t "$t_uploads" -o beginning -e -q >"$work/serve.uploads" 2>/dev/null
dlq >"$work/serve.dlq.all"
# The DLQ holds the original request (its secrets too: replay needs them);
# only the dlq.* headers are the worker's own words.
grep -o 'dlq\.[a-z.]*=[^,]*' "$work/serve.dlq.all" >"$work/serve.dlq" || true
serve_the_rejected_requests_are_in_the() { [ "$(grep -c "dlq.reason=" "$work/serve.dlq")" -ge 2 ]; }
check "serve: the rejected requests are in the DLQ with a reason" serve_the_rejected_requests_are_in_the
check "serve: no secret in events, uploads, DLQ reasons or the worker's log" clean \
  "$work/serve.events" "$work/serve.uploads" "$work/serve.dlq" "$work/sw1.log" "$work/sw1.out"
check "serve: the rejected job's job.finished names the job" has_event "$work/serve.events" \
  '.type == "job.finished" and .job_id == "sec-rej-1" and .status == "rejected"'
serve_nothing_with_a_secret_in_the_store() { [ -z "$(leaks_in_tree "$work/artifacts")" ] && [ -z "$(leaks_in_tree "$work/jobs")" ]; }
check "serve: nothing with a secret in the store or the data root" serve_nothing_with_a_secret_in_the_store
finish

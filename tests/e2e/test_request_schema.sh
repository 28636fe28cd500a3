#!/usr/bin/env bash
# The request fixtures against docs/run-request.schema.json (JSON Schema
# 2020-12, checked by python3-jsonschema), and the worker's own validator
# agreeing with the schema on every fixture.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
schema=$src/docs/run-request.schema.json
fixtures=$src/tests/data/requests

validate_schema() { # file -> 0 when valid
  /usr/bin/python3 - "$schema" "$1" <<'PY'
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
doc = json.load(open(sys.argv[2]))
errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
for e in errors:
    print("/".join(map(str, e.path)) or "(top)", e.message)
sys.exit(1 if errors else 0)
PY
}

for f in "$fixtures"/valid/*.json; do
  name=$(basename "$f")
  out=$(validate_schema "$f" 2>&1); rc=$?; err=""
  schema_accepts_valid() { [ "$rc" -eq 0 ]; }
  check "schema accepts valid/$name" schema_accepts_valid
  run_bw validate --components "$src/deploy/config/components.local.json" "$f"
  worker_accepts_valid() { [ "$rc" -eq 0 ] && has "$out" "ok    "; }
  check "worker accepts valid/$name" worker_accepts_valid
done
for f in "$fixtures"/invalid/*.json; do
  name=$(basename "$f")
  out=$(validate_schema "$f" 2>&1); rc=$?; err=""
  schema_rejects_invalid() { [ "$rc" -ne 0 ]; }
  check "schema rejects invalid/$name" schema_rejects_invalid
  run_bw validate "$f"
  worker_rejects_invalid_with_a_path() { [ "$rc" -eq 3 ] && has "$out" "FAIL  "; }
  check "worker rejects invalid/$name with a path" worker_rejects_invalid_with_a_path
done
run_bw validate "$fixtures/invalid/bad-memory.json"
the_message_names_the_path_and_what_was() { has "$out" "limits.memory: expected bytes or a size like \"512m\" (at least 4m), got -3"; }
check "the message names the path and what was expected" the_message_names_the_path_and_what_was
finish

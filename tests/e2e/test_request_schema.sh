#!/usr/bin/env bash
# The request fixtures against docs/run-request.schema.json (JSON Schema
# 2020-12, checked by python3-jsonschema), and the worker's own validator
# agreeing with the schema on every fixture.
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
  check "schema accepts valid/$name" eval '[ $rc -eq 0 ]'
  run_bw validate --components "$src/deploy/config/components.local.json" "$f"
  check "worker accepts valid/$name" eval '[ $rc -eq 0 ] && has "$out" "ok    "'
done
for f in "$fixtures"/invalid/*.json; do
  name=$(basename "$f")
  out=$(validate_schema "$f" 2>&1); rc=$?; err=""
  check "schema rejects invalid/$name" eval '[ $rc -ne 0 ]'
  run_bw validate "$f"
  check "worker rejects invalid/$name with a path" eval '[ $rc -eq 3 ] && has "$out" "FAIL  "'
done
run_bw validate "$fixtures/invalid/bad-memory.json"
check "the message names the path and what was expected" eval \
  'has "$out" "limits.memory: expected bytes or a size like \"512m\" (at least 4m), got -3"'
finish

# shellcheck shell=bash
# Helpers for the end-to-end tests: they drive the bundle-worker program as a
# user would and check its exit status and output.
# Needs BW_TEST_BIN (set by ctest) and the stack's STACK_* variables.
set -uo pipefail

bw=${BW_TEST_BIN:?BW_TEST_BIN must name the bundle-worker binary}
# shellcheck disable=SC2034 # for the scripts that source this
src=${BW_SOURCE_DIR:?BW_SOURCE_DIR must name the source folder}
passed=0
failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

require_stack() {
  local name
  for name in "$@"; do
    if [ -z "${!name:-}" ]; then
      echo "FAIL: $name is not set: run the tests through tests/run.sh (it starts the stack)" >&2
      exit 1
    fi
  done
}

# run_bw: runs bundle-worker with the given args; sets $out, $err, $rc.
run_bw() {
  "$bw" "$@" >"$work/out" 2>"$work/err"
  rc=$?
  out=$(cat "$work/out")
  err=$(cat "$work/err")
}

check() { # check NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    echo "  rc=${rc:-}"
    local o=${out:-} e=${err:-}
    echo "  stdout: ${o:0:2000}"
    echo "  stderr: ${e:0:2000}"
  fi
}

has() { grep -qF -- "$2" <<<"$1"; }
lines() { printf '%s\n' "$1" | grep -c .; }

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

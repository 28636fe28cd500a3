#!/usr/bin/env bash
# Smoke test of the test images pushed by stack-up.sh: runs each one the way
# the worker will (unprivileged uid, read-only root fs, /data bind mount) and
# checks its documented behaviour. Needs a running stack (stack-up.sh).
#
# Usage: deploy/local/verify-images.sh [--pull]
#   --pull  first remove the local copies and pull them from the registry
#           through the Engine API with X-Registry-Auth (checks registry auth)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

PASS=0
FAIL=0
WORK="$(mktemp -d)"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

ok() {
  PASS=$((PASS + 1))
  printf 'ok    %s\n' "$1"
}
bad() {
  FAIL=$((FAIL + 1))
  printf 'FAIL  %s\n' "$1"
}
check() { # check DESCRIPTION COMMAND...
  local d=$1
  shift
  if "$@"; then ok "$d"; else bad "$d"; fi
}

have_image() { dockercli image inspect "$1" >/dev/null 2>&1; }
jqtest() { jq -e "$@" >/dev/null; }

img() { printf '%s/%s:%s\n' "$STACK_IMAGE_PREFIX" "$1" "$STACK_IMAGE_TAG"; }

# fresh_data NAME: an empty data folder writable by uid 65534.
fresh_data() {
  local d="$WORK/$1"
  rm -rf "$d"
  mkdir -p "$d/in" "$d/out/tables" "$d/out/files"
  chmod -R 0777 "$d"
  printf '%s\n' "$d"
}

# run ARGS...: docker run as nobody with a read-only root fs.
run() {
  dockercli run --rm --user 65534:65534 --read-only --network none "$@"
}

docker_up || die "docker is not up (run stack-up.sh)"

if [[ "${1:-}" == --pull ]]; then
  auth="$(printf '{"username":"%s","password":"%s","serveraddress":"%s"}' \
    "$STACK_REGISTRY_USER" "$STACK_REGISTRY_PASSWORD" "$STACK_REGISTRY" | base64 -w0)"
  for name in $STACK_IMAGES; do
    dockercli rmi -f "$(img "$name")" >/dev/null 2>&1 || true
    out="$(curl -s --unix-socket "$STACK_DOCKER_SOCKET" -X POST -H "X-Registry-Auth: $auth" \
      "http://localhost/v1.41/images/create?fromImage=$STACK_IMAGE_PREFIX/$name&tag=$STACK_IMAGE_TAG")"
    if grep -q '"errorDetail"' <<<"$out"; then
      bad "pull $name via Engine API: $(tail -n1 <<<"$out")"
    else
      check "pull $name via Engine API with X-Registry-Auth" have_image "$(img "$name")"
    fi
  done
fi

# --- exit
out="$(run -e EXIT_CODE=7 "$(img exit)" 2>"$WORK/err")" && rc=0 || rc=$?
check "exit: exit code 7" test "$rc" = 7
check "exit: stdout line" test "$out" = "exit image: exiting with 7"
check "exit: stderr line" grep -q 'stderr' "$WORK/err"
out="$(run "$(img exit)" 2>/dev/null)" && rc=0 || rc=$?
check "exit: default exit code 0" test "$rc" = 0

# --- sleep
start=$SECONDS
out="$(run -e SLEEP_SECONDS=1 "$(img sleep)")" && rc=0 || rc=$?
check "sleep: exit 0 after >=1s" test "$rc" = 0 -a $((SECONDS - start)) -ge 1
check "sleep: prints" grep -q 'sleeping 1 seconds' <<<"$out"

# --- sample (run twice: state counter goes 1 -> 2)
d="$(fresh_data sample)"
echo '{"parameters":{"x":1}}' >"$d/config.json"
chmod 0644 "$d/config.json"
out="$(run -v "$d:/data" -e SAMPLE_ROWS=4 "$(img sample)" 2>/dev/null)" && rc=0 || rc=$?
check "sample: exit 0" test "$rc" = 0
check "sample: csv header + 4 rows" test "$(head -n1 "$d/out/tables/result.csv"),$(wc -l <"$d/out/tables/result.csv")" = "id,name,value,5"
check "sample: manifest JSON" jqtest '.destination == "out.c-sample.result" and .primary_key == ["id"]' "$d/out/tables/result.csv.manifest"
check "sample: report file" test -s "$d/out/files/report.txt"
check "sample: state count 1" jqtest '.count == 1' "$d/out/state.json"
cp "$d/out/state.json" "$d/in/state.json"
run -v "$d:/data" "$(img sample)" >/dev/null 2>&1 || true
check "sample: state count 2 from in/state.json" jqtest '.count == 2' "$d/out/state.json"
check "sample: prints about config" grep -q 'config.json' <<<"$out"

# --- log-flood
bytes="$(run -e LOG_MB=5 "$(img log-flood)" | wc -c)"
check "log-flood: 5 MiB on stdout" test "$bytes" = $((5 * 1048576))
bytes="$(run -e LOG_BYTES=1000 -e LOG_STREAM=stderr "$(img log-flood)" 2>&1 >/dev/null | wc -c)"
check "log-flood: LOG_BYTES=1000 on stderr" test "$bytes" = 1000

# --- oom
cid="$(dockercli run -d --user 65534:65534 --read-only -m 16m --memory-swap 16m "$(img oom)")"
rc="$(dockercli wait "$cid")"
oom="$(dockercli inspect -f '{{.State.OOMKilled}}' "$cid")"
dockercli rm -f "$cid" >/dev/null
check "oom: exit 137 with -m 16m" test "$rc" = 137
check "oom: State.OOMKilled true" test "$oom" = true

# --- ignore-term (with and without --init): docker stop -t 2 must SIGKILL it
for init in "" --init; do
  cid="$(dockercli run -d --user 65534:65534 --read-only $init "$(img ignore-term)")"
  sleep 1
  start=$SECONDS
  dockercli stop -t 2 "$cid" >/dev/null
  rc="$(dockercli inspect -f '{{.State.ExitCode}}' "$cid")"
  dockercli rm -f "$cid" >/dev/null
  check "ignore-term ${init:-(no init)}: survives TERM, killed (137) after >=2s" \
    test "$rc" = 137 -a $((SECONDS - start)) -ge 2
done

# --- print-secret
d="$(fresh_data secret)"
printf '{"parameters":{"#password":"s3cr3t-Pa55","user":"u"}}' >"$d/config.json"
chmod 0644 "$d/config.json"
out="$(run -v "$d:/data" "$(img print-secret)")"
check "print-secret: prints config" grep -qF '"#password":"s3cr3t-Pa55"' <<<"$out"
check "print-secret: plain line" grep -qx 'plain: s3cr3t-Pa55' <<<"$out"
check "print-secret: base64 line" grep -qx "base64: $(printf %s s3cr3t-Pa55 | base64 -w0)" <<<"$out"

# --- out-symlink
d="$(fresh_data symlink)"
echo '{}' >"$d/config.json"
run -v "$d:/data" "$(img out-symlink)" >/dev/null
check "out-symlink: ok.txt" test -f "$d/out/files/ok.txt" -a ! -L "$d/out/files/ok.txt"
check "out-symlink: evil -> /etc/passwd" test "$(readlink "$d/out/files/evil")" = /etc/passwd
check "out-symlink: up.csv -> ../../config.json" test "$(readlink "$d/out/tables/up.csv")" = ../../config.json

printf '%d passed, %d failed\n' "$PASS" "$FAIL"
((FAIL == 0))

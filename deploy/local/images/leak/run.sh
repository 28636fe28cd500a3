#!/bin/sh
# Prints and writes the secrets it is given, in every form a component might,
# for the tests that secrets never leave the worker (tests/e2e/test_secrets.sh):
#   SECRET        a secret (also a '#' value of the config): printed plain, in
#                 base64 and base64url, on stdout and stderr, and written to
#                 out/files/leak.txt
#   PEM           a multi-line secret: printed raw (line by line) and in base64
#   STATE_SECRET  a '#' value of the state: printed plain; written back to
#                 out/state.json under "#token"
#   LEAK_STATE    1: out/state.json also holds SECRET_SIMPLE under "copy" (a
#                 secret outside a '#' key)
#   SECRET_SIMPLE a secret without JSON-special characters, for LEAK_STATE
#   EXIT_CODE     the exit status (default 0; 1 makes the message quote the tail)
# Also prints config.json and in/state.json whole (they hold the JSON-escaped
# forms) and writes out/files/ok.txt, which holds no secret.
data="${KBC_DATADIR:-/data}"
data="${data%/}"
cat "$data/config.json"
echo
cat "$data/in/state.json"
echo
printf 'plain: %s\n' "$SECRET"
printf 'base64: %s\n' "$(printf %s "$SECRET" | base64 -w 0)"
printf 'base64url: %s\n' "$(printf %s "$SECRET" | base64 -w 0 | tr '+/' '-_' | tr -d =)"
printf '%s\n' "$PEM"
printf 'pem base64: %s\n' "$(printf %s "$PEM" | base64 -w 0)"
printf 'state: %s\n' "$STATE_SECRET"
printf 'on stderr: %s\n' "$SECRET" >&2
mkdir -p "$data/out/files"
printf 'token=%s\n' "$SECRET" >"$data/out/files/leak.txt"
printf 'clean\n' >"$data/out/files/ok.txt"
if [ "${LEAK_STATE:-0}" = 1 ]; then
  printf '{"#token": "%s", "copy": "%s"}\n' "$STATE_SECRET" "$SECRET_SIMPLE" >"$data/out/state.json"
else
  printf '{"#token": "%s", "runs": 1}\n' "$STATE_SECRET" >"$data/out/state.json"
fi
printf 'the end: %s\n' "$SECRET"
exit "${EXIT_CODE:-0}"

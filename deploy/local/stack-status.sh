#!/usr/bin/env bash
# One line per service of the local stack: up/down, address, pid, log.
# Exit status: 0 when everything is up, 1 otherwise.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

DOWN=0

# pid_desc PIDFILE [LISTENER_PID]: "1234" (started by stack-up.sh),
# "1234 (external)" (something else answers) or "-".
pid_desc() {
  local pid
  if pid="$(pid_of "$1")" && [[ -z "${2:-}" || "$2" == "$pid" ]]; then
    printf '%s\n' "$pid"
  elif [[ -n "${2:-}" ]]; then
    printf '%s (external)\n' "$2"
  else
    printf -- '-\n'
  fi
}

line() { # line NAME UP? ADDRESS PID LOG [NOTE]
  local state=up
  if [[ "$2" != 1 ]]; then
    state=down
    DOWN=1
  fi
  printf '%-9s %-5s %-34s pid %-16s log %s%s\n' "$1" "$state" "$3" "$4" "$5" "${6:+  ($6)}"
}

# ---- kafka
up=0 note=""
if kafka_up; then
  up=1
  json="$(kcat -b "$STACK_KAFKA_HOST:$STACK_KAFKA_PORT" -L -J -m 5 2>/dev/null || echo '{"topics":[]}')"
  have=0 want=0
  for t in $STACK_KAFKA_TOPICS; do
    want=$((want + 1))
    if jq -e --arg t "$t" 'any(.topics[]; .topic == $t)' <<<"$json" >/dev/null; then
      have=$((have + 1))
    fi
  done
  note="topics $have/$want"
  ((have == want)) || up=0
fi
line kafka "$up" "$STACK_KAFKA_HOST:$STACK_KAFKA_PORT" \
  "$(pid_desc "$STACK_RUN_DIR/kafka.pid" "$(listener_pid "$STACK_KAFKA_PORT")")" \
  "$STACK_LOG_DIR/kafka.log" "$note"

# ---- redis
up=0
redis_up && up=1
line redis "$up" "$STACK_REDIS_HOST:$STACK_REDIS_PORT" \
  "$(pid_desc "$STACK_RUN_DIR/redis.pid" "$(listener_pid "$STACK_REDIS_PORT")")" \
  "$STACK_LOG_DIR/redis.log"

# ---- docker
up=0 ext=""
docker_up && up=1
if [[ -s /var/run/docker.pid ]]; then ext="$(tr -dc '0-9' </var/run/docker.pid)"; fi
line docker "$up" "unix://$STACK_DOCKER_SOCKET" \
  "$(pid_desc "$STACK_RUN_DIR/dockerd.pid" "$ext")" "$STACK_LOG_DIR/dockerd.log"

# ---- registry
up=0 note=""
code="$(registry_http_code)"
case "$code" in
  200) up=1 ;;
  401) note="rejects user $STACK_REGISTRY_USER" ;;
esac
line registry "$up" "$STACK_REGISTRY" \
  "$(pid_desc "$STACK_RUN_DIR/registry.pid" "$(listener_pid "$STACK_REGISTRY_PORT")")" \
  "$STACK_LOG_DIR/registry.log" "$note"

# ---- test images in the registry
up=0 have=0 want=0 missing=()
if [[ "$code" == 200 ]]; then
  repo="$(image_repo_path)"
  for name in base $STACK_IMAGES; do
    want=$((want + 1))
    if registry_has_tag "$repo/$name" "$STACK_IMAGE_TAG"; then
      have=$((have + 1))
    else
      missing+=("$name")
    fi
  done
  ((have == want)) && up=1
fi
if [[ "$code" == 200 ]]; then
  note="$have/$want pushed${missing[*]:+, missing: ${missing[*]}}"
else
  note="registry not reachable"
fi
line images "$up" "$STACK_IMAGE_PREFIX/*:$STACK_IMAGE_TAG" - "$STACK_LOG_DIR/images.log" "$note"

# ---- s3
up=0 note=""
s3_code="$(s3_head_code)"
case "$s3_code" in
  200) up=1 note="bucket $STACK_S3_BUCKET, signed HeadBucket" ;;
  000) note="no answer or no keys" ;;
  *) note="HeadBucket $STACK_S3_BUCKET: HTTP $s3_code" ;;
esac
line s3 "$up" "$STACK_S3_ENDPOINT" \
  "$(pid_desc "$STACK_RUN_DIR/s3.pid" "$(listener_pid "$STACK_S3_PORT")")" \
  "$STACK_LOG_DIR/s3.log" "$note"

exit "$DOWN"

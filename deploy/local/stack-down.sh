#!/usr/bin/env bash
# Stops what stack-up.sh started (by the pid files in $STACK_RUN_DIR): the
# workers deploy/demo.sh started, Kafka,
# the registry, and Redis and dockerd only if stack-up.sh started them.
# Services that were already running before stack-up.sh are left alone.
# Idempotent.
#
# Usage: deploy/local/stack-down.sh [--purge]
#   --purge  also delete Kafka data, registry data and image stamps
#            (keeps the Maven/Kafka jar cache and the logs)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

purge=0
for arg in "$@"; do
  case "$arg" in
    --purge) purge=1 ;;
    -h | --help)
      sed -n '2,10p' "$0"
      exit 0
      ;;
    *) die "unknown argument: $arg (usage: stack-down.sh [--purge])" ;;
  esac
done

take_lock
# The workers deploy/demo.sh started drain first (their events need Kafka).
stop_pid demo-worker-1 "$STACK_RUN_DIR/demo-worker-1.pid" 60
stop_pid demo-worker-2 "$STACK_RUN_DIR/demo-worker-2.pid" 60
stop_pid kafka "$STACK_RUN_DIR/kafka.pid" 60
stop_pid registry "$STACK_RUN_DIR/registry.pid" 15
stop_pid s3 "$STACK_RUN_DIR/s3.pid" 15
stop_pid redis "$STACK_RUN_DIR/redis.pid" 15
# dockerd stops its containers first (up to their stop timeouts).
stop_pid dockerd "$STACK_RUN_DIR/dockerd.pid" 60

if ((purge)); then
  log "purging Kafka data, registry data and image stamps under $STACK_HOME"
  rm -rf "$STACK_HOME"/kafka/data-* "$STACK_KAFKA_DATA_DIR" \
    "$STACK_REGISTRY_DIR/data" "$STACK_HOME/images" "$STACK_HOME/redis" "$STACK_S3_DIR"
fi
rm -f "$STACK_HOME/stack.env"
log "down"

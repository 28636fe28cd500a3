#!/usr/bin/env bash
# The README's main-job command: installs what is needed, brings the local
# stack up, builds bundle-worker (plain build) and checks every service with
# `bundle-worker doctor`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BW_BUILD_DIR:-$root/build}

"$root/deploy/local/stack-up.sh"
stack_home=${STACK_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-worker}
# shellcheck source=/dev/null
source "$stack_home/stack.env"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target bundle-worker

# Point the worker at the stack (its ports may have been overridden).
export BUNDLE_WORKER_CONFIG=$root/deploy/config/local.conf
export BUNDLE_WORKER_KAFKA_BOOTSTRAP_SERVERS=$STACK_KAFKA_BOOTSTRAP
export BUNDLE_WORKER_REDIS_HOST=$STACK_REDIS_HOST
export BUNDLE_WORKER_REDIS_PORT=$STACK_REDIS_PORT
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET

echo "== bundle-worker doctor"
"$build/bundle-worker" doctor
echo
echo "The stack is still running; deploy/local/stack-status.sh shows it, deploy/local/stack-down.sh stops it."

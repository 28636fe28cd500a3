# shellcheck shell=bash
# Shared settings and helpers for deploy/local/*.sh. Sourced, never run.
#
# Every setting is an environment variable with a default; see README.md.

# shellcheck disable=SC2034 # used by the scripts that source this file
STACK_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# ---------------------------------------------------------------- settings --
: "${STACK_HOME:=${XDG_CACHE_HOME:-$HOME/.cache}/bundle-worker}"
: "${STACK_LOG_DIR:=$STACK_HOME/logs}"
: "${STACK_RUN_DIR:=$STACK_HOME/run}"

: "${STACK_JAVA:=}"
: "${STACK_MVN:=mvn}"
: "${STACK_KAFKA_VERSION:=4.1.0}"
: "${STACK_KAFKA_HOST:=127.0.0.1}"
: "${STACK_KAFKA_PORT:=9092}"
: "${STACK_KAFKA_CONTROLLER_PORT:=9093}"
: "${STACK_KAFKA_PARTITIONS:=6}"
: "${STACK_KAFKA_TOPICS:=bundle.runs bundle.events bundle.uploads bundle.runs.dlq}"
: "${STACK_KAFKA_HEAP:=512m}"
: "${STACK_KAFKA_JVM_OPTS:=}"
: "${STACK_M2_DIR:=$STACK_HOME/m2}"
: "${STACK_KAFKA_LIB_DIR:=$STACK_HOME/kafka/lib-$STACK_KAFKA_VERSION}"
: "${STACK_KAFKA_DATA_DIR:=$STACK_HOME/kafka/data-$STACK_KAFKA_VERSION}"
: "${STACK_KAFKA_TIMEOUT:=60}"

: "${STACK_REDIS_HOST:=127.0.0.1}"
: "${STACK_REDIS_PORT:=6379}"

: "${STACK_DOCKER_SOCKET:=/var/run/docker.sock}"
: "${STACK_DOCKER_CONFIG:=$STACK_HOME/docker-config}"
: "${STACK_DOCKERD_OPTS:=}"

: "${STACK_REGISTRY_HOST:=127.0.0.1}"
: "${STACK_REGISTRY_PORT:=5000}"
: "${STACK_REGISTRY_USER:=bundle}"
: "${STACK_REGISTRY_PASSWORD:=bundle-pass}"
: "${STACK_REGISTRY_DIR:=$STACK_HOME/registry}"
: "${STACK_REGISTRY:=$STACK_REGISTRY_HOST:$STACK_REGISTRY_PORT}"
: "${STACK_IMAGE_PREFIX:=$STACK_REGISTRY/bundle-test}"
: "${STACK_IMAGE_TAG:=1.0}"
: "${STACK_IMAGES:=exit sleep sample log-flood oom ignore-term print-secret out-symlink true print-lines write-out leak}"

: "${STACK_S3_HOST:=127.0.0.1}"
: "${STACK_S3_PORT:=9000}"
: "${STACK_S3_REGION:=us-east-1}"
: "${STACK_S3_BUCKET:=bundle-artifacts}"
: "${STACK_S3_DIR:=$STACK_HOME/s3}"
: "${STACK_MOTO_VERSION:=5.2.5}"
: "${STACK_MOTO_VENV:=$STACK_HOME/moto-$STACK_MOTO_VERSION}"
: "${STACK_S3_ENDPOINT:=http://$STACK_S3_HOST:$STACK_S3_PORT}"

: "${STACK_TIMEOUT:=30}"

# Debian's 20.10 client matches the engine; any client newer than that works too.
if [[ -z "${STACK_DOCKER_CLI:-}" ]]; then
  if [[ -x /usr/bin/docker ]]; then STACK_DOCKER_CLI=/usr/bin/docker; else STACK_DOCKER_CLI=docker; fi
fi

# ----------------------------------------------------------------- logging --
STACK_PROG="$(basename "$0" .sh)"

log() { printf '%s: %s\n' "$STACK_PROG" "$*" >&2; }
warn() { printf '%s: WARNING: %s\n' "$STACK_PROG" "$*" >&2; }
die() {
  printf '%s: ERROR: %s\n' "$STACK_PROG" "$*" >&2
  exit 1
}

# die_with_log SERVICE LOGFILE MESSAGE: fail naming the service and its log.
die_with_log() {
  local service=$1 logfile=$2 msg=$3
  printf '%s: ERROR: %s: %s\n' "$STACK_PROG" "$service" "$msg" >&2
  printf '%s: ERROR: %s log: %s\n' "$STACK_PROG" "$service" "$logfile" >&2
  if [[ -f "$logfile" ]]; then
    printf -- '----- last 20 lines of %s -----\n' "$logfile" >&2
    tail -n 20 "$logfile" >&2 || true
    printf -- '-----\n' >&2
  fi
  exit 1
}

# now_ms: wall clock in milliseconds (for timings in the summary).
now_ms() { date +%s%3N; }

# ------------------------------------------------------------- processes --
# pid_of PIDFILE: print the pid in PIDFILE if that process is alive and is
# still the service the file is named after (guards against recycled pids).
pid_of() {
  local pidfile=$1 pid pattern=""
  [[ -s "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  case "$(basename "$pidfile" .pid)" in
    kafka) pattern=kafka.Kafka ;;
    redis) pattern=redis-server ;;
    registry) pattern=docker-registry ;;
    dockerd) pattern=dockerd ;;
    s3) pattern=moto_server ;;
  esac
  if [[ -n "$pattern" && -r "/proc/$pid/cmdline" ]] &&
    ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern"; then
    return 1
  fi
  printf '%s\n' "$pid"
}

# stop_pid NAME PIDFILE [TIMEOUT]: SIGTERM, wait, SIGKILL; removes PIDFILE.
stop_pid() {
  local name=$1 pidfile=$2 timeout=${3:-30} pid i
  if ! pid="$(pid_of "$pidfile")"; then
    rm -f "$pidfile"
    log "$name: not running"
    return 0
  fi
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    warn "$name: pid $pid still alive after ${timeout}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
}

# listener_pid PORT: pid of the process listening on 127.0.0.1/any PORT (via ss).
listener_pid() {
  ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2
}

# wait_until SERVICE TIMEOUT LOGFILE PIDFILE CHECK...: poll CHECK until it
# succeeds; fail (naming SERVICE and LOGFILE) on timeout or if the process in
# PIDFILE (when given, non-empty) exits first.
wait_until() {
  local service=$1 timeout=$2 logfile=$3 pidfile=$4
  shift 4
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if "$@"; then return 0; fi
    if [[ -n "$pidfile" ]] && ! pid_of "$pidfile" >/dev/null; then
      "$@" && return 0
      die_with_log "$service" "$logfile" "process exited before it came up"
    fi
    sleep 0.2
  done
  die_with_log "$service" "$logfile" "did not come up within ${timeout}s"
}

# ------------------------------------------------------------ health checks --
# port_open HOST PORT: something accepts TCP connections (fails fast).
port_open() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

kafka_up() {
  port_open "$STACK_KAFKA_HOST" "$STACK_KAFKA_PORT" || return 1
  kcat -b "$STACK_KAFKA_HOST:$STACK_KAFKA_PORT" -L -m 2 -t __bundle_ping__ >/dev/null 2>&1
}

redis_up() {
  port_open "$STACK_REDIS_HOST" "$STACK_REDIS_PORT" || return 1
  [[ "$(timeout 3 redis-cli -h "$STACK_REDIS_HOST" -p "$STACK_REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}

docker_up() {
  [[ "$(curl -s -m 3 --unix-socket "$STACK_DOCKER_SOCKET" http://localhost/_ping 2>/dev/null)" == OK ]]
}

# s3_head_code: HTTP status of an authenticated HeadBucket of STACK_S3_BUCKET
# with the keys stack-up.sh made ($STACK_S3_DIR/keys.env); 000 when none.
# The secret goes to curl on standard input, never on its command line.
s3_head_code() {
  local keys="$STACK_S3_DIR/keys.env" id secret
  [[ -s "$keys" ]] || {
    echo 000
    return 0
  }
  id="$(sed -n 's/^STACK_S3_ACCESS_KEY_ID=//p' "$keys")"
  secret="$(sed -n 's/^STACK_S3_SECRET_ACCESS_KEY=//p' "$keys")"
  printf 'user = "%s:%s"\n' "$id" "$secret" |
    curl -s -m 3 -o /dev/null -w '%{http_code}' -K - -I \
      --aws-sigv4 "aws:amz:$STACK_S3_REGION:s3" \
      -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
      "$STACK_S3_ENDPOINT/$STACK_S3_BUCKET" 2>/dev/null || true
}

s3_up() {
  port_open "$STACK_S3_HOST" "$STACK_S3_PORT" && [[ "$(s3_head_code)" == 200 ]]
}

# registry_http_code: HTTP status of GET /v2/ with our credentials.
registry_http_code() {
  curl -s -m 3 -o /dev/null -w '%{http_code}' \
    -u "$STACK_REGISTRY_USER:$STACK_REGISTRY_PASSWORD" \
    "http://$STACK_REGISTRY/v2/" 2>/dev/null || true
}

# registry_up: something speaking the registry API answers (any auth result).
registry_up() {
  local code
  code="$(registry_http_code)"
  [[ "$code" == 200 || "$code" == 401 ]]
}

# registry_has_tag REPO TAG: the registry (with our credentials) has REPO:TAG.
registry_has_tag() {
  local code
  code="$(curl -s -m 5 -o /dev/null -w '%{http_code}' -I \
    -u "$STACK_REGISTRY_USER:$STACK_REGISTRY_PASSWORD" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
    "http://$STACK_REGISTRY/v2/$1/manifests/$2" 2>/dev/null || true)"
  [[ "$code" == 200 ]]
}

# ------------------------------------------------------------------ misc --
dockercli() {
  DOCKER_HOST="unix://$STACK_DOCKER_SOCKET" DOCKER_CONFIG="$STACK_DOCKER_CONFIG" \
    "$STACK_DOCKER_CLI" "$@"
}

find_java() {
  if [[ -n "$STACK_JAVA" ]]; then
    printf '%s\n' "$STACK_JAVA"
  elif [[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]]; then
    printf '%s\n' /usr/lib/jvm/java-17-openjdk-amd64/bin/java
  else
    command -v java || die "java not found (set STACK_JAVA)"
  fi
}

# The registry path part of STACK_IMAGE_PREFIX, e.g. "bundle-test".
image_repo_path() {
  local prefix=$STACK_IMAGE_PREFIX
  printf '%s\n' "${prefix#"$STACK_REGISTRY"/}"
}

ensure_dirs() {
  mkdir -p "$STACK_HOME" "$STACK_LOG_DIR" "$STACK_RUN_DIR"
}

# take_lock: serialize stack-up/stack-down runs (e.g. parallel test scripts).
# Holds fd 9 until the script exits; services started meanwhile must be
# launched with 9>&- so they do not inherit (and keep) the lock.
take_lock() {
  ensure_dirs
  exec 9>"$STACK_RUN_DIR/stack.lock"
  if ! flock -n 9; then
    log "waiting for another stack-up/stack-down (lock $STACK_RUN_DIR/stack.lock)"
    flock -w "${STACK_LOCK_TIMEOUT:-600}" 9 || die "could not get $STACK_RUN_DIR/stack.lock"
  fi
}

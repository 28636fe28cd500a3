#!/usr/bin/env bash
# The program's surface: help, version, configuration errors, doctor.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_stack STACK_KAFKA_BOOTSTRAP STACK_REDIS_HOST STACK_REDIS_PORT STACK_DOCKER_SOCKET \
  STACK_REGISTRY_USER STACK_REGISTRY_PASSWORD

unset BUNDLE_WORKER_CONFIG
run_bw --help
check "--help lists the commands" eval '[ $rc -eq 0 ] && has "$out" doctor && has "$out" config'
run_bw --version
check "--version prints the version" eval '[ $rc -eq 0 ] && has "$out" "bundle-worker "'
for cmd in doctor config; do
  run_bw "$cmd" --help
  check "$cmd --help" eval '[ $rc -eq 0 ] && has "$out" "usage: bundle-worker $cmd"'
  run_bw "$cmd" --version
  check "$cmd --version" eval '[ $rc -eq 0 ] && has "$out" "bundle-worker "'
done
run_bw
check "no command: usage on stderr, exit 2" eval '[ $rc -eq 2 ] && has "$err" usage'
run_bw frobnicate
check "unknown command" eval '[ $rc -eq 2 ] && has "$err" "unknown command '"'"'frobnicate'"'"'"'
run_bw doctor --bogus
check "unknown option" eval '[ $rc -eq 2 ] && has "$err" "unknown option"'

# Configuration errors name the file and line, or the variable.
printf 'log.level = info\n\nredis.port = seventy\n' >"$work/bad.conf"
run_bw config -c "$work/bad.conf"
check "bad value names file:line and key" eval \
  '[ $rc -eq 2 ] && has "$err" "$work/bad.conf:3: redis.port: expected an integer from 1 to 65535, got '"'"'seventy'"'"'" && [ $(lines "$err") -eq 1 ]'
printf 'no.such.key = 1\n' >"$work/unknown.conf"
run_bw doctor -c "$work/unknown.conf"
check "unknown key names file:line" eval '[ $rc -eq 2 ] && has "$err" "unknown.conf:1: unknown key '"'"'no.such.key'"'"'"'
printf 'kafka.acks = banana\n' >"$work/kafka.conf"
run_bw config -c "$work/kafka.conf"
check "bad kafka value is checked by librdkafka" eval '[ $rc -eq 2 ] && has "$err" "kafka.conf:1: kafka.acks"'
run_bw config -c "$work/missing.conf"
check "missing config file" eval '[ $rc -eq 2 ] && has "$err" "missing.conf: No such file or directory"'
BUNDLE_WORKER_REDIS_PORTT=1 run_bw config
check "unknown environment key" eval '[ $rc -eq 2 ] && has "$err" "environment BUNDLE_WORKER_REDIS_PORTT"'
BUNDLE_WORKER_REDIS_PORT=7001 run_bw config --set worker.slots=5
check "environment and --set apply" eval \
  '[ $rc -eq 0 ] && has "$out" "redis.port = 7001    # from environment BUNDLE_WORKER_REDIS_PORT" && has "$out" "worker.slots = 5    # from --set"'
BUNDLE_WORKER_REDIS_PASSWORD=hunter2 run_bw config
check "secrets are hidden" eval '[ $rc -eq 0 ] && ! has "$out" hunter2 && has "$out" "redis.password = [hidden]"'

# doctor against the real stack.
export BUNDLE_WORKER_CONFIG=$src/deploy/config/local.conf
export BUNDLE_WORKER_KAFKA_BOOTSTRAP_SERVERS=$STACK_KAFKA_BOOTSTRAP
export BUNDLE_WORKER_REDIS_HOST=$STACK_REDIS_HOST BUNDLE_WORKER_REDIS_PORT=$STACK_REDIS_PORT
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET
run_bw doctor
check "doctor: every check ok" eval '[ $rc -eq 0 ] && ! has "$out" FAIL && has "$out" "ok    kafka" && has "$out" "ok    redis" && has "$out" "ok    docker" && has "$out" "ok    registry"'
check "doctor: registry check is authenticated" eval 'has "$out" "authenticated"'

run_bw doctor --set docker.socket=/nonexistent.sock
check "doctor: missing docker socket fails with the reason" eval \
  '[ $rc -eq 1 ] && has "$out" "FAIL  docker" && has "$out" "/nonexistent.sock"'
run_bw doctor --set redis.port=1 --timeout 2000
check "doctor: unreachable redis" eval '[ $rc -eq 1 ] && has "$out" "FAIL  redis" && has "$out" "127.0.0.1:1"'
run_bw doctor --set kafka.bootstrap.servers=127.0.0.1:1 --timeout 2000
check "doctor: unreachable kafka" eval '[ $rc -eq 1 ] && has "$out" "FAIL  kafka"'
STACK_REGISTRY_PASSWORD=wrong run_bw doctor
check "doctor: wrong registry password" eval '[ $rc -eq 1 ] && has "$out" "FAIL  registry" && has "$out" unauthorized && ! has "$out" "wrong"'

finish

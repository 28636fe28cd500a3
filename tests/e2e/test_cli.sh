#!/usr/bin/env bash
# The program's surface: help, version, configuration errors, doctor.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_stack STACK_KAFKA_BOOTSTRAP STACK_REDIS_HOST STACK_REDIS_PORT STACK_DOCKER_SOCKET \
  STACK_REGISTRY_USER STACK_REGISTRY_PASSWORD

unset BUNDLE_WORKER_CONFIG
run_bw --help
help_lists_the_commands() { [ "$rc" -eq 0 ] && has "$out" doctor && has "$out" config; }
check "--help lists the commands" help_lists_the_commands
run_bw --version
version_prints_the_version() { [ "$rc" -eq 0 ] && has "$out" "bundle-worker "; }
check "--version prints the version" version_prints_the_version
for cmd in doctor config; do
  run_bw "$cmd" --help
  command_help_shows_its_usage() { [ "$rc" -eq 0 ] && has "$out" "usage: bundle-worker $cmd"; }
  check "$cmd --help" command_help_shows_its_usage
  run_bw "$cmd" --version
  command_prints_the_version() { [ "$rc" -eq 0 ] && has "$out" "bundle-worker "; }
  check "$cmd --version" command_prints_the_version
done
run_bw
no_command_usage_on_stderr_exit_2() { [ "$rc" -eq 2 ] && has "$err" usage; }
check "no command: usage on stderr, exit 2" no_command_usage_on_stderr_exit_2
run_bw frobnicate
unknown_command() { [ "$rc" -eq 2 ] && has "$err" "unknown command 'frobnicate'"; }
check "unknown command" unknown_command
run_bw doctor --bogus
unknown_option() { [ "$rc" -eq 2 ] && has "$err" "unknown option"; }
check "unknown option" unknown_option

# Configuration errors name the file and line, or the variable.
printf 'log.level = info\n\nredis.port = seventy\n' >"$work/bad.conf"
run_bw config -c "$work/bad.conf"
bad_value_names_file_line_and_key() { [ "$rc" -eq 2 ] && has "$err" "$work/bad.conf:3: redis.port: expected an integer from 1 to 65535, got 'seventy'" && [ "$(lines "$err")" -eq 1 ]; }
check "bad value names file:line and key" bad_value_names_file_line_and_key
printf 'no.such.key = 1\n' >"$work/unknown.conf"
run_bw doctor -c "$work/unknown.conf"
unknown_key_names_file_line() { [ "$rc" -eq 2 ] && has "$err" "unknown.conf:1: unknown key 'no.such.key'"; }
check "unknown key names file:line" unknown_key_names_file_line
printf 'kafka.acks = banana\n' >"$work/kafka.conf"
run_bw config -c "$work/kafka.conf"
bad_kafka_value_is_checked_by_librdkafka() { [ "$rc" -eq 2 ] && has "$err" "kafka.conf:1: kafka.acks"; }
check "bad kafka value is checked by librdkafka" bad_kafka_value_is_checked_by_librdkafka
run_bw config -c "$work/missing.conf"
missing_config_file() { [ "$rc" -eq 2 ] && has "$err" "missing.conf: No such file or directory"; }
check "missing config file" missing_config_file
BUNDLE_WORKER_REDIS_PORTT=1 run_bw config
unknown_environment_key() { [ "$rc" -eq 2 ] && has "$err" "environment BUNDLE_WORKER_REDIS_PORTT"; }
check "unknown environment key" unknown_environment_key
BUNDLE_WORKER_REDIS_PORT=7001 run_bw config --set worker.slots=5
environment_and_set_apply() { [ "$rc" -eq 0 ] && has "$out" "redis.port = 7001    # from environment BUNDLE_WORKER_REDIS_PORT" && has "$out" "worker.slots = 5    # from --set"; }
check "environment and --set apply" environment_and_set_apply
BUNDLE_WORKER_REDIS_PASSWORD=hunter2 run_bw config
secrets_are_hidden() { [ "$rc" -eq 0 ] && ! has "$out" hunter2 && has "$out" "redis.password = [hidden]"; }
check "secrets are hidden" secrets_are_hidden

# doctor against the real stack.
export BUNDLE_WORKER_CONFIG=$src/deploy/config/local.conf
export BUNDLE_WORKER_KAFKA_BOOTSTRAP_SERVERS=$STACK_KAFKA_BOOTSTRAP
export BUNDLE_WORKER_REDIS_HOST=$STACK_REDIS_HOST BUNDLE_WORKER_REDIS_PORT=$STACK_REDIS_PORT
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET
run_bw doctor
doctor_every_check_ok() { [ "$rc" -eq 0 ] && ! has "$out" FAIL && has "$out" "ok    kafka" && has "$out" "ok    redis" && has "$out" "ok    docker" && has "$out" "ok    registry"; }
check "doctor: every check ok" doctor_every_check_ok
doctor_registry_check_is_authenticated() { has "$out" "authenticated"; }
check "doctor: registry check is authenticated" doctor_registry_check_is_authenticated

run_bw doctor --set docker.socket=/nonexistent.sock
doctor_missing_docker_socket_fails_with() { [ "$rc" -eq 1 ] && has "$out" "FAIL  docker" && has "$out" "/nonexistent.sock"; }
check "doctor: missing docker socket fails with the reason" doctor_missing_docker_socket_fails_with
run_bw doctor --set redis.port=1 --timeout 2000
doctor_unreachable_redis() { [ "$rc" -eq 1 ] && has "$out" "FAIL  redis" && has "$out" "127.0.0.1:1"; }
check "doctor: unreachable redis" doctor_unreachable_redis
run_bw doctor --set kafka.bootstrap.servers=127.0.0.1:1 --timeout 2000
doctor_unreachable_kafka() { [ "$rc" -eq 1 ] && has "$out" "FAIL  kafka"; }
check "doctor: unreachable kafka" doctor_unreachable_kafka
STACK_REGISTRY_PASSWORD=wrong run_bw doctor
doctor_wrong_registry_password() { [ "$rc" -eq 1 ] && has "$out" "FAIL  registry" && has "$out" unauthorized && ! has "$out" "wrong"; }
check "doctor: wrong registry password" doctor_wrong_registry_password

# doctor against the stack's S3 server: an authenticated HeadBucket.
s3_set=(--set "artifacts.url=s3://$STACK_S3_BUCKET/doctor" --set "artifacts.s3.endpoint=$STACK_S3_ENDPOINT"
  --set artifacts.s3.access.key.env=STACK_S3_ACCESS_KEY_ID --set artifacts.s3.secret.key.env=STACK_S3_SECRET_ACCESS_KEY)
run_bw doctor "${s3_set[@]}"
doctor_s3_head_bucket_ok() { [ "$rc" -eq 0 ] && has "$out" "ok    artifacts  s3://$STACK_S3_BUCKET/doctor: HeadBucket ok"; }
check "doctor: s3 store, authenticated HeadBucket" doctor_s3_head_bucket_ok
BW_TEST_WRONG_SECRET=not-the-s3-secret-42 run_bw doctor "${s3_set[@]}" --set artifacts.s3.secret.key.env=BW_TEST_WRONG_SECRET
doctor_s3_wrong_secret() { [ "$rc" -eq 1 ] && has "$out" "FAIL  artifacts" && has "$out" "HTTP 403 (forbidden: a wrong key or secret" && ! has "$out" not-the-s3-secret-42; }
check "doctor: s3 wrong secret names the status, never the secret" doctor_s3_wrong_secret
run_bw doctor "${s3_set[@]}" --set artifacts.url=s3://no-such-bucket-bw/x
doctor_s3_missing_bucket() { [ "$rc" -eq 1 ] && has "$out" "FAIL  artifacts" && has "$out" "no-such-bucket-bw" && has "$out" "HTTP 404"; }
check "doctor: s3 missing bucket" doctor_s3_missing_bucket

finish

/* What the integration tests know of the local stack: the STACK_* variables
 * that deploy/local/stack-up.sh writes to $STACK_HOME/stack.env. A missing
 * variable fails the test: nothing here passes by skipping. */
#pragma once

#include "core/config.h"

#include <hiredis/hiredis.h>

/* The variable's value; fails the running cmocka test when it is unset. */
const char *stack_env(const char *name);
/* A bw_config pointed at the stack (Kafka, Redis, Docker socket). */
void stack_config(bw_config *cfg);
/* "127.0.0.1:5000/bundle-test/NAME:1.0" */
char *stack_image(const char *name);

/* The Redis fixture of the tests that use Redis: a key prefix of their own
 * ("bwtest:PID:N:", a new N at each call), a connection of the test's own
 * for checks (fails the test when Redis is down), and, at the end, every key
 * under the prefix deleted and the connection closed. */
char *stack_redis_prefix(void);
redisContext *stack_redis_connect(const bw_config *cfg);
void stack_redis_cleanup(redisContext *ctx, const char *prefix);

/* cfg's artifacts.s3.* pointed at the stack's S3 server (moto, signatures
 * checked), with the user's keys named by reference (STACK_S3_ACCESS_KEY_ID,
 * STACK_S3_SECRET_ACCESS_KEY) and part size `part_size` (0: the default). */
void stack_s3_config(bw_config *cfg, long part_size);
/* The output of `python tests/tools/s3_check.py ARGS` (the independent
 * reader, boto3), run with the stack's moto environment; fails the test on
 * a non-zero exit. free() it. */
char *stack_s3_check(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

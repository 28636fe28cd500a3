/* What the integration tests know of the local stack: the STACK_* variables
 * that deploy/local/stack-up.sh writes to $STACK_HOME/stack.env. A missing
 * variable fails the test: nothing here passes by skipping. */
#pragma once

#include "core/config.h"

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

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

/* Kafka clients and topics of the test's own (the Kafka tests' helpers that
 * read topics back are in kafka_fixture.h). A client of plain librdkafka on
 * the stack's broker; a consumer is of the group "bw-test-reader", reads by
 * assignment and commits nothing. Fails the test when it cannot be made. */
rd_kafka_t *stack_kafka_client(rd_kafka_type_t type);
/* Creates the topic (max_message_bytes: its max.message.bytes, NULL: the
 * broker's), and returns once the broker's metadata (asked, not cached) gives
 * every partition a leader. A topic made here that the test does not delete
 * with stack_topic_delete (its setup failed half way, say) is deleted when
 * the process exits. Failures fail the test. */
void stack_topic_create(rd_kafka_t *admin, const char *name, int partitions,
                        const char *max_message_bytes);
void stack_topic_delete(rd_kafka_t *admin, const char *name);
/* Deletes the records of topic/partition before offset `before` (retention
 * does the same from the start of a partition). */
void stack_topic_delete_records(rd_kafka_t *admin, const char *topic, int32_t partition,
                                int64_t before);

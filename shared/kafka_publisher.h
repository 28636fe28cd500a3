/* Everything the worker sends to Kafka: pipeline events (key = job_id, on
 * topic.events; artifact.uploaded also on topic.uploads) and dead letters
 * (topic.dlq). Idempotent producer, acks=all, no message timeout: during a
 * broker outage events queue up and go out when it is back, none is dropped.
 * Delivery reports are served by kafka_publisher_poll() on the caller's
 * thread (the worker's main loop) and handed to on_delivered with the opaque
 * pointer given at send time. */
#pragma once

#include "config.h"
#include "error.h"
#include "log.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdint.h>

typedef void (*kafka_delivered_fn)(void *ctx, void *opaque, rd_kafka_resp_err_t err);

typedef struct kafka_publisher {
  const bw_logger *log; /* first: librdkafka's log callback reads it (kafka_conf_new) */
  rd_kafka_t *rk;
  const bw_config *cfg;
  kafka_delivered_fn on_delivered;
  void *ctx;
  atomic_uint_fast64_t sent;
  atomic_uint_fast64_t failed;
} kafka_publisher;

int kafka_publisher_new(const bw_config *cfg, const bw_logger *log, kafka_delivered_fn on_delivered,
                        void *ctx, kafka_publisher **out, bw_error_t *err);
/* Thread-safe. Waits (without polling) while the local queue is full. */
int kafka_publisher_event(kafka_publisher *p, const char *type, const char *job_id,
                          const char *json, size_t len, void *opaque, bw_error_t *err);
/* The original message's bytes, key and headers, plus dlq.* headers naming
 * the reason, the source topic/partition/offset, the worker and the time. */
int kafka_publisher_dead_letter(kafka_publisher *p, const rd_kafka_message_t *original,
                                const char *reason, void *opaque, bw_error_t *err);
void kafka_publisher_poll(kafka_publisher *p, int timeout_ms);
/* Waits until everything queued was delivered (or timeout); returns what is left. */
int kafka_publisher_flush(kafka_publisher *p, int timeout_ms);
void kafka_publisher_free(kafka_publisher *p);

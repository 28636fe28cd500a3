/* Everything the worker sends to Kafka: pipeline events (key = job_id, on
 * topic.events; artifact.uploaded also on topic.uploads) and dead letters
 * (topic.dlq). Idempotent producer, acks=all, no message timeout: during a
 * broker outage events queue up and go out when it is back, none is dropped.
 * Delivery reports are served by kafka_publisher_poll() on the caller's
 * thread (the worker's main loop) and handed to on_delivered with the opaque
 * pointer given at send time. */
#pragma once

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"

#include "core/cancel.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define KAFKA_PUBLISH_WAIT_MAX_MS 60000

typedef void (*kafka_delivered_fn)(void *ctx, void *opaque, rd_kafka_resp_err_t err);

typedef struct kafka_publisher {
  const bw_logger *log; /* first: librdkafka's log callback reads it (kafka_conf_new) */
  rd_kafka_t *rk;
  const bw_config *cfg;
  kafka_delivered_fn on_delivered;
  void *ctx;
  atomic_uint_fast64_t sent;
  atomic_uint_fast64_t failed;
  size_t max_message_bytes; /* the producer's message.max.bytes */
  /* The thread that serves delivery reports (kafka_publisher_poll): while
   * the local queue is full, only it may poll; others wait for it. */
  pthread_t poller;
  atomic_bool poller_known;
  /* Gives up waiting on a full queue when raised (a kill-now shutdown); may
   * be NULL. */
  const bw_cancel *stop;
} kafka_publisher;

int kafka_publisher_new(const bw_config *cfg, const bw_logger *log, kafka_delivered_fn on_delivered,
                        void *ctx, kafka_publisher **out, bw_error_t *err);
/* Thread-safe. While the local queue is full (a broker outage), the polling
 * thread serves delivery reports and others wait, at most
 * KAFKA_PUBLISH_WAIT_MAX_MS, or until stop is raised: then BW_ERR_UNAVAILABLE.
 * An event larger than the producer's message.max.bytes is BW_ERR_INVALID:
 * it can never be sent, so trying again is no use. */
int kafka_publisher_event(kafka_publisher *p, const char *type, const char *job_id,
                          const char *json, size_t len, void *opaque, bw_error_t *err);
/* How much of the original a dead letter carries. */
typedef enum kafka_dlq_copy {
  /* The original's bytes, key and headers when the record fits the
   * producer's message.max.bytes; else its bytes cut to fit (dlq.truncated). */
  KAFKA_DLQ_WHOLE,
  /* Only the headers of the worker (the fallback when even a cut copy was
   * refused, by a topic's max.message.bytes say). */
  KAFKA_DLQ_MINIMAL,
} kafka_dlq_copy;

/* The original message (as the form allows), plus dlq.* headers naming the
 * reason, the source topic/partition/offset, the worker and the time; a copy
 * that is not whole also says dlq.truncated=true, dlq.original.bytes and
 * dlq.original.sha256, so nothing is lost: the original stays in its topic
 * under retention, found by the dlq.source.* headers (replay fetches it from
 * there, ops/replay_run.h). *truncated (may be NULL) says whether it is. */
int kafka_publisher_dead_letter(kafka_publisher *p, const rd_kafka_message_t *original,
                                const char *reason, kafka_dlq_copy form, void *opaque,
                                bool *truncated, bw_error_t *err);
void kafka_publisher_poll(kafka_publisher *p, int timeout_ms);
/* Waits until everything queued was delivered (or timeout); returns what is left. */
int kafka_publisher_flush(kafka_publisher *p, int timeout_ms);
void kafka_publisher_free(kafka_publisher *p);

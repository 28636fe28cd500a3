#include "kafka_publisher.h"

#include "cleanup.h"
#include "kafka_client.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  kafka_publisher *p = opaque;
  if (m->err) {
    atomic_fetch_add(&p->failed, 1);
    bw_log_fields(p->log, BW_LOG_ERROR, "kafka: a message was not delivered", "topic",
                  rd_kafka_topic_name(m->rkt), "error", rd_kafka_err2str(m->err), NULL);
  }
  if (m->_private && p->on_delivered)
    p->on_delivered(p->ctx, m->_private, m->err);
}

int kafka_publisher_new(const bw_config *cfg, const bw_logger *log, kafka_delivered_fn on_delivered,
                        void *ctx, kafka_publisher **out, bw_error_t *err) {
  kafka_publisher *p = calloc(1, sizeof(*p));
  if (!p)
    abort();
  p->cfg = cfg;
  p->log = log;
  p->on_delivered = on_delivered;
  p->ctx = ctx;
  rd_kafka_conf_t *conf = NULL;
  if (kafka_conf_new(cfg, &p->log, &conf, err) < 0)
    goto fail;
  /* Defaults that keep every event; a kafka.* key may still override them. */
  static const char *const defaults[][2] = {
      {"enable.idempotence", "true"}, {"acks", "all"},
      {"message.timeout.ms", "0"},    {"linger.ms", "5"},
      {"compression.type", "lz4"},    {"partitioner", KAFKA_PARTITIONER}};
  for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
    if (!bw_config_kafka_get(cfg, defaults[i][0]) &&
        kafka_conf_set(conf, defaults[i][0], defaults[i][1], err) < 0) {
      rd_kafka_conf_destroy(conf);
      goto fail;
    }
  }
  rd_kafka_conf_set_opaque(conf, p); /* p->log comes first, as the log callback needs */
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  if (kafka_client_new(RD_KAFKA_PRODUCER, conf, &p->rk, err) < 0)
    goto fail;
  *out = p;
  return 0;
fail:
  free(p);
  return bw_error_prefix(err, "kafka producer");
}

static int produce(kafka_publisher *p, const char *topic, const char *key, const void *value,
                   size_t len, rd_kafka_headers_t *headers, void *opaque, bw_error_t *err) {
  for (;;) {
    rd_kafka_headers_t *h = headers ? rd_kafka_headers_copy(headers) : NULL;
    rd_kafka_resp_err_t rc = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (rc == RD_KAFKA_RESP_ERR_NO_ERROR) {
      atomic_fetch_add(&p->sent, 1);
      return 0;
    }
    if (h)
      rd_kafka_headers_destroy(h);
    if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: produce to %s: %s", topic,
                          rd_kafka_err2str(rc));
    /* Back-pressure: the main loop's poll frees the queue. */
    bw_time_sleep_ms(10, NULL);
  }
}

int kafka_publisher_event(kafka_publisher *p, const char *type, const char *job_id,
                          const char *json, size_t len, void *opaque, bw_error_t *err) {
  if (strcmp(type, "artifact.uploaded") == 0 &&
      produce(p, p->cfg->topic_uploads, job_id, json, len, NULL, NULL, err) < 0)
    return -1;
  return produce(p, p->cfg->topic_events, job_id, json, len, NULL, opaque, err);
}

int kafka_publisher_dead_letter(kafka_publisher *p, const rd_kafka_message_t *original,
                                const char *reason, void *opaque, bw_error_t *err) {
  rd_kafka_headers_t *orig = NULL;
  rd_kafka_headers_t *headers = NULL;
  if (rd_kafka_message_headers(original, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
    headers = rd_kafka_headers_copy(orig);
  else
    headers = rd_kafka_headers_new(8);
  char ts[BW_RFC3339_LEN], partition[16], offset[32];
  bw_time_rfc3339_now(ts);
  snprintf(partition, sizeof(partition), "%d", (int)original->partition);
  snprintf(offset, sizeof(offset), "%lld", (long long)original->offset);
  rd_kafka_header_add(headers, "dlq.reason", -1, reason, -1);
  rd_kafka_header_add(headers, "dlq.source.topic", -1, rd_kafka_topic_name(original->rkt), -1);
  rd_kafka_header_add(headers, "dlq.source.partition", -1, partition, -1);
  rd_kafka_header_add(headers, "dlq.source.offset", -1, offset, -1);
  rd_kafka_header_add(headers, "dlq.worker", -1, p->cfg->worker_id, -1);
  rd_kafka_header_add(headers, "dlq.time", -1, ts, -1);
  cleanup_free char *key = original->key ? bw_strdup_bytes(original->key, original->key_len) : NULL;
  int rc =
      produce(p, p->cfg->topic_dlq, key, original->payload, original->len, headers, opaque, err);
  rd_kafka_headers_destroy(headers);
  return rc;
}

void kafka_publisher_poll(kafka_publisher *p, int timeout_ms) {
  rd_kafka_poll(p->rk, timeout_ms);
}

int kafka_publisher_flush(kafka_publisher *p, int timeout_ms) {
  rd_kafka_flush(p->rk, timeout_ms);
  return rd_kafka_outq_len(p->rk);
}

void kafka_publisher_free(kafka_publisher *p) {
  if (!p)
    return;
  if (p->rk)
    rd_kafka_destroy(p->rk);
  free(p);
}

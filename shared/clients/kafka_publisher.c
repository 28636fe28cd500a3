#include "clients/kafka_publisher.h"

#include "core/cleanup.h"
#include "core/digest.h"
#include "clients/kafka_client.h"
#include "core/timeutil.h"

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
  kafka_publisher *p = bw_xcalloc(1, sizeof(*p));
  p->cfg = cfg;
  p->log = log;
  p->on_delivered = on_delivered;
  p->ctx = ctx;
  rd_kafka_conf_t *conf = NULL;
  if (kafka_conf_new(cfg, &p->log, &conf, err) < 0)
    goto fail;
  /* Defaults that keep every event; a kafka.* key may still override them. */
  static const char *const defaults[][2] = {
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"message.timeout.ms", "0"},
      {"linger.ms", "5"},
      {"compression.type", "lz4"},
      {"partitioner", KAFKA_PARTITIONER},
      /* A bounded local queue (librdkafka's default is 1 GB): in a broker
       * outage producers then wait (back-pressure on the jobs), memory does
       * not grow; job.finished is safe in the outbox meanwhile. */
      {"queue.buffering.max.kbytes", "4096"},
      {"queue.buffering.max.messages", "4096"}};
  for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
    if (!bw_config_kafka_get(cfg, defaults[i][0]) &&
        kafka_conf_set(conf, defaults[i][0], defaults[i][1], err) < 0) {
      rd_kafka_conf_destroy(conf);
      goto fail;
    }
  }
  char max[32] = "";
  size_t max_len = sizeof(max);
  p->max_message_bytes = 1000000; /* librdkafka's default */
  if (rd_kafka_conf_get(conf, "message.max.bytes", max, &max_len) == RD_KAFKA_CONF_OK)
    p->max_message_bytes = (size_t)strtoull(max, NULL, 10);
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

static bool on_poller(kafka_publisher *p) {
  return atomic_load(&p->poller_known) && pthread_equal(p->poller, pthread_self());
}

static int produce(kafka_publisher *p, const char *topic, const char *key, const void *value,
                   size_t len, rd_kafka_headers_t *headers, void *opaque, bw_error_t *err) {
  int64_t deadline = bw_time_monotonic_ms() + KAFKA_PUBLISH_WAIT_MAX_MS;
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
    /* Too large for message.max.bytes: it never fits, so trying again is no use. */
    if (rc == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
      return bw_error_set(err, BW_ERR_INVALID, "kafka: produce to %s: %s (%zu bytes)", topic,
                          rd_kafka_err2str(rc), len);
    if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: produce to %s: %s", topic,
                          rd_kafka_err2str(rc));
    if (bw_cancel_level(p->stop) || bw_time_monotonic_ms() >= deadline)
      return bw_error_set(err, BW_ERR_UNAVAILABLE,
                          "kafka: produce to %s: the local queue stayed full (is the broker "
                          "down?)",
                          topic);
    /* Back-pressure: deliveries free the queue. The polling thread serves
     * them itself (as kcat does); any other waits for it to. */
    if (on_poller(p))
      rd_kafka_poll(p->rk, 10);
    else
      bw_time_sleep_ms(10, p->stop);
  }
}

int kafka_publisher_event(kafka_publisher *p, const char *type, const char *job_id,
                          const char *json, size_t len, void *opaque, bw_error_t *err) {
  if (strcmp(type, "artifact.uploaded") == 0 &&
      produce(p, p->cfg->topic_uploads, job_id, json, len, NULL, NULL, err) < 0)
    return -1;
  return produce(p, p->cfg->topic_events, job_id, json, len, NULL, opaque, err);
}

/* What librdkafka counts against message.max.bytes beyond key, value and
 * headers (record and batch framing), with room to spare. */
#define RECORD_OVERHEAD 1024
#define DLQ_REASON_MAX 4096

static size_t headers_size(const rd_kafka_headers_t *h) {
  size_t total = 0;
  const char *name;
  const void *value;
  size_t len;
  for (size_t i = 0; h && rd_kafka_header_get_all(h, i, &name, &value, &len) == 0; i++)
    total += strlen(name) + len + 16;
  return total;
}

int kafka_publisher_dead_letter(kafka_publisher *p, const rd_kafka_message_t *original,
                                const char *reason, kafka_dlq_copy form, void *opaque,
                                bool *truncated, bw_error_t *err) {
  rd_kafka_headers_t *orig = NULL;
  rd_kafka_headers_t *headers = NULL;
  if (form == KAFKA_DLQ_WHOLE &&
      rd_kafka_message_headers(original, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
    headers = rd_kafka_headers_copy(orig);
  else
    headers = rd_kafka_headers_new(8);
  char ts[BW_RFC3339_LEN], partition[16], offset[32];
  bw_time_rfc3339_now(ts);
  snprintf(partition, sizeof(partition), "%d", (int)original->partition);
  snprintf(offset, sizeof(offset), "%lld", (long long)original->offset);
  size_t reason_len = strlen(reason) < DLQ_REASON_MAX ? strlen(reason) : DLQ_REASON_MAX;
  rd_kafka_header_add(headers, "dlq.reason", -1, reason, (ssize_t)reason_len);
  rd_kafka_header_add(headers, "dlq.source.topic", -1, rd_kafka_topic_name(original->rkt), -1);
  rd_kafka_header_add(headers, "dlq.source.partition", -1, partition, -1);
  rd_kafka_header_add(headers, "dlq.source.offset", -1, offset, -1);
  rd_kafka_header_add(headers, "dlq.worker", -1, p->cfg->worker_id, -1);
  rd_kafka_header_add(headers, "dlq.time", -1, ts, -1);
  cleanup_free char *key = (original->key && form == KAFKA_DLQ_WHOLE)
                               ? bw_strdup_bytes(original->key, original->key_len)
                               : NULL;
  size_t key_len = key ? original->key_len : 0;
  /* Cut the bytes when the whole copy would not fit (or the form says none),
   * and say what the original was. */
  size_t value_len = form == KAFKA_DLQ_WHOLE ? original->len : 0;
  size_t fixed = key_len + headers_size(headers) + RECORD_OVERHEAD + 256;
  if (value_len + fixed > p->max_message_bytes)
    value_len = p->max_message_bytes > fixed ? p->max_message_bytes - fixed : 0;
  bool cut = value_len < original->len;
  if (cut) {
    char size[32], sha[DIGEST_SHA256_HEX_LEN + 1] = "";
    snprintf(size, sizeof(size), "%zu", original->len);
    digest_sha256_buf(original->payload ? original->payload : "", original->len, sha, NULL);
    rd_kafka_header_add(headers, "dlq.truncated", -1, "true", -1);
    rd_kafka_header_add(headers, "dlq.original.bytes", -1, size, -1);
    rd_kafka_header_add(headers, "dlq.original.sha256", -1, sha, -1);
  }
  if (truncated)
    *truncated = cut;
  int rc = produce(p, p->cfg->topic_dlq, key, original->payload, value_len, headers, opaque, err);
  rd_kafka_headers_destroy(headers);
  return rc;
}

void kafka_publisher_poll(kafka_publisher *p, int timeout_ms) {
  if (!atomic_load(&p->poller_known)) {
    p->poller = pthread_self();
    atomic_store(&p->poller_known, true);
  }
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

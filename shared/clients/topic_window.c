#include "clients/topic_window.h"

#include "core/cleanup.h"
#include "clients/kafka_client.h"
#include "core/timeutil.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long the broker may hold a fetch that finds nothing new. Kept short,
 * whatever kafka.fetch.wait.max.ms says for the workers: the broker answers
 * one connection's requests in order, so the offsets query of the next read
 * or fetch waits behind the fetch still held from the last one (500 ms by
 * default: half a second per topic_window_fetch). */
#define READER_FETCH_WAIT_MS "10"

int topic_reader_new(const bw_config *cfg, const char *name, rd_kafka_t **out, bw_error_t *err) {
  rd_kafka_conf_t *conf = NULL;
  /* The group id is set so that a kafka.group.id meant for the workers is
   * not borrowed; with assign() and no commits it never becomes a group. */
  cleanup_free char *group = bw_strdup_printf("bundle-worker-%s-%d", name, (int)getpid());
  if (kafka_conf_new(cfg, NULL, &conf, err) < 0 ||
      kafka_conf_set(conf, "group.id", group, err) < 0 ||
      kafka_conf_set(conf, "enable.auto.commit", "false", err) < 0 ||
      kafka_conf_set(conf, "enable.auto.offset.store", "false", err) < 0 ||
      kafka_conf_set(conf, "enable.partition.eof", "true", err) < 0 ||
      kafka_conf_set(conf, "fetch.wait.max.ms", READER_FETCH_WAIT_MS, err) < 0) {
    if (conf)
      rd_kafka_conf_destroy(conf);
    return -1;
  }
  if (kafka_client_new(RD_KAFKA_CONSUMER, conf, out, err) < 0)
    return -1;
  rd_kafka_poll_set_consumer(*out);
  return 0;
}

static int partitions_of(rd_kafka_t *rk, const char *topic, long timeout_ms, topic_span **spans,
                         int *count, bw_error_t *err) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  rd_kafka_resp_err_t rc = rd_kafka_metadata(rk, 0, rkt, &md, (int)timeout_ms);
  rd_kafka_topic_destroy(rkt);
  if (!rc && (md->topic_cnt != 1 || md->topics[0].err))
    rc = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
  if (rc) {
    if (md)
      rd_kafka_metadata_destroy(md);
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: topic %s: %s", topic,
                        rd_kafka_err2str(rc));
  }
  *count = md->topics[0].partition_cnt;
  *spans = bw_xcalloc((size_t)*count + 1, sizeof(topic_span));
  for (int i = 0; i < *count; i++)
    (*spans)[i].partition = md->topics[0].partitions[i].id;
  rd_kafka_metadata_destroy(md);
  return 0;
}

static topic_span *span_of(topic_span *spans, int n, int32_t partition) {
  for (int i = 0; i < n; i++)
    if (spans[i].partition == partition)
      return &spans[i];
  return NULL;
}

int topic_spans(rd_kafka_t *rk, const char *topic, int64_t since_ms, long timeout_ms,
                topic_span **out, int *count, bw_error_t *err) {
  topic_span *spans = NULL;
  int n = 0;
  if (partitions_of(rk, topic, timeout_ms, &spans, &n, err) < 0)
    return -1;
  rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_new(n);
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
        rk, topic, spans[i].partition, &spans[i].start, &spans[i].end, (int)timeout_ms);
    if (e)
      rc = bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: offsets of %s [%d]: %s", topic,
                        spans[i].partition, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_add(times, topic, spans[i].partition)->offset = since_ms;
  }
  if (rc == 0 && since_ms > 0) {
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, times, (int)timeout_ms);
    if (e)
      rc = bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: offsets for a time in %s: %s", topic,
                        rd_kafka_err2str(e));
    for (int i = 0; rc == 0 && i < times->cnt; i++) {
      topic_span *s = span_of(spans, n, times->elems[i].partition);
      int64_t at = times->elems[i].offset;
      if (!s)
        continue;
      if (times->elems[i].err || at < 0 || at >= s->end) /* nothing at or after since_ms */
        s->start = s->end;
      else if (at > s->start)
        s->start = at;
    }
  }
  rd_kafka_topic_partition_list_destroy(times);
  if (rc < 0) {
    free(spans);
    return -1;
  }
  *out = spans;
  *count = n;
  return 0;
}

typedef struct window_part {
  int32_t id;
  int64_t start, end; /* read [start, end) */
  bool done;
} window_part;

static window_part *part_of(window_part *parts, int n, int32_t id) {
  for (int i = 0; i < n; i++)
    if (parts[i].id == id)
      return &parts[i];
  return NULL;
}

static int parts_left(const window_part *parts, int n) {
  int left = 0;
  for (int i = 0; i < n; i++)
    left += !parts[i].done;
  return left;
}

int topic_window_read(rd_kafka_t *rk, const char *topic, int64_t since_ms, int64_t until_ms,
                      long timeout_ms, topic_window_fn fn, void *ctx, bw_error_t *err) {
  cleanup_free topic_span *spans = NULL;
  int n = 0;
  if (topic_spans(rk, topic, since_ms, timeout_ms, &spans, &n, err) < 0)
    return -1;
  cleanup_free window_part *parts = bw_xcalloc((size_t)n + 1, sizeof(window_part));
  for (int i = 0; i < n; i++)
    parts[i] = (window_part){.id = spans[i].partition,
                             .start = spans[i].start,
                             .end = spans[i].end,
                             .done = spans[i].start >= spans[i].end};
  rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(n);
  for (int i = 0; i < n; i++)
    if (!parts[i].done)
      rd_kafka_topic_partition_list_add(assign, topic, parts[i].id)->offset = parts[i].start;
  rd_kafka_resp_err_t rc = assign->cnt ? rd_kafka_assign(rk, assign) : 0;
  rd_kafka_topic_partition_list_destroy(assign);
  if (rc)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: read %s: %s", topic, rd_kafka_err2str(rc));
  int result = 0;
  int64_t quiet_deadline = bw_time_monotonic_ms() + timeout_ms;
  while (parts_left(parts, n) > 0) {
    if (bw_time_monotonic_ms() > quiet_deadline) {
      result = bw_error_set(err, BW_ERR_TIMEOUT, "kafka: reading %s: no progress for %ld ms", topic,
                            timeout_ms);
      break;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
    if (!m)
      continue;
    window_part *p = part_of(parts, n, m->partition);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (p)
        p->done = true;
    } else if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__TRANSPORT && m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        result = bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: reading %s: %s", topic,
                              rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        break;
      }
    } else if (p && !p->done) {
      quiet_deadline = bw_time_monotonic_ms() + timeout_ms;
      if (m->offset + 1 >= p->end)
        p->done = true;
      rd_kafka_timestamp_type_t type;
      int64_t ts = rd_kafka_message_timestamp(m, &type);
      bool inside = (since_ms <= 0 || ts >= since_ms) && (until_ms <= 0 || ts <= until_ms);
      if (inside && fn(ctx, m) != 0) {
        rd_kafka_message_destroy(m);
        break;
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(rk, NULL);
  return result;
}

int topic_window_fetch(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset,
                       long timeout_ms, rd_kafka_message_t **out, bw_error_t *err) {
  *out = NULL;
  int64_t lo = 0, hi = 0;
  rd_kafka_resp_err_t rc =
      rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi, (int)timeout_ms);
  if (rc == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || rc == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    return TOPIC_FETCH_NO_PARTITION;
  if (rc)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: offsets of %s [%d]: %s", topic, partition,
                        rd_kafka_err2str(rc));
  if (offset < 0 || offset >= hi)
    return TOPIC_FETCH_NEVER_WRITTEN;
  if (offset < lo)
    return TOPIC_FETCH_REMOVED;
  rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(assign, topic, partition)->offset = offset;
  rc = rd_kafka_assign(rk, assign);
  rd_kafka_topic_partition_list_destroy(assign);
  if (rc)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: read %s [%d]: %s", topic, partition,
                        rd_kafka_err2str(rc));
  bool answered = false;
  int64_t deadline = bw_time_monotonic_ms() + timeout_ms;
  while (!answered && bw_time_monotonic_ms() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
    if (!m)
      continue;
    if (!m->err && m->partition == partition && m->offset == offset) {
      *out = m;
      answered = true;
      break;
    }
    /* Past it: compacted or deleted between the two calls. */
    answered = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF || (!m->err && m->offset > offset);
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(rk, NULL);
  if (!answered)
    return bw_error_set(err, BW_ERR_TIMEOUT, "kafka: %s [%d] offset %lld: no answer in %ld ms",
                        topic, partition, (long long)offset, timeout_ms);
  return *out ? TOPIC_FETCH_FOUND : TOPIC_FETCH_REMOVED;
}

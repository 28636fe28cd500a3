#include "event_follow.h"

#include "cleanup.h"
#include "kafka_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FOLLOW_TIMEOUT_MS 10000

struct event_follow {
  rd_kafka_t *rk;
  int partitions;
  rd_kafka_message_t *msg; /* the last message handed out */
  json_t *ev;              /* parsed from msg */
};

/* Every partition of the topic at its end now (the high watermark), so that
 * nothing sent after this call is missed. */
static int topic_ends(rd_kafka_t *rk, const char *topic, rd_kafka_topic_partition_list_t **out,
                      bw_error_t *err) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  rd_kafka_resp_err_t rc = rd_kafka_metadata(rk, 0, rkt, &md, FOLLOW_TIMEOUT_MS);
  rd_kafka_topic_destroy(rkt);
  if (rc || md->topic_cnt != 1 || md->topics[0].err) {
    rd_kafka_resp_err_t why =
        rc ? rc
           : (md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    if (md)
      rd_kafka_metadata_destroy(md);
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: topic %s: %s", topic,
                        rd_kafka_err2str(why));
  }
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
  for (int i = 0; i < md->topics[0].partition_cnt; i++) {
    int64_t lo = 0, hi = 0;
    int32_t p = md->topics[0].partitions[i].id;
    rc = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, FOLLOW_TIMEOUT_MS);
    if (rc) {
      rd_kafka_metadata_destroy(md);
      rd_kafka_topic_partition_list_destroy(list);
      return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: offsets of %s[%d]: %s", topic, (int)p,
                          rd_kafka_err2str(rc));
    }
    rd_kafka_topic_partition_list_add(list, topic, p)->offset = hi;
  }
  rd_kafka_metadata_destroy(md);
  *out = list;
  return 0;
}

/* Moves each partition back to its first event at or after since_ms; a
 * partition with none stays at its end. */
static int seek_since(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *list, int64_t since_ms,
                      bw_error_t *err) {
  rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_copy(list);
  for (int i = 0; i < times->cnt; i++)
    times->elems[i].offset = since_ms;
  rd_kafka_resp_err_t rc = rd_kafka_offsets_for_times(rk, times, FOLLOW_TIMEOUT_MS);
  if (rc) {
    rd_kafka_topic_partition_list_destroy(times);
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: offsets for times: %s",
                        rd_kafka_err2str(rc));
  }
  for (int i = 0; i < times->cnt; i++)
    if (!times->elems[i].err && times->elems[i].offset >= 0)
      list->elems[i].offset = times->elems[i].offset;
  rd_kafka_topic_partition_list_destroy(times);
  return 0;
}

int event_follow_open(const bw_config *cfg, const char *client_name, event_follow_from from,
                      int64_t since_epoch_ms, event_follow **out, bw_error_t *err) {
  rd_kafka_conf_t *conf = NULL;
  /* assign() needs no group; the id only names the client in broker logs,
   * and with nothing committed it never appears as a group. */
  cleanup_free char *group = bw_strdup_printf("bundle-worker-%s-%d", client_name, (int)getpid());
  if (kafka_conf_new(cfg, NULL, &conf, err) < 0 ||
      kafka_conf_set(conf, "group.id", group, err) < 0 ||
      kafka_conf_set(conf, "enable.auto.commit", "false", err) < 0 ||
      kafka_conf_set(conf, "enable.auto.offset.store", "false", err) < 0) {
    if (conf)
      rd_kafka_conf_destroy(conf);
    return -1;
  }
  rd_kafka_t *rk = NULL;
  if (kafka_client_new(RD_KAFKA_CONSUMER, conf, &rk, err) < 0)
    return -1;
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t *list = NULL;
  if (topic_ends(rk, cfg->topic_events, &list, err) < 0 ||
      (from == EVENT_FOLLOW_SINCE && seek_since(rk, list, since_epoch_ms, err) < 0)) {
    if (list)
      rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(rk);
    return -1;
  }
  if (from == EVENT_FOLLOW_BEGINNING)
    for (int i = 0; i < list->cnt; i++)
      list->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_resp_err_t rc = rd_kafka_assign(rk, list);
  int partitions = list->cnt;
  rd_kafka_topic_partition_list_destroy(list);
  if (rc) {
    rd_kafka_destroy(rk);
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: assign %s: %s", cfg->topic_events,
                        rd_kafka_err2str(rc));
  }
  event_follow *f = calloc(1, sizeof(*f));
  if (!f)
    abort();
  f->rk = rk;
  f->partitions = partitions;
  *out = f;
  return 0;
}

static void drop_current(event_follow *f) {
  json_decref(f->ev);
  f->ev = NULL;
  if (f->msg)
    rd_kafka_message_destroy(f->msg);
  f->msg = NULL;
}

void event_follow_close(event_follow *f) {
  if (!f)
    return;
  drop_current(f);
  rd_kafka_consumer_close(f->rk);
  rd_kafka_destroy(f->rk);
  free(f);
}

int event_follow_partitions(const event_follow *f) {
  return f->partitions;
}

int event_follow_next(event_follow *f, int timeout_ms, const json_t **ev_out, const char **raw,
                      size_t *raw_len, bw_error_t *err) {
  drop_current(f);
  *ev_out = NULL;
  *raw = NULL;
  *raw_len = 0;
  rd_kafka_message_t *m = rd_kafka_consumer_poll(f->rk, timeout_ms);
  if (!m)
    return 0;
  if (m->err) {
    rd_kafka_resp_err_t e = m->err;
    rd_kafka_message_destroy(m);
    if (e == RD_KAFKA_RESP_ERR__FATAL) {
      char why[256] = "";
      rd_kafka_fatal_error(f->rk, why, sizeof(why));
      return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: %s", why);
    }
    return 0; /* end of a partition, a broker going away: librdkafka retries */
  }
  f->msg = m;
  json_t *ev = json_loadb(m->payload, m->len, 0, NULL);
  if (ev && !json_is_object(ev)) {
    json_decref(ev);
    ev = NULL;
  }
  f->ev = ev;
  *ev_out = ev;
  *raw = m->payload;
  *raw_len = m->len;
  return 1;
}

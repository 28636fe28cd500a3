#include "ops/event_follow.h"

#include "core/cleanup.h"
#include "clients/kafka_client.h"
#include "clients/topic_window.h"

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

int event_follow_open(const bw_config *cfg, const char *client_name, event_follow_from from,
                      int64_t since_epoch_ms, event_follow **out, bw_error_t *err) {
  rd_kafka_t *rk = NULL;
  if (topic_reader_new(cfg, client_name, &rk, err) < 0)
    return -1;
  cleanup_free topic_span *spans = NULL;
  int n = 0;
  if (topic_spans(rk, cfg->topic_events, from == EVENT_FOLLOW_SINCE ? since_epoch_ms : 0,
                  FOLLOW_TIMEOUT_MS, &spans, &n, err) < 0) {
    rd_kafka_destroy(rk);
    return -1;
  }
  /* END: the high watermark read now, so that nothing sent after this call
   * is missed. SINCE: a partition with nothing since then starts at its end. */
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
  for (int i = 0; i < n; i++)
    rd_kafka_topic_partition_list_add(list, cfg->topic_events, spans[i].partition)->offset =
        from == EVENT_FOLLOW_END ? spans[i].end : spans[i].start;
  rd_kafka_resp_err_t rc = rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (rc) {
    rd_kafka_destroy(rk);
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: assign %s: %s", cfg->topic_events,
                        rd_kafka_err2str(rc));
  }
  event_follow *f = bw_xcalloc(1, sizeof(*f));
  f->rk = rk;
  f->partitions = n;
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

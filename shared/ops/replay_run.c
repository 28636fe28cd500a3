#include "ops/replay_run.h"

#include "clients/topic_window.h"
#include "core/cleanup.h"
#include "ops/run_requests.h"

#include <stdlib.h>
#include <string.h>

#define KAFKA_TIMEOUT_MS 15000

typedef struct reading {
  replay_set *set;
  const replay_filter *filter;
} reading;

static int on_event(void *ctx, const rd_kafka_message_t *m) {
  reading *r = ctx;
  /* Most events are not job.finished: skip them without parsing. */
  if (!m->payload || !memmem(m->payload, m->len, "\"job.finished\"", 14))
    return 0;
  cleanup_json json_t *ev = json_loadb(m->payload, m->len, 0, NULL);
  if (ev)
    replay_set_add_finished(r->set, r->filter, ev, rd_kafka_message_timestamp(m, NULL));
  return 0;
}

static int on_dead_letter(void *ctx, const rd_kafka_message_t *m) {
  reading *r = ctx;
  cleanup_free char *key = m->key ? bw_strdup_bytes(m->key, m->key_len) : NULL;
  const void *reason = NULL;
  size_t reason_len = 0;
  rd_kafka_headers_t *headers = NULL;
  cleanup_free char *why = NULL;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      rd_kafka_header_get_last(headers, "dlq.reason", &reason, &reason_len) ==
          RD_KAFKA_RESP_ERR_NO_ERROR &&
      reason)
    why = bw_strdup_bytes(reason, reason_len);
  replay_set_add_dead_letter(r->set, r->filter, key, m->payload, m->len, why,
                             rd_kafka_message_timestamp(m, NULL));
  return 0;
}

/* The request to send for a candidate judged `send`, or a skip with why. */
static void prepare(replay_candidate *c, rd_kafka_t *reader, const component_registry *reg,
                    char **out, size_t *out_len) {
  cleanup_error bw_error_t err = NULL;
  rd_kafka_message_t *orig = NULL;
  const char *bytes = c->payload;
  size_t len = c->len;
  if (c->source == REPLAY_FROM_EVENTS) {
    if (topic_window_fetch(reader, c->request_topic, c->request_partition, c->request_offset,
                           KAFKA_TIMEOUT_MS, &orig, &err) < 0 ||
        !orig) {
      c->send = false;
      c->why = err ? bw_strdup_printf("fetching the request: %s", bw_error_msg(&err))
                   : bw_strdup_printf("the request is no longer kept on %s (partition %d, "
                                      "offset %lld): submit it again by hand",
                                      c->request_topic, (int)c->request_partition,
                                      (long long)c->request_offset);
      return;
    }
    bytes = orig->payload;
    len = orig->len;
  }
  if (replay_rewrite(bytes ? bytes : "", len, c->job_id, c->new_attempt, reg, out, out_len, &err) <
      0) {
    c->send = false;
    c->why = bw_strdup(bw_error_msg(&err));
  }
  if (orig)
    rd_kafka_message_destroy(orig);
}

int replay_run(const bw_config *cfg, const bw_logger *log, const replay_request *rq,
               const component_registry *reg, replay_outcome *out, bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  rd_kafka_t *reader = NULL;
  if (topic_reader_new(cfg, "replay", &reader, err) < 0)
    return -1;
  reading r = {.set = &out->set, .filter = rq->filter};
  if ((rq->from_events && topic_window_read(reader, cfg->topic_events, rq->since_ms, rq->until_ms,
                                            KAFKA_TIMEOUT_MS, on_event, &r, err) < 0) ||
      (rq->from_dlq && topic_window_read(reader, cfg->topic_dlq, rq->since_ms, rq->until_ms,
                                         KAFKA_TIMEOUT_MS, on_dead_letter, &r, err) < 0)) {
    rd_kafka_destroy(reader);
    return -1;
  }
  replay_set *set = &out->set;
  job_store *store = job_store_new(cfg, log, rq->redis_prefix);
  char **payloads = bw_xcalloc(set->count + 1, sizeof(char *));
  size_t *lens = bw_xcalloc(set->count + 1, sizeof(size_t));
  for (size_t i = 0; i < set->count; i++) {
    replay_candidate *c = &set->items[i];
    if (!c->matched)
      continue;
    out->selected++;
    cleanup_json json_t *record = NULL;
    cleanup_error bw_error_t redis_err = NULL;
    if (job_store_get(store, c->job_id, &record, &redis_err) < 0 && !out->redis_problem)
      out->redis_problem = bw_strdup(bw_error_msg(&redis_err));
    replay_judge(c, record);
    if (c->send)
      prepare(c, reader, reg, &payloads[i], &lens[i]);
    out->to_send += c->send;
  }
  job_store_free(store);
  if (!rq->dry_run && out->to_send > 0) {
    run_request_msg *msgs = bw_xcalloc(out->to_send, sizeof(*msgs));
    size_t n = 0;
    for (size_t i = 0; i < set->count; i++)
      if (set->items[i].matched && set->items[i].send)
        msgs[n++] = (run_request_msg){set->items[i].job_id, payloads[i], lens[i]};
    cleanup_error bw_error_t send_err = NULL;
    if (run_requests_send(cfg, msgs, n, &send_err) < 0)
      out->send_problem = bw_strdup(bw_error_msg(&send_err));
    else
      out->sent = true;
    free(msgs);
  }
  for (size_t i = 0; i < set->count; i++)
    free(payloads[i]);
  free(payloads);
  free(lens);
  rd_kafka_destroy(reader);
  return 0;
}

void replay_outcome_free(replay_outcome *out) {
  replay_set_free(&out->set);
  free(out->redis_problem);
  free(out->send_problem);
  memset(out, 0, sizeof(*out));
}

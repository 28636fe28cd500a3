#include "ops/replay_run.h"

#include "clients/topic_window.h"
#include "core/cleanup.h"
#include "core/digest.h"
#include "ops/run_requests.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KAFKA_TIMEOUT_MS 15000

/* A dead letter that does not carry the whole request (dlq.truncated): added
 * once the window is read, with its original's bytes, fetched from where its
 * dlq.source.* headers say (the reader cannot fetch while it reads). */
typedef struct cut_letter {
  char *key, *reason, *topic; /* the dead letter's */
  int32_t partition;
  int64_t offset, ts_ms;
  char *source_topic; /* NULL: the headers do not say */
  int32_t source_partition;
  int64_t source_offset;
  char *sha256; /* dlq.original.sha256; NULL: none */
} cut_letter;

typedef struct reading {
  replay_set *set;
  const replay_filter *filter;
  cut_letter *cut;
  size_t cut_count, cut_cap;
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

/* The header's last value (a new string); NULL when the message has none. */
static char *header_of(const rd_kafka_message_t *m, const char *name) {
  rd_kafka_headers_t *headers = NULL;
  const void *value = NULL;
  size_t len = 0;
  if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(headers, name, &value, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return NULL;
  return bw_strdup_bytes(value ? value : "", len);
}

static bool int_of(const char *text, int64_t max, int64_t *out) {
  if (!text || !*text)
    return false;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (*end || errno || v < 0 || v > max)
    return false;
  *out = v;
  return true;
}

/* Where the dead letter's original is, from its dlq.source.* headers. */
static void source_of(const rd_kafka_message_t *m, cut_letter *cl) {
  cleanup_free char *topic = header_of(m, "dlq.source.topic");
  cleanup_free char *partition = header_of(m, "dlq.source.partition");
  cleanup_free char *offset = header_of(m, "dlq.source.offset");
  int64_t p = 0, o = 0;
  if (topic && *topic && int_of(partition, INT32_MAX, &p) && int_of(offset, INT64_MAX, &o)) {
    cl->source_topic = steal_pointer(&topic);
    cl->source_partition = (int32_t)p;
    cl->source_offset = o;
  }
}

static int on_dead_letter(void *ctx, const rd_kafka_message_t *m) {
  reading *r = ctx;
  cleanup_free char *key = m->key ? bw_strdup_bytes(m->key, m->key_len) : NULL;
  cleanup_free char *reason = header_of(m, "dlq.reason");
  cleanup_free char *truncated = header_of(m, "dlq.truncated");
  const char *topic = rd_kafka_topic_name(m->rkt);
  int64_t ts = rd_kafka_message_timestamp(m, NULL);
  if (!truncated || strcmp(truncated, "true") != 0) {
    replay_dead_letter dl = {key,          m->payload, m->len, reason, topic,
                             m->partition, m->offset,  ts,     NULL};
    replay_set_add_dead_letter(r->set, r->filter, &dl);
    return 0;
  }
  if (r->cut_count == r->cut_cap) {
    r->cut_cap = r->cut_cap ? r->cut_cap * 2 : 8;
    r->cut = bw_xrealloc(r->cut, r->cut_cap * sizeof(*r->cut));
  }
  cut_letter *cl = &r->cut[r->cut_count++];
  *cl = (cut_letter){.key = steal_pointer(&key),
                     .reason = steal_pointer(&reason),
                     .topic = bw_strdup(topic),
                     .partition = m->partition,
                     .offset = m->offset,
                     .ts_ms = ts,
                     .sha256 = header_of(m, "dlq.original.sha256")};
  source_of(m, cl);
  return 0;
}

/* Why there is no message at topic/partition/offset (a new string). */
static char *fetch_miss(const char *what, int result, const char *topic, int32_t partition,
                        int64_t offset) {
  if (result == TOPIC_FETCH_NEVER_WRITTEN)
    return bw_strdup_printf("%s was never on %s (partition %d ends before offset %lld: was the "
                            "topic deleted and made again?)",
                            what, topic, (int)partition, (long long)offset);
  if (result == TOPIC_FETCH_NO_PARTITION)
    return bw_strdup_printf("%s cannot be had: %s has no partition %d (was the topic deleted?)",
                            what, topic, (int)partition);
  return bw_strdup_printf("%s is no longer kept on %s (partition %d, offset %lld: removed by "
                          "retention, compaction or a deletion of records)",
                          what, topic, (int)partition, (long long)offset);
}

static bool digest_is(const rd_kafka_message_t *m, const char *sha256) {
  char got[DIGEST_SHA256_HEX_LEN + 1];
  return digest_sha256_buf(m->payload ? m->payload : "", m->len, got, NULL) == 0 &&
         strcasecmp(got, sha256) == 0;
}

/* The original of a cut dead letter in *out, or why it cannot be had (a
 * new string, and *out NULL). */
static char *original_of(const cut_letter *cl, rd_kafka_t *reader, rd_kafka_message_t **out) {
  static const char cut[] = "the dead letter does not carry the whole request (dlq.truncated)";
  *out = NULL;
  if (!cl->source_topic)
    return bw_strdup_printf("%s and does not say where its original is (no dlq.source.* headers)",
                            cut);
  cleanup_error bw_error_t err = NULL;
  int found = topic_window_fetch(reader, cl->source_topic, cl->source_partition, cl->source_offset,
                                 KAFKA_TIMEOUT_MS, out, &err);
  if (found < 0)
    return bw_strdup_printf("%s, and fetching its original: %s", cut, bw_error_msg(&err));
  if (found != TOPIC_FETCH_FOUND) {
    cleanup_free char *miss = fetch_miss("its original", found, cl->source_topic,
                                         cl->source_partition, cl->source_offset);
    return bw_strdup_printf("%s, and %s", cut, miss);
  }
  if (cl->sha256 && !digest_is(*out, cl->sha256)) {
    rd_kafka_message_destroy(*out);
    *out = NULL;
    return bw_strdup_printf("%s, and the message at %s [%d] %lld is not its original (its "
                            "sha256 is not dlq.original.sha256)",
                            cut, cl->source_topic, (int)cl->source_partition,
                            (long long)cl->source_offset);
  }
  return NULL;
}

/* The cut dead letters, each as its original when that can be had. */
static void add_cut_letters(reading *r, rd_kafka_t *reader) {
  for (size_t i = 0; i < r->cut_count; i++) {
    cut_letter *cl = &r->cut[i];
    rd_kafka_message_t *orig = NULL;
    cleanup_free char *why = original_of(cl, reader, &orig);
    cleanup_free char *key = orig && orig->key ? bw_strdup_bytes(orig->key, orig->key_len) : NULL;
    replay_dead_letter dl = {key ? key : cl->key,
                             orig ? orig->payload : NULL,
                             orig ? orig->len : 0,
                             cl->reason,
                             cl->topic,
                             cl->partition,
                             cl->offset,
                             cl->ts_ms,
                             why};
    replay_set_add_dead_letter(r->set, r->filter, &dl);
    if (orig)
      rd_kafka_message_destroy(orig);
  }
}

static void reading_free(reading *r) {
  for (size_t i = 0; i < r->cut_count; i++) {
    free(r->cut[i].key);
    free(r->cut[i].reason);
    free(r->cut[i].topic);
    free(r->cut[i].source_topic);
    free(r->cut[i].sha256);
  }
  free(r->cut);
}
#define cleanup_reading __attribute__((cleanup(reading_free)))

/* The request to send for a candidate judged `send`, or a skip with why. */
static void prepare(replay_candidate *c, rd_kafka_t *reader, const component_registry *reg,
                    char **out, size_t *out_len) {
  cleanup_error bw_error_t err = NULL;
  rd_kafka_message_t *orig = NULL;
  const char *bytes = c->payload;
  size_t len = c->len;
  if (c->source == REPLAY_FROM_EVENTS) {
    int found = topic_window_fetch(reader, c->request_topic, c->request_partition,
                                   c->request_offset, KAFKA_TIMEOUT_MS, &orig, &err);
    if (found != TOPIC_FETCH_FOUND) {
      cleanup_free char *miss = found < 0 ? NULL
                                          : fetch_miss("the request", found, c->request_topic,
                                                       c->request_partition, c->request_offset);
      c->send = false;
      c->why = miss ? bw_strdup_printf("%s: submit it again by hand", miss)
                    : bw_strdup_printf("fetching the request: %s", bw_error_msg(&err));
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

/* Sends the candidates judged `send`; each says whether it was delivered. */
static void send_all(const bw_config *cfg, replay_outcome *out, char **payloads, size_t *lens) {
  replay_set *set = &out->set;
  run_request_msg *msgs = bw_xcalloc(out->to_send, sizeof(*msgs));
  bool *acked = bw_xcalloc(out->to_send, sizeof(*acked));
  replay_candidate **sent = bw_xcalloc(out->to_send, sizeof(*sent));
  size_t n = 0;
  for (size_t i = 0; i < set->count; i++)
    if (set->items[i].matched && set->items[i].send) {
      sent[n] = &set->items[i];
      msgs[n++] = (run_request_msg){set->items[i].job_id, payloads[i], lens[i]};
    }
  cleanup_error bw_error_t err = NULL;
  if (run_requests_send(cfg, msgs, n, acked, &err) < 0)
    out->send_problem = bw_strdup(bw_error_msg(&err));
  else
    out->sent = true;
  for (size_t i = 0; i < n; i++) {
    sent[i]->delivered = acked[i];
    out->delivered += acked[i];
  }
  free(sent);
  free(acked);
  free(msgs);
}

int replay_run(const bw_config *cfg, const bw_logger *log, const replay_request *rq,
               const component_registry *reg, replay_outcome *out, bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  rd_kafka_t *reader = NULL;
  if (topic_reader_new(cfg, "replay", &reader, err) < 0)
    return -1;
  cleanup_reading reading r = {.set = &out->set, .filter = rq->filter};
  if ((rq->from_events && topic_window_read(reader, cfg->topic_events, rq->since_ms, rq->until_ms,
                                            KAFKA_TIMEOUT_MS, on_event, &r, err) < 0) ||
      (rq->from_dlq && topic_window_read(reader, cfg->topic_dlq, rq->since_ms, rq->until_ms,
                                         KAFKA_TIMEOUT_MS, on_dead_letter, &r, err) < 0)) {
    rd_kafka_destroy(reader);
    return -1;
  }
  add_cut_letters(&r, reader);
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
  if (!rq->dry_run && out->to_send > 0)
    send_all(cfg, out, payloads, lens);
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

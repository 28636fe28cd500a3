/* shared/clients/topic_window.h against the stack's real KRaft broker: a
 * topic of the test's own with 8 messages of known timestamps over three
 * partitions (5, 3 and none), and an empty one. Spans by time, windows
 * inclusive at both ends (each edge at N-1, N, N+1 ms), early stops after
 * N-1, N, N+1 messages, what arrives during a read, one-message fetches at
 * every offset edge, and records deleted from the start of a partition. */
#include "stack_env.h"

#include "clients/topic_window.h"
#include "core/cleanup.h"
#include "core/timeutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static rd_kafka_t *own_client(rd_kafka_type_t type) {
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", stack_env("STACK_KAFKA_BOOTSTRAP"), errstr,
                        sizeof(errstr)))
    fail_msg("kafka conf: %s", errstr);
  rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
  if (!rk)
    fail_msg("kafka client: %s", errstr);
  return rk;
}

/* One admin request's answer: an error fails the test. */
static void admin_answer(rd_kafka_queue_t *q, rd_kafka_event_type_t type) {
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
  assert_non_null(ev);
  assert_int_equal(rd_kafka_event_type(ev), type);
  if (rd_kafka_event_error(ev))
    fail_msg("admin: %s", rd_kafka_event_error_string(ev));
  size_t n = 0;
  const rd_kafka_topic_result_t **res =
      type == RD_KAFKA_EVENT_CREATETOPICS_RESULT
          ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n)
      : type == RD_KAFKA_EVENT_DELETETOPICS_RESULT
          ? rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n)
          : NULL;
  for (size_t i = 0; i < n; i++)
    if (rd_kafka_topic_result_error(res[i]))
      fail_msg("topic %s: %s", rd_kafka_topic_result_name(res[i]),
               rd_kafka_topic_result_error_string(res[i]));
  const rd_kafka_topic_partition_list_t *deleted =
      type == RD_KAFKA_EVENT_DELETERECORDS_RESULT
          ? rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev))
          : NULL;
  for (int i = 0; deleted && i < deleted->cnt; i++)
    if (deleted->elems[i].err)
      fail_msg("delete records: %s", rd_kafka_err2str(deleted->elems[i].err));
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
}

/* Created, and usable once the broker's metadata (asked, not cached) gives
 * every partition a leader. */
static void topic_create(rd_kafka_t *admin, const char *name, int partitions) {
  char errstr[256];
  rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, 1, errstr, sizeof(errstr));
  rd_kafka_queue_t *q = rd_kafka_queue_new(admin);
  rd_kafka_CreateTopics(admin, &nt, 1, NULL, q);
  rd_kafka_NewTopic_destroy(nt);
  admin_answer(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(admin, name, NULL);
  for (int tries = 0, ready = 0; !ready; tries++) {
    const struct rd_kafka_metadata *md = NULL;
    ready = !rd_kafka_metadata(admin, 0, rkt, &md, 5000) && !md->topics[0].err &&
            md->topics[0].partition_cnt == partitions;
    for (int p = 0; ready && p < partitions; p++)
      ready = md->topics[0].partitions[p].leader >= 0;
    if (md)
      rd_kafka_metadata_destroy(md);
    assert_true(tries < 100);
    bw_time_sleep_ms(ready ? 0 : 100, NULL);
  }
  rd_kafka_topic_destroy(rkt);
}

static void topic_delete(rd_kafka_t *admin, const char *name) {
  rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(name);
  rd_kafka_queue_t *q = rd_kafka_queue_new(admin);
  rd_kafka_DeleteTopics(admin, &dt, 1, NULL, q);
  rd_kafka_DeleteTopic_destroy(dt);
  admin_answer(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT);
}

/* ---- the fixture: message i is "m<i>" (key "k<i>") at ts[i] = base + i s,
 * on partition PART[i] at offset OFFSET[i]; partition 2 stays empty ---- */

enum { MSGS = 8, PARTS = 3 };
static const int32_t PART[MSGS] = {0, 1, 0, 1, 0, 1, 0, 0};
static const int64_t OFFSET[MSGS] = {0, 0, 1, 1, 2, 2, 3, 4};
static const int64_t END[PARTS] = {5, 3, 0}; /* each partition's high watermark */

typedef struct fixture {
  bw_config cfg;
  rd_kafka_t *admin, *producer, *reader;
  char topic[96], empty[96];
  int64_t ts[MSGS];
} fixture;

static void produce(fixture *f, int32_t partition, int64_t ts, const char *key, const char *value) {
  assert_int_equal(rd_kafka_producev(f->producer, RD_KAFKA_V_TOPIC(f->topic),
                                     RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_TIMESTAMP(ts),
                                     RD_KAFKA_V_KEY(key, strlen(key)),
                                     RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                     RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                   0);
}

static int setup(void **state) {
  fixture *f = bw_xcalloc(1, sizeof(*f));
  stack_config(&f->cfg);
  long long id = (long long)bw_time_epoch_ms();
  snprintf(f->topic, sizeof(f->topic), "bw-window-%d-%lld", (int)getpid(), id);
  snprintf(f->empty, sizeof(f->empty), "bw-window-%d-%lld-empty", (int)getpid(), id);
  f->admin = own_client(RD_KAFKA_PRODUCER);
  f->producer = own_client(RD_KAFKA_PRODUCER);
  topic_create(f->admin, f->topic, PARTS);
  topic_create(f->admin, f->empty, 2);
  int64_t base = (bw_time_epoch_ms() - 600000) / 1000 * 1000; /* in the past: CreateTime kept */
  for (int i = 0; i < MSGS; i++) {
    char key[8], value[8];
    snprintf(key, sizeof(key), "k%d", i);
    snprintf(value, sizeof(value), "m%d", i);
    f->ts[i] = base + 1000 * i;
    produce(f, PART[i], f->ts[i], key, value);
  }
  assert_int_equal(rd_kafka_flush(f->producer, 20000), 0);
  cleanup_error bw_error_t err = NULL;
  if (topic_reader_new(&f->cfg, "window-test", &f->reader, &err) < 0)
    fail_msg("topic_reader_new: %s", bw_error_msg(&err));
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  rd_kafka_destroy(f->reader);
  rd_kafka_destroy(f->producer);
  topic_delete(f->admin, f->topic);
  topic_delete(f->admin, f->empty);
  rd_kafka_destroy(f->admin);
  bw_config_free(&f->cfg);
  free(f);
  return 0;
}

/* ---- spans ---- */

/* The spans of f->topic from since_ms; want_start[p] for each partition
 * (the end is always END[p]). */
static void assert_spans(fixture *f, int64_t since_ms, const int64_t want_start[PARTS]) {
  cleanup_free topic_span *spans = NULL;
  int count = 0;
  cleanup_error bw_error_t err = NULL;
  if (topic_spans(f->reader, f->topic, since_ms, 10000, &spans, &count, &err) < 0)
    fail_msg("topic_spans: %s", bw_error_msg(&err));
  assert_int_equal(count, PARTS);
  bool seen[PARTS] = {false};
  for (int i = 0; i < count; i++) {
    int32_t p = spans[i].partition;
    assert_true(p >= 0 && p < PARTS && !seen[p]);
    seen[p] = true;
    if (spans[i].start != want_start[p] || spans[i].end != END[p])
      fail_msg("since %lld: partition %d is [%lld, %lld), want [%lld, %lld)", (long long)since_ms,
               (int)p, (long long)spans[i].start, (long long)spans[i].end, (long long)want_start[p],
               (long long)END[p]);
  }
}

static void spans_start_at_the_first_message_at_or_after_since(void **state) {
  fixture *f = *state;
  const int64_t *ts = f->ts;
  assert_spans(f, 0, (int64_t[PARTS]){0, 0, 0});         /* everything kept */
  assert_spans(f, ts[0] - 1, (int64_t[PARTS]){0, 0, 0}); /* before the first */
  assert_spans(f, ts[0], (int64_t[PARTS]){0, 0, 0});     /* at it */
  assert_spans(f, ts[0] + 1, (int64_t[PARTS]){1, 0, 0}); /* past it: m2 on p0 */
  assert_spans(f, ts[4] - 1, (int64_t[PARTS]){2, 2, 0}); /* m4, m5 */
  assert_spans(f, ts[4], (int64_t[PARTS]){2, 2, 0});     /* m4, m5 */
  assert_spans(f, ts[4] + 1, (int64_t[PARTS]){3, 2, 0}); /* m6, m5 */
  assert_spans(f, ts[7], (int64_t[PARTS]){4, 3, 0});     /* m7; p1 has none that late */
  assert_spans(f, ts[7] + 1, (int64_t[PARTS]){5, 3, 0}); /* none anywhere: start = end */
  assert_spans(f, bw_time_epoch_ms() + 3600000, (int64_t[PARTS]){5, 3, 0}); /* the future */

  cleanup_free topic_span *spans = NULL;
  int count = -1;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(topic_spans(f->reader, f->empty, 0, 10000, &spans, &count, &err), 0);
  assert_int_equal(count, 2);
  for (int i = 0; i < count; i++)
    assert_true(spans[i].start == 0 && spans[i].end == 0);
}

/* ---- windows ---- */

typedef struct seen {
  const fixture *f;
  int count[MSGS];
  int calls;
  int stop_after; /* 0: never stop */
  char bad[160];  /* the first message that was not as produced */
} seen;

static int collect(void *ctx, const rd_kafka_message_t *m) {
  seen *s = ctx;
  s->calls++;
  char key[8] = "", value[8] = "";
  int i = -1;
  if (m->len < sizeof(value) && m->key_len < sizeof(key)) {
    memcpy(value, m->payload, m->len);
    memcpy(key, m->key, m->key_len);
    i = value[0] == 'm' ? atoi(value + 1) : -1;
  }
  bool ok = i >= 0 && i < MSGS && key[0] == 'k' && atoi(key + 1) == i && m->partition == PART[i] &&
            m->offset == OFFSET[i] && rd_kafka_message_timestamp(m, NULL) == s->f->ts[i] &&
            strcmp(rd_kafka_topic_name(m->rkt), s->f->topic) == 0;
  if (!ok && !s->bad[0])
    snprintf(s->bad, sizeof(s->bad), "value %s key %s at [%d] %lld", value, key, (int)m->partition,
             (long long)m->offset);
  if (ok)
    s->count[i]++;
  return s->stop_after > 0 && s->calls >= s->stop_after;
}

/* The messages read (bit i: m<i>), each once and as produced. */
static unsigned window(fixture *f, int64_t since, int64_t until, int stop_after, int *calls) {
  seen s = {.f = f, .stop_after = stop_after};
  cleanup_error bw_error_t err = NULL;
  if (topic_window_read(f->reader, f->topic, since, until, 10000, collect, &s, &err) < 0)
    fail_msg("topic_window_read: %s", bw_error_msg(&err));
  if (s.bad[0])
    fail_msg("read a message not as produced: %s", s.bad);
  unsigned bits = 0;
  for (int i = 0; i < MSGS; i++) {
    assert_true(s.count[i] <= 1);
    bits |= (unsigned)s.count[i] << i;
  }
  if (calls)
    *calls = s.calls;
  return bits;
}

static unsigned range(int from, int to) { /* bits from..to */
  return ((2u << to) - 1) & ~((1u << from) - 1);
}

static void a_window_is_inclusive_at_both_ends(void **state) {
  fixture *f = *state;
  const int64_t *ts = f->ts;
  assert_int_equal(window(f, 0, 0, 0, NULL), range(0, 7));
  assert_int_equal(window(f, ts[2], ts[5], 0, NULL), range(2, 5));
  assert_int_equal(window(f, ts[2] - 1, ts[5] + 1, 0, NULL), range(2, 5));
  assert_int_equal(window(f, ts[2] + 1, ts[5] - 1, 0, NULL), range(3, 4));
  assert_int_equal(window(f, ts[3], ts[3], 0, NULL), range(3, 3)); /* one millisecond */
  assert_int_equal(window(f, ts[3] + 1, ts[4] - 1, 0, NULL), 0);   /* between two */
  assert_int_equal(window(f, 0, ts[0] - 1, 0, NULL), 0);
  assert_int_equal(window(f, 0, ts[0], 0, NULL), range(0, 0));
  assert_int_equal(window(f, ts[7], 0, 0, NULL), range(7, 7));
  assert_int_equal(window(f, ts[7] + 1, 0, 0, NULL), 0);
  assert_int_equal(window(f, ts[5], ts[2], 0, NULL), 0); /* until before since */
}

/* A callback that says stop after N-1, N or N+1 of the N messages; the
 * same reader then reads the whole window again. */
static void a_read_stops_when_the_callback_says(void **state) {
  fixture *f = *state;
  int calls = 0;
  for (int k = MSGS - 1; k <= MSGS + 1; k++) {
    unsigned got = window(f, 0, 0, k, &calls);
    assert_int_equal(calls, k < MSGS ? k : MSGS);
    assert_int_equal(__builtin_popcount(got), calls);
    assert_int_equal(window(f, 0, 0, 0, NULL), range(0, 7));
  }
}

static void an_empty_topic_and_a_missing_one(void **state) {
  fixture *f = *state;
  seen s = {.f = f};
  cleanup_error bw_error_t err = NULL;
  int64_t t0 = bw_time_monotonic_ms();
  assert_int_equal(topic_window_read(f->reader, f->empty, 0, 0, 10000, collect, &s, &err), 0);
  assert_int_equal(s.calls, 0);
  assert_true(bw_time_monotonic_ms() - t0 < 3000); /* ends by itself, no waiting */
  char missing[128];
  snprintf(missing, sizeof(missing), "%s-missing", f->topic);
  assert_int_equal(topic_window_read(f->reader, missing, 0, 0, 10000, collect, &s, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(bw_error_msg(&err), missing));
  assert_int_equal(s.calls, 0);
  cleanup_free topic_span *spans = NULL;
  int count = 0;
  cleanup_error bw_error_t err2 = NULL;
  assert_int_equal(topic_spans(f->reader, missing, 0, 10000, &spans, &count, &err2), -1);
  assert_int_equal(err2->kind, BW_ERR_UNAVAILABLE);
}

/* Messages that arrive while a read goes on are not read: each partition is
 * read up to where it ended when the read began. */
typedef struct arriving {
  seen s;
  fixture *f;
  bool sent;
} arriving;

static int produce_during(void *ctx, const rd_kafka_message_t *m) {
  arriving *a = ctx;
  for (int32_t p = 0; !a->sent && p < PARTS; p++)
    produce(a->f, p, a->f->ts[MSGS - 1] + 1000, "late", "late");
  if (!a->sent)
    assert_int_equal(rd_kafka_flush(a->f->producer, 20000), 0);
  a->sent = true;
  return collect(&a->s, m);
}

static void what_arrives_during_a_read_is_not_read(void **state) {
  fixture *f = *state;
  arriving a = {.s.f = f, .f = f};
  cleanup_error bw_error_t err = NULL;
  if (topic_window_read(f->reader, f->topic, 0, 0, 10000, produce_during, &a, &err) < 0)
    fail_msg("topic_window_read: %s", bw_error_msg(&err));
  if (a.s.bad[0])
    fail_msg("read a message not as produced: %s", a.s.bad);
  assert_true(a.sent);
  assert_int_equal(a.s.calls, MSGS);
  cleanup_free topic_span *spans = NULL;
  int count = 0;
  assert_int_equal(topic_spans(f->reader, f->topic, 0, 10000, &spans, &count, &err), 0);
  for (int i = 0; i < count; i++) /* they were there before the read ended */
    assert_int_equal(spans[i].end, END[spans[i].partition] + 1);
}

/* ---- one message ---- */

static rd_kafka_message_t *fetch(fixture *f, const char *topic, int32_t partition, int64_t offset) {
  rd_kafka_message_t *m = (rd_kafka_message_t *)1;
  cleanup_error bw_error_t err = NULL;
  if (topic_window_fetch(f->reader, topic, partition, offset, 10000, &m, &err) < 0)
    fail_msg("fetch %s [%d] %lld: %s", topic, (int)partition, (long long)offset,
             bw_error_msg(&err));
  return m;
}

static void assert_fetched(fixture *f, int i) {
  rd_kafka_message_t *m = fetch(f, f->topic, PART[i], OFFSET[i]);
  if (!m)
    fail_msg("m%d at [%d] %lld: not fetched", i, (int)PART[i], (long long)OFFSET[i]);
  char want[8];
  snprintf(want, sizeof(want), "m%d", i);
  bool ok = m->partition == PART[i] && m->offset == OFFSET[i] && m->len == strlen(want) &&
            memcmp(m->payload, want, m->len) == 0;
  rd_kafka_message_destroy(m);
  assert_true(ok);
}

static void assert_not_kept(fixture *f, const char *topic, int32_t partition, int64_t offset) {
  rd_kafka_message_t *m = fetch(f, topic, partition, offset);
  if (m)
    rd_kafka_message_destroy(m);
  if (m)
    fail_msg("%s [%d] %lld: fetched, want none", topic, (int)partition, (long long)offset);
}

static void fetch_one_message_at_each_edge(void **state) {
  fixture *f = *state;
  for (int i = MSGS - 1; i >= 0; i--) /* backwards, on one reader */
    assert_fetched(f, i);
  assert_not_kept(f, f->topic, 0, -1);
  assert_fetched(f, 7);                        /* p0: END - 1 */
  assert_not_kept(f, f->topic, 0, END[0]);     /* END */
  assert_not_kept(f, f->topic, 0, END[0] + 1); /* END + 1 */
  assert_not_kept(f, f->topic, 2, 0);          /* an empty partition */
  assert_not_kept(f, f->topic, PARTS, 0);      /* one past the last partition */
  char missing[128];
  snprintf(missing, sizeof(missing), "%s-missing", f->topic);
  assert_not_kept(f, missing, 0, 0); /* never had it */
  int calls = 0;                     /* after a read stopped early, on the same reader */
  window(f, 0, 0, 1, &calls);
  assert_int_equal(calls, 1);
  assert_fetched(f, 0);
  assert_fetched(f, 1);
}

/* Records deleted from the start of a partition (retention does the same):
 * spans start at what is kept, reads skip the rest, fetches say none. */
static void records_deleted_from_the_start_are_no_longer_kept(void **state) {
  fixture *f = *state;
  rd_kafka_topic_partition_list_t *before = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(before, f->topic, 0)->offset = 2; /* m0, m2 go */
  rd_kafka_DeleteRecords_t *del = rd_kafka_DeleteRecords_new(before);
  rd_kafka_topic_partition_list_destroy(before);
  rd_kafka_queue_t *q = rd_kafka_queue_new(f->admin);
  rd_kafka_DeleteRecords(f->admin, &del, 1, NULL, q);
  rd_kafka_DeleteRecords_destroy(del);
  admin_answer(q, RD_KAFKA_EVENT_DELETERECORDS_RESULT);
  assert_spans(f, 0, (int64_t[PARTS]){2, 0, 0});
  assert_spans(f, f->ts[0], (int64_t[PARTS]){2, 0, 0});
  assert_spans(f, f->ts[2] + 1, (int64_t[PARTS]){2, 1, 0}); /* m4, m3 */
  assert_int_equal(window(f, 0, 0, 0, NULL), range(0, 7) & ~(1u | 4u));
  assert_int_equal(window(f, f->ts[0], f->ts[3], 0, NULL), range(1, 1) | range(3, 3));
  assert_not_kept(f, f->topic, 0, 0);
  assert_not_kept(f, f->topic, 0, 1);
  assert_fetched(f, 4); /* p0 offset 2: the first kept */
}

/* The tests that only read share one fixture; the two that change their
 * topic have their own. */
int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(spans_start_at_the_first_message_at_or_after_since),
      cmocka_unit_test(a_window_is_inclusive_at_both_ends),
      cmocka_unit_test(a_read_stops_when_the_callback_says),
      cmocka_unit_test(an_empty_topic_and_a_missing_one),
      cmocka_unit_test(fetch_one_message_at_each_edge),
      cmocka_unit_test_setup_teardown(what_arrives_during_a_read_is_not_read, setup, teardown),
      cmocka_unit_test_setup_teardown(records_deleted_from_the_start_are_no_longer_kept, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

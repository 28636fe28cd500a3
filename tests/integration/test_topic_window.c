/* shared/clients/topic_window.h against the stack's real KRaft broker: a
 * topic of the test's own with 8 messages of known timestamps over three
 * partitions (5, 3 and none), and an empty one. Spans by time, windows
 * inclusive at both ends (each edge at N-1, N, N+1 ms), early stops after
 * N-1, N, N+1 messages, what arrives during a read, one-message fetches at
 * every offset edge (and why there is none), the time fetches take one after
 * another, and records deleted from the start of a partition. */
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
  f->admin = stack_kafka_client(RD_KAFKA_PRODUCER);
  f->producer = stack_kafka_client(RD_KAFKA_PRODUCER);
  stack_topic_create(f->admin, f->topic, PARTS, NULL);
  stack_topic_create(f->admin, f->empty, 2, NULL);
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
  if (!f) /* the group setup failed first: its topics are deleted at exit (stack_env.h) */
    return 0;
  rd_kafka_destroy(f->reader);
  rd_kafka_destroy(f->producer);
  stack_topic_delete(f->admin, f->topic);
  stack_topic_delete(f->admin, f->empty);
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

static rd_kafka_message_t *fetch(fixture *f, const char *topic, int32_t partition, int64_t offset,
                                 topic_fetch_result want) {
  rd_kafka_message_t *m = (rd_kafka_message_t *)1;
  cleanup_error bw_error_t err = NULL;
  int got = topic_window_fetch(f->reader, topic, partition, offset, 10000, &m, &err);
  if (got < 0)
    fail_msg("fetch %s [%d] %lld: %s", topic, (int)partition, (long long)offset,
             bw_error_msg(&err));
  if (got != (int)want || (want == TOPIC_FETCH_FOUND) != (m != NULL)) {
    if (m)
      rd_kafka_message_destroy(m);
    fail_msg("fetch %s [%d] %lld: %d%s, want %d", topic, (int)partition, (long long)offset, got,
             m ? " with a message" : " without a message", (int)want);
  }
  return m;
}

static void assert_fetched(fixture *f, int i) {
  rd_kafka_message_t *m = fetch(f, f->topic, PART[i], OFFSET[i], TOPIC_FETCH_FOUND);
  char want[8];
  snprintf(want, sizeof(want), "m%d", i);
  bool ok = m->partition == PART[i] && m->offset == OFFSET[i] && m->len == strlen(want) &&
            memcmp(m->payload, want, m->len) == 0;
  rd_kafka_message_destroy(m);
  assert_true(ok);
}

/* No message there, for the reason `why`. */
static void assert_none(fixture *f, const char *topic, int32_t partition, int64_t offset,
                        topic_fetch_result why) {
  fetch(f, topic, partition, offset, why);
}

static void fetch_one_message_at_each_edge(void **state) {
  fixture *f = *state;
  for (int i = MSGS - 1; i >= 0; i--) /* backwards, on one reader */
    assert_fetched(f, i);
  assert_none(f, f->topic, 0, -1, TOPIC_FETCH_NEVER_WRITTEN);
  assert_fetched(f, 7);                                               /* p0: END - 1 */
  assert_none(f, f->topic, 0, END[0], TOPIC_FETCH_NEVER_WRITTEN);     /* END */
  assert_none(f, f->topic, 0, END[0] + 1, TOPIC_FETCH_NEVER_WRITTEN); /* END + 1 */
  assert_none(f, f->topic, 2, 0, TOPIC_FETCH_NEVER_WRITTEN);          /* an empty partition */
  assert_none(f, f->topic, PARTS, 0, TOPIC_FETCH_NO_PARTITION);       /* past the last partition */
  char missing[128];
  snprintf(missing, sizeof(missing), "%s-missing", f->topic);
  assert_none(f, missing, 0, 0, TOPIC_FETCH_NO_PARTITION); /* no such topic */
  int calls = 0; /* after a read stopped early, on the same reader */
  window(f, 0, 0, 1, &calls);
  assert_int_equal(calls, 1);
  assert_fetched(f, 0);
  assert_fetched(f, 1);
}

/* Fetches one after another, as replay makes them: the time each takes is
 * printed (a figure, not asserted on). */
static void fetches_one_after_another(void **state) {
  fixture *f = *state;
  enum { FETCHES = 50 };
  int64_t total = 0, slowest = 0, fastest = INT64_MAX;
  for (int n = 0; n < FETCHES; n++) {
    int64_t t0 = bw_time_monotonic_ms();
    assert_fetched(f, n % MSGS);
    int64_t took = bw_time_monotonic_ms() - t0;
    total += took;
    slowest = took > slowest ? took : slowest;
    fastest = took < fastest ? took : fastest;
  }
  printf("topic_window_fetch: %d fetches in %lld ms (%.1f ms each; fastest %lld, slowest %lld)\n",
         FETCHES, (long long)total, (double)total / FETCHES, (long long)fastest,
         (long long)slowest);
}

/* Records deleted from the start of a partition (retention does the same):
 * spans start at what is kept, reads skip the rest, fetches say removed. */
static void records_deleted_from_the_start_are_no_longer_kept(void **state) {
  fixture *f = *state;
  stack_topic_delete_records(f->admin, f->topic, 0, 2); /* m0, m2 go */
  assert_spans(f, 0, (int64_t[PARTS]){2, 0, 0});
  assert_spans(f, f->ts[0], (int64_t[PARTS]){2, 0, 0});
  assert_spans(f, f->ts[2] + 1, (int64_t[PARTS]){2, 1, 0}); /* m4, m3 */
  assert_int_equal(window(f, 0, 0, 0, NULL), range(0, 7) & ~(1u | 4u));
  assert_int_equal(window(f, f->ts[0], f->ts[3], 0, NULL), range(1, 1) | range(3, 3));
  assert_none(f, f->topic, 0, 0, TOPIC_FETCH_REMOVED);
  assert_none(f, f->topic, 0, 1, TOPIC_FETCH_REMOVED);
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
      cmocka_unit_test(fetches_one_after_another),
      cmocka_unit_test_setup_teardown(what_arrives_during_a_read_is_not_read, setup, teardown),
      cmocka_unit_test_setup_teardown(records_deleted_from_the_start_are_no_longer_kept, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

/* shared/clients/kafka_publisher.h against the stack's real KRaft broker, on
 * topics each test creates and deletes: events (key = job_id, one partition
 * per job, uploads copied), delivery reports, back-pressure on a small local
 * queue, the producer's size limit (events refused, dead letters cut), a dead
 * letter refused by its topic then sent minimal, and a broker not there.
 * Everything sent is read back by a plain librdkafka consumer of the test's. */
#include "kafka_fixture.h"

#include "clients/kafka_publisher.h"
#include "core/cleanup.h"
#include "core/digest.h"
#include "core/thread.h"
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

static void assert_bytes(const void *got, size_t got_len, const char *want) {
  assert_int_equal(got_len, strlen(want));
  assert_memory_equal(got ? got : "", want, got_len);
}

/* The header's value as a string; NULL when the message lacks it. */
static char *header(const rd_kafka_message_t *m, const char *name) {
  rd_kafka_headers_t *h = NULL;
  const void *v = NULL;
  size_t len = 0;
  if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &len))
    return NULL;
  return bw_strdup_bytes(v ? v : "", len);
}

static void assert_header(const rd_kafka_message_t *m, const char *name, const char *want) {
  cleanup_free char *got = header(m, name);
  assert_string_equal(got ? got : "(none)", want);
}

static size_t header_count(const rd_kafka_message_t *m) {
  rd_kafka_headers_t *h = NULL;
  return rd_kafka_message_headers(m, &h) ? 0 : rd_kafka_header_cnt(h);
}

enum { EVENTS, UPLOADS, DLQ, SRC, SMALL, TOPICS };

typedef struct sent {
  atomic_int reports;
  rd_kafka_resp_err_t err;
} sent;

typedef struct fixture {
  bw_config cfg;
  bw_logger log;
  rd_kafka_t *admin;
  char topic[TOPICS][96];
  atomic_int reports; /* on_delivered calls */
} fixture;

static void on_delivered(void *ctx, void *opaque, rd_kafka_resp_err_t err) {
  sent *s = opaque;
  atomic_fetch_add(&((fixture *)ctx)->reports, 1);
  if (!s)
    return;
  s->err = err;
  atomic_fetch_add(&s->reports, 1);
}

static void set_key(fixture *f, const char *key, const char *value) {
  cleanup_error bw_error_t err = NULL;
  if (bw_config_set(&f->cfg, key, value, "test", &err) < 0)
    fail_msg("%s", bw_error_msg(&err));
}

/* SMALL is a dead-letter topic whose max.message.bytes refuses 2 kB. */
static int setup(void **state) {
  static const char *const kinds[TOPICS] = {"events", "uploads", "dlq", "src", "small"};
  fixture *f = bw_xcalloc(1, sizeof(*f));
  stack_config(&f->cfg);
  bw_logger_init(&f->log, BW_LOG_ERROR, 2, "test");
  f->admin = stack_kafka_client(RD_KAFKA_PRODUCER);
  for (int i = 0; i < TOPICS; i++) {
    snprintf(f->topic[i], sizeof(f->topic[i]), "bw-pub-%d-%lld-%s", (int)getpid(),
             (long long)bw_time_epoch_ms(), kinds[i]);
    stack_topic_create(f->admin, f->topic[i], i == EVENTS ? 3 : 1, i == SMALL ? "2048" : NULL);
  }
  set_key(f, "topic.events", f->topic[EVENTS]);
  set_key(f, "topic.uploads", f->topic[UPLOADS]);
  set_key(f, "topic.dlq", f->topic[DLQ]);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  for (int i = 0; i < TOPICS; i++)
    stack_topic_delete(f->admin, f->topic[i]);
  rd_kafka_destroy(f->admin);
  bw_config_free(&f->cfg);
  free(f);
  return 0;
}

static kafka_publisher *publisher(fixture *f) {
  kafka_publisher *p = NULL;
  cleanup_error bw_error_t err = NULL;
  if (kafka_publisher_new(&f->cfg, &f->log, on_delivered, f, &p, &err) < 0)
    fail_msg("kafka_publisher_new: %s", bw_error_msg(&err));
  return p;
}

static int send_event(kafka_publisher *p, const char *type, const char *job, const char *json,
                      sent *s, bw_error_t *err) {
  return kafka_publisher_event(p, type, job, json, strlen(json), s, err);
}

static void assert_reported(sent *s, int n, rd_kafka_resp_err_t want) {
  for (int i = 0; i < n; i++) {
    assert_int_equal(atomic_load(&s[i].reports), 1);
    assert_int_equal(s[i].err, want);
  }
}

/* Through a local queue of 4 messages (queue.buffering.max.messages): the
 * polling thread, sending, serves its own reports (back-pressure, not loss). */
static void events_round_trip_with_keys_and_reports(void **state) {
  fixture *f = *state;
  set_key(f, "kafka.queue.buffering.max.messages", "4");
  kafka_publisher *p = publisher(f);
  kafka_publisher_poll(p, 0); /* this thread is the poller now */
  static const char *const types[] = {"job.started", "job.log", "artifact.uploaded", "job.log",
                                      "job.finished"};
  enum { JOBS = 3, EACH = 5 };
  char json[JOBS][EACH][96], job[JOBS][16];
  sent s[JOBS * EACH] = {0};
  for (int e = 0; e < EACH; e++) /* interleaved, as slots send them */
    for (int j = 0; j < JOBS; j++) {
      snprintf(job[j], sizeof(job[j]), "job-%d", j);
      snprintf(json[j][e], sizeof(json[j][e]), "{\"type\":\"%s\",\"job_id\":\"%s\",\"n\":%d}",
               types[e], job[j], e);
      assert_int_equal(send_event(p, types[e], job[j], json[j][e], &s[j * EACH + e], NULL), 0);
    }
  assert_int_equal(send_event(p, "job.log", "job-x", "{}", NULL, NULL), 0);
  assert_int_equal(kafka_publisher_flush(p, 20000), 0);
  /* Neither the uploads copies nor the message without an opaque report. */
  assert_int_equal(atomic_load(&f->reports), JOBS * EACH);
  assert_reported(s, JOBS * EACH, RD_KAFKA_RESP_ERR_NO_ERROR);
  assert_true(atomic_load(&p->sent) == JOBS * EACH + JOBS + 1 && atomic_load(&p->failed) == 0);
  kafka_publisher_free(p);

  cleanup_kafka_recs kafka_recs got = {0}, uploads = {0};
  kafka_read(f->topic[EVENTS], 3, NULL, &got);
  assert_int_equal(got.n, JOBS * EACH + 1);
  for (int j = 0; j < JOBS; j++) { /* a job's events: one partition, in the order sent */
    int seen = 0, partition = -1;
    for (size_t i = 0; i < got.n; i++) {
      const rd_kafka_message_t *m = got.m[i];
      if (m->key_len != strlen(job[j]) || memcmp(m->key, job[j], m->key_len))
        continue;
      assert_true(seen < EACH && (partition < 0 || partition == m->partition));
      partition = m->partition;
      assert_bytes(m->payload, m->len, json[j][seen++]);
      assert_int_equal(header_count(m), 0);
    }
    assert_int_equal(seen, EACH);
  }
  kafka_read(f->topic[UPLOADS], 1, NULL, &uploads);
  assert_int_equal(uploads.n, JOBS);
  for (int j = 0; j < JOBS; j++) {
    assert_bytes(uploads.m[j]->key, uploads.m[j]->key_len, job[j]);
    assert_bytes(uploads.m[j]->payload, uploads.m[j]->len, json[j][2]);
  }
}

/* Originals on SRC, read back as the worker has them (i: sizes[i] random
 * bytes, key "orig-i", headers origin=test and bin=00 01 02; size 0: no key,
 * no headers, no bytes). */
static void originals(fixture *f, const size_t *sizes, int n, kafka_recs *out) {
  rd_kafka_t *prod = stack_kafka_client(RD_KAFKA_PRODUCER);
  uint32_t x = 12345;
  for (int i = 0; i < n; i++) {
    cleanup_free char *value = bw_xmalloc(sizes[i] + 1);
    for (size_t b = 0; b < sizes[i]; b++) /* random: lz4 must not shrink it */
      value[b] = (char)((x = x * 1103515245u + 12345u) >> 24);
    char key[16];
    snprintf(key, sizeof(key), "orig-%d", i);
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "origin", -1, "test", -1);
    rd_kafka_header_add(h, "bin", -1, "\0\1\2", 3);
    assert_int_equal(rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(f->topic[SRC]),
                                       RD_KAFKA_V_KEY(sizes[i] ? key : NULL, sizes[i] ? 6 : 0),
                                       RD_KAFKA_V_VALUE(sizes[i] ? value : NULL, sizes[i]),
                                       RD_KAFKA_V_HEADERS(sizes[i] ? h : NULL),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
    if (!sizes[i])
      rd_kafka_headers_destroy(h);
  }
  assert_int_equal(rd_kafka_flush(prod, 20000), 0);
  rd_kafka_destroy(prod);
  kafka_read(f->topic[SRC], 1, NULL, out);
  assert_int_equal(out->n, n);
}

static void dead_letter(kafka_publisher *p, const rd_kafka_message_t *m, const char *reason,
                        kafka_dlq_copy form, sent *s, bool want_truncated) {
  cleanup_error bw_error_t err = NULL;
  bool truncated = !want_truncated;
  if (kafka_publisher_dead_letter(p, m, reason, form, s, &truncated, &err) < 0)
    fail_msg("dead letter: %s", bw_error_msg(&err));
  assert_int_equal(truncated, want_truncated);
}

/* The dlq.* headers, and (cut) what says the copy is not whole. */
static void assert_dlq(const rd_kafka_message_t *m, const fixture *f,
                       const rd_kafka_message_t *orig, bool cut) {
  char off[32], bytes[32], sha[DIGEST_SHA256_HEX_LEN + 1];
  snprintf(off, sizeof(off), "%lld", (long long)orig->offset);
  assert_header(m, "dlq.source.topic", f->topic[SRC]);
  assert_header(m, "dlq.source.partition", "0");
  assert_header(m, "dlq.source.offset", off);
  assert_header(m, "dlq.worker", f->cfg.worker_id);
  cleanup_free char *ts = header(m, "dlq.time");
  cleanup_free char *truncated = header(m, "dlq.truncated");
  assert_true(ts && strlen(ts) == 24 && ts[23] == 'Z');
  if (cut) {
    snprintf(bytes, sizeof(bytes), "%zu", orig->len);
    assert_int_equal(digest_sha256_buf(orig->payload, orig->len, sha, NULL), 0);
    assert_header(m, "dlq.truncated", "true");
    assert_header(m, "dlq.original.bytes", bytes);
    assert_header(m, "dlq.original.sha256", sha);
  }
  assert_true(cut ? m->len < orig->len && !!truncated : m->len == orig->len && !truncated);
  assert_true(m->len == 0 || memcmp(m->payload, orig->payload, m->len) == 0);
}

/* message.max.bytes 20000 (N). Events: N+1 bytes are refused at once (and
 * no uploads copy goes), N/2 go out. Dead letters: 300 bytes, nothing and
 * N/4 go whole, with key and headers; N-1, N, N+1 and 3N are cut to fit (the
 * record's own bytes count too) and all go out; a reason is cut to 4096. */
static void over_the_producers_limit_refused_or_cut(void **state) {
  fixture *f = *state;
  enum { N = 20000, COUNT = 7, CUT_FROM = 3 };
  const size_t sizes[COUNT] = {300, 0, N / 4, N - 1, N, N + 1, 3 * N};
  cleanup_kafka_recs kafka_recs orig = {0}, got = {0}, events = {0}, uploads = {0};
  originals(f, sizes, COUNT, &orig);
  set_key(f, "kafka.message.max.bytes", "20000");
  kafka_publisher *p = publisher(f);
  sent s[COUNT + 2] = {0};
  cleanup_free char *long_reason = bw_xcalloc(5001, 1), *big = bw_xcalloc(N + 2, 1);
  memset(long_reason, 'r', 5000);
  memset(big, 'x', N + 1);
  for (int upload = 0; upload < 2; upload++) { /* refused at once, naming the topic */
    cleanup_error bw_error_t err = NULL;
    assert_int_equal(
        send_event(p, upload ? "artifact.uploaded" : "job.log", "big", big, NULL, &err), -1);
    assert_non_null(strstr(bw_error_msg(&err), f->topic[upload ? UPLOADS : EVENTS]));
    assert_non_null(strstr(bw_error_msg(&err), "too large"));
    assert_int_equal(err->kind, BW_ERR_INVALID); /* it never fits: not worth trying again */
  }
  assert_int_equal(kafka_publisher_event(p, "job.log", "half", big, N / 2, &s[COUNT + 1], NULL), 0);
  for (int i = 0; i < COUNT; i++)
    dead_letter(p, orig.m[i], "bad request", KAFKA_DLQ_WHOLE, &s[i], i >= CUT_FROM);
  dead_letter(p, orig.m[0], long_reason, KAFKA_DLQ_WHOLE, &s[COUNT], false);
  assert_int_equal(kafka_publisher_flush(p, 20000), 0);
  assert_reported(s, COUNT + 2, RD_KAFKA_RESP_ERR_NO_ERROR);
  assert_int_equal(atomic_load(&p->sent), COUNT + 2);
  kafka_publisher_free(p);
  kafka_read(f->topic[EVENTS], 3, NULL, &events);
  kafka_read(f->topic[UPLOADS], 1, NULL, &uploads);
  assert_true(events.n == 1 && events.m[0]->len == N / 2 && uploads.n == 0);
  kafka_read(f->topic[DLQ], 1, NULL, &got);
  assert_int_equal(got.n, COUNT + 1);
  for (int i = 0; i < COUNT; i++) {
    const rd_kafka_message_t *m = got.m[i];
    assert_dlq(m, f, orig.m[i], i >= CUT_FROM);
    assert_header(m, "dlq.reason", "bad request");
    assert_int_equal(m->key_len, orig.m[i]->key_len);
    assert_memory_equal(m->key ? m->key : "", orig.m[i]->key ? orig.m[i]->key : "", m->key_len);
    assert_true(i < CUT_FROM || m->len > N / 2); /* cut to fit, not emptied */
    if (i == 1) {
      assert_int_equal(header_count(m), 6);
      continue;
    }
    cleanup_free char *bin = header(m, "bin"); /* the original's headers, as they were */
    assert_header(m, "origin", "test");
    assert_true(bin && memcmp(bin, "\0\1\2\0", 4) == 0); /* 3 bytes, then the end */
    assert_int_equal(header_count(m), 2 + 6 + (i >= CUT_FROM ? 3 : 0));
  }
  cleanup_free char *reason = header(got.m[COUNT], "dlq.reason");
  assert_true(reason && strlen(reason) == 4096 && strspn(reason, "r") == 4096);
}

/* The topic's max.message.bytes (2048) refuses the whole copy: a failed
 * delivery report; the minimal copy then goes out, and so does what follows. */
static void refused_by_the_topic_then_minimal(void **state) {
  fixture *f = *state;
  const size_t sizes[] = {10000};
  cleanup_kafka_recs kafka_recs orig = {0}, got = {0};
  originals(f, sizes, 1, &orig);
  set_key(f, "topic.dlq", f->topic[SMALL]);
  kafka_publisher *p = publisher(f);
  sent s[3] = {0};
  dead_letter(p, orig.m[0], "refused", KAFKA_DLQ_WHOLE, &s[0], false);
  assert_int_equal(kafka_publisher_flush(p, 20000), 0);
  assert_reported(s, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  assert_int_equal(atomic_load(&p->failed), 1);
  dead_letter(p, orig.m[0], "refused", KAFKA_DLQ_MINIMAL, &s[1], true);
  assert_int_equal(send_event(p, "job.log", "after", "{\"after\":1}", &s[2], NULL), 0);
  assert_int_equal(kafka_publisher_flush(p, 20000), 0);
  assert_reported(s + 1, 2, RD_KAFKA_RESP_ERR_NO_ERROR);
  kafka_publisher_free(p);
  kafka_read(f->topic[SMALL], 1, NULL, &got);
  assert_int_equal(got.n, 1);
  assert_true(!got.m[0]->key && got.m[0]->len == 0);
  assert_int_equal(header_count(got.m[0]), 6 + 3); /* none of the original's */
  assert_header(got.m[0], "dlq.reason", "refused");
  assert_dlq(got.m[0], f, orig.m[0], true);
}

/* One side of a full queue: a send (its error kept as "KIND MESSAGE"), or
 * a stop raised after 300 ms. */
typedef struct side {
  kafka_publisher *p;
  bw_cancel *stop;
  bool sends;
  char *error;
} side;

static void *side_run(void *arg) {
  side *h = arg;
  cleanup_error bw_error_t err = NULL;
  if (!h->sends)
    bw_time_sleep_ms(300, NULL);
  else if (send_event(h->p, "job.log", "dead", "{}", NULL, &err) < 0)
    h->error = bw_strdup_printf("%s %s", bw_error_kind_name(err->kind), bw_error_msg(&err));
  bw_cancel_raise(h->stop, 1);
  return NULL;
}

/* Nothing is dropped (no message timeout): events queue, flush says how many
 * are left when its time is up, and a full queue waits until stop is raised,
 * on the polling thread as on another. */
static void a_dead_broker_queues_and_never_hangs(void **state) {
  fixture *f = *state;
  set_key(f, "kafka.bootstrap.servers", "127.0.0.1:1");
  set_key(f, "kafka.queue.buffering.max.messages", "3");
  int64_t t1 = bw_time_monotonic_ms();
  kafka_publisher *p = publisher(f);
  sent s[3] = {0};
  for (int i = 0; i < 3; i++)
    assert_int_equal(send_event(p, "job.log", "dead", "{}", &s[i], NULL), 0);
  assert_int_equal(kafka_publisher_flush(p, 1000), 3);
  assert_true(bw_time_monotonic_ms() - t1 >= 900 && bw_time_monotonic_ms() - t1 < 3000);
  assert_int_equal(atomic_load(&f->reports), 0); /* none dropped */
  bw_cancel stop = 0;
  p->stop = &stop;
  cleanup_free char *want = bw_strdup_printf(
      "unavailable kafka: produce to %s: the local queue stayed full (is the broker down?)",
      f->topic[EVENTS]);
  kafka_publisher_poll(p, 0); /* this thread is the poller now */
  for (int poller_sends = 0; poller_sends < 2; poller_sends++) {
    bw_cancel_reset(&stop);
    side theirs = {p, &stop, !poller_sends, NULL}, mine = {p, &stop, poller_sends, NULL};
    pthread_t t;
    int64_t t2 = bw_time_monotonic_ms();
    assert_int_equal(bw_thread_start(&t, side_run, &theirs), 0);
    side_run(&mine);
    pthread_join(t, NULL);
    cleanup_free char *text = poller_sends ? mine.error : theirs.error;
    int64_t waited = bw_time_monotonic_ms() - t2; /* until the stop, not longer */
    assert_true(waited >= 250 && waited < 1500);
    assert_string_equal(text ? text : "(sent)", want);
  }
  int64_t t3 = bw_time_monotonic_ms();
  kafka_publisher_free(p); /* with 3 undelivered: it does not wait for them */
  assert_true(bw_time_monotonic_ms() - t3 < 5000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(events_round_trip_with_keys_and_reports, setup, teardown),
      cmocka_unit_test_setup_teardown(over_the_producers_limit_refused_or_cut, setup, teardown),
      cmocka_unit_test_setup_teardown(refused_by_the_topic_then_minimal, setup, teardown),
      cmocka_unit_test_setup_teardown(a_dead_broker_queues_and_never_hangs, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

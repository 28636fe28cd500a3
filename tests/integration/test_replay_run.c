/* shared/ops/replay_run.h against the stack's real Kafka and Redis: topics of
 * the test's own hold the original requests, job.finished events (shaped by
 * job/events.c, with where each request is) and dead letters, all with
 * known timestamps; Redis records under a prefix of the test's own; dead
 * letters written by the worker's publisher (cut, minimal, keyless). Each
 * replay is checked by what it reports per job and, with a consumer of the
 * test's own on topic.runs, by exactly what it sent. */
#include "kafka_fixture.h"

#include "clients/job_store.h"
#include "clients/kafka_publisher.h"
#include "core/cleanup.h"
#include "core/timeutil.h"
#include "job/components.h"
#include "job/events.h"
#include "ops/replay_run.h"

#include <librdkafka/rdkafka.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* The jobs (with job.finished events, then dead letters), and the words of
 * a replay that skips them (put_everything says what each one is). */
enum { OOM, USR, OK, FIXED, CANCEL, OLD, PAST, OTHER, DONE, RUNNING, AGAIN, BEFORE, AFTER };
enum { DL_OK = AFTER + 1, DL_UNREG, DL_GARBAGE, DL_CUT, DL_MINIMAL, PURGED, JOBS };

static const struct {
  const char *name;
  const char *why; /* when skipped */
} JOB[JOBS] = {
    [OOM] = {"oom", NULL},
    [USR] = {"usr", NULL},
    [OK] = {"ok", NULL},
    [FIXED] = {"fixed", "succeeded since (attempt 2)"},
    [CANCEL] = {"cancel", NULL},
    [OLD] = {"old", "does not say where the request is"},
    [PAST] = {"past", "the request was never on"},
    [OTHER] = {"other", "is not job"},
    [DONE] = {"done", "succeeded since (attempt 1)"},      /* Redis: success */
    [RUNNING] = {"running", "running now (attempt 2)"},    /* Redis: running */
    [AGAIN] = {"again", "already run again as attempt 2"}, /* Redis: user_error, 2 */
    [BEFORE] = {"before", NULL},
    [AFTER] = {"after", NULL},
    [DL_OK] = {"dl-ok", NULL},
    [DL_UNREG] = {"dl-unreg", "still invalid: component"},
    [DL_GARBAGE] = {"dl-garbage", "not a readable request"},
    [DL_CUT] = {"dl-cut", NULL},
    [DL_MINIMAL] = {"dl-minimal", NULL},
    [PURGED] = {"purged", "the request is no longer kept on"},
};

enum { REQ, EVENTS, DLQ, RUNS, TOPICS };

typedef struct fixture {
  bw_config cfg;
  bw_logger log;
  rd_kafka_t *admin, *producer;
  char topic[TOPICS][96];
  char job[JOBS][64];
  int64_t offset[JOBS]; /* the request's, on partition 0 of REQ (1: dead_letters_...) */
  int64_t since, until; /* the window: 60 s, ending 9 minutes ago */
  char *prefix;
  redisContext *redis;
  component_registry reg;
} fixture;

static void produce(fixture *f, int topic, int32_t partition, const char *key, const char *value,
                    int64_t ts, const char *reason) {
  rd_kafka_headers_t *h = reason ? rd_kafka_headers_new(1) : NULL;
  if (h)
    rd_kafka_header_add(h, "dlq.reason", -1, reason, -1);
  assert_int_equal(rd_kafka_producev(f->producer, RD_KAFKA_V_TOPIC(f->topic[topic]),
                                     RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_TIMESTAMP(ts),
                                     RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                                     RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                     RD_KAFKA_V_HEADERS(h),
                                     RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                   0);
}

static char *request_json(const char *job, const char *comp) {
  return bw_strdup_printf("{\"job_id\":\"%s\",\"component\":\"%s\",\"config\":{\"parameters\":"
                          "{\"#token\":\"s3cret\",\"n\":1}}}",
                          job, comp);
}

/* A job.finished as the pipeline sends it; request offset < 0: none said. */
static void finished_at(fixture *f, int j, long attempt, const char *status, int32_t partition,
                        int64_t offset, int64_t ts) {
  job_events je = {.job_id = f->job[j], .attempt = attempt, .worker_id = "w1", .host = "h1"};
  cleanup_json json_t *ev = event_new(&je, "job.finished");
  json_object_set_new(ev, "status", json_string(status));
  json_object_set_new(ev, "message", json_string(status));
  json_object_set_new(ev, "component", json_string("bundle.exit"));
  if (offset >= 0)
    json_object_set_new(ev, "request",
                        json_pack("{s:s, s:i, s:I}", "topic", f->topic[REQ], "partition",
                                  (int)partition, "offset", (json_int_t)offset));
  cleanup_free char *text = json_dumps(ev, JSON_COMPACT);
  produce(f, EVENTS, -1, f->job[j], text, ts, NULL);
}

static void finished(fixture *f, int j, long attempt, const char *status, int64_t offset,
                     int64_t ts) {
  finished_at(f, j, attempt, status, 0, offset, ts);
}

static void record(fixture *f, job_store *js, int j, long attempt, const char *final) {
  job_claim_request rq = {f->job[j], "w1", attempt, false, 600000, 0};
  job_claim claim = {0};
  bool ours = false, written = false;
  cleanup_error bw_error_t err = NULL;
  if (job_store_claim(js, &rq, &claim, &err) < 0 || claim.outcome != JOB_CLAIM_ACQUIRED ||
      (final &&
       job_store_finish(js, f->job[j], claim.token, final, NULL, NULL, &ours, &written, &err) < 0))
    fail_msg("redis record of %s: %s", f->job[j], bw_error_msg(&err));
  job_claim_free(&claim);
}

static void put_everything(fixture *f) {
  int64_t t = f->since + 1000;
  for (int j = 0; j < DL_OK; j++) { /* the originals */
    cleanup_free char *req = request_json(f->job[j], "bundle.exit");
    f->offset[j] = j;
    produce(f, REQ, 0, f->job[j], req, t, NULL);
  }
  produce(f, EVENTS, -1, f->job[OOM], "{\"type\":\"job.started\"}", t, NULL);
  finished(f, OOM, 1, "oom", f->offset[OOM], t);
  finished(f, USR, 1, "user_error", f->offset[USR], t);
  finished(f, OK, 1, "success", f->offset[OK], t);
  finished(f, FIXED, 1, "user_error", f->offset[FIXED], t);
  finished(f, FIXED, 2, "success", f->offset[FIXED], t + 1000);
  finished(f, CANCEL, 1, "cancelled", f->offset[CANCEL], t);
  finished(f, OLD, 1, "oom", -1, t);
  finished(f, PAST, 1, "oom", 1000, t);
  finished(f, OTHER, 1, "oom", f->offset[OOM], t);
  finished(f, DONE, 1, "oom", f->offset[DONE], t);
  finished(f, RUNNING, 1, "oom", f->offset[RUNNING], t);
  finished(f, AGAIN, 1, "oom", f->offset[AGAIN], t);
  finished(f, BEFORE, 1, "oom", f->offset[BEFORE], f->since - 1);
  finished(f, AFTER, 1, "oom", f->offset[AFTER], f->until + 1);
  cleanup_free char *ok = request_json(f->job[DL_OK], "bundle.exit");
  cleanup_free char *unreg = request_json(f->job[DL_UNREG], "bundle.not-registered");
  produce(f, DLQ, 0, f->job[DL_OK], ok, f->since, "infra: redis down");
  produce(f, DLQ, 0, f->job[DL_UNREG], unreg, f->until, "invalid: component");
  produce(f, DLQ, 0, f->job[DL_GARBAGE], "not json at all", t, "invalid: not JSON");
  assert_int_equal(rd_kafka_flush(f->producer, 20000), 0);
  job_store *js = job_store_new(&f->cfg, &f->log, f->prefix);
  record(f, js, DONE, 1, "success");
  record(f, js, RUNNING, 2, NULL);
  record(f, js, AGAIN, 2, "user_error");
  job_store_free(js);
}

static void set_key(fixture *f, const char *key, const char *value) {
  cleanup_error bw_error_t err = NULL;
  if (bw_config_set(&f->cfg, key, value, "test", &err) < 0)
    fail_msg("%s", bw_error_msg(&err));
}

static int setup(void **state) {
  static const char *const kinds[TOPICS] = {"requests", "events", "dlq", "runs"};
  static const int partitions[TOPICS] = {2, 3, 1, 3};
  fixture *f = bw_xcalloc(1, sizeof(*f));
  stack_config(&f->cfg);
  bw_logger_init(&f->log, BW_LOG_ERROR, 2, "test");
  long long id = (long long)bw_time_epoch_ms();
  f->admin = stack_kafka_client(RD_KAFKA_PRODUCER);
  f->producer = stack_kafka_client(RD_KAFKA_PRODUCER);
  for (int i = 0; i < TOPICS; i++) {
    snprintf(f->topic[i], sizeof(f->topic[i]), "bw-replay-run-%d-%lld-%s", (int)getpid(), id,
             kinds[i]);
    stack_topic_create(f->admin, f->topic[i], partitions[i], NULL);
  }
  set_key(f, "topic.events", f->topic[EVENTS]);
  set_key(f, "topic.dlq", f->topic[DLQ]);
  set_key(f, "topic.runs", f->topic[RUNS]);
  for (int j = 0; j < JOBS; j++)
    snprintf(f->job[j], sizeof(f->job[j]), "%s-%d-%lld", JOB[j].name, (int)getpid(), id);
  f->until = (bw_time_epoch_ms() - 540000) / 1000 * 1000;
  f->since = f->until - 60000;
  f->prefix = stack_redis_prefix();
  f->redis = stack_redis_connect(&f->cfg);
  cleanup_json json_t *components =
      json_pack("{s:{s:{s:s, s:s}}}", "components", "bundle.exit", "image",
                "127.0.0.1:5000/bundle-test/exit", "tag", "1.0");
  cleanup_error bw_error_t err = NULL;
  if (components_load_json(components, "test", &f->reg, &err) < 0)
    fail_msg("components: %s", bw_error_msg(&err));
  put_everything(f);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  if (!f) /* the setup failed first: its topics are deleted at exit (stack_env.h) */
    return 0;
  for (int i = 0; i < TOPICS; i++)
    stack_topic_delete(f->admin, f->topic[i]);
  rd_kafka_destroy(f->producer);
  rd_kafka_destroy(f->admin);
  stack_redis_cleanup(f->redis, f->prefix);
  components_free(&f->reg);
  free(f->prefix);
  bw_config_free(&f->cfg);
  free(f);
  return 0;
}

#define BIT(j) (1u << (j))
#define SELECTED                                                                                   \
  (BIT(OOM) | BIT(USR) | BIT(FIXED) | BIT(OLD) | BIT(PAST) | BIT(OTHER) | BIT(DONE) |              \
   BIT(RUNNING) | BIT(AGAIN) | BIT(DL_OK) | BIT(DL_UNREG) | BIT(DL_GARBAGE))
#define TO_SEND (BIT(OOM) | BIT(USR) | BIT(DL_OK))

enum { FROM_EVENTS = 1, FROM_DLQ = 2, FROM_ALL = 3 };

static void replay(fixture *f, const replay_filter *filter, int64_t since, int64_t until,
                   int sources, bool dry, replay_outcome *out) {
  bool events = sources & FROM_EVENTS, dlq = sources & FROM_DLQ;
  replay_request rq = {filter, since, until, events, dlq, dry, f->prefix};
  cleanup_error bw_error_t err = NULL;
  if (replay_run(&f->cfg, &f->log, &rq, &f->reg, out, &err) < 0)
    fail_msg("replay_run: %s", bw_error_msg(&err));
}

/* The dead letters selected that name no job: each skipped, as unreadable. */
static int without_job_id(const replay_outcome *o) {
  int n = 0;
  for (size_t i = 0; i < o->set.count; i++) {
    const replay_candidate *c = &o->set.items[i];
    if (!c->matched || strncmp(c->job_id, "(no job id: ", 12) != 0)
      continue;
    n++;
    if (c->send || !strstr(c->why, "not a readable request"))
      fail_msg("%s: %s", c->job_id, c->why ? c->why : "to send");
  }
  return n;
}

/* Per job: selected or not, sent (as attempt 2) or skipped with its why (and
 * any that name no job, skipped). */
static void assert_outcome(fixture *f, const replay_outcome *o, unsigned selected, unsigned send,
                           bool dry) {
  for (int j = 0; j < JOBS; j++) {
    const replay_candidate *c = NULL;
    for (size_t i = 0; i < o->set.count; i++)
      if (strcmp(o->set.items[i].job_id, f->job[j]) == 0)
        c = &o->set.items[i];
    if (!(selected & BIT(j))) {
      if (c && c->matched)
        fail_msg("%s: selected, should not be", JOB[j].name);
      continue;
    }
    if (!c || !c->matched)
      fail_msg("%s: not selected", JOB[j].name);
    if ((send & BIT(j)) && (!c->send || c->new_attempt != 2 || c->why))
      fail_msg("%s: not to send as attempt 2 (%s)", JOB[j].name, c->why ? c->why : "");
    if (!(send & BIT(j)) && (c->send || !c->why || !strstr(c->why, JOB[j].why ? JOB[j].why : "?")))
      fail_msg("%s: skipped because '%s', want '%s'", JOB[j].name, c->why ? c->why : "(sent)",
               JOB[j].why);
  }
  assert_int_equal(o->selected, __builtin_popcount(selected) + without_job_id(o));
  assert_int_equal(o->to_send, __builtin_popcount(send));
  assert_int_equal(o->sent, !dry && send != 0);
  assert_int_equal(o->delivered, dry ? 0 : __builtin_popcount(send));
  assert_null(o->send_problem);
}

/* Where topic.runs ends now, partition by partition. */
static void runs_mark(fixture *f, int64_t marks[3]) {
  kafka_ends(f->topic[RUNS], 3, marks);
}

/* What went to topic.runs since the marks: copies of each job in `send`,
 * none of any other, each the original with attempt 2 and replay_of, the
 * copies byte for byte the same. */
static void assert_runs(fixture *f, const int64_t marks[3], unsigned send, int copies) {
  cleanup_kafka_recs kafka_recs got = {0};
  kafka_read(f->topic[RUNS], 3, marks, &got);
  assert_int_equal(got.n, __builtin_popcount(send) * copies);
  int count[JOBS] = {0};
  const rd_kafka_message_t *first[JOBS] = {NULL};
  for (size_t i = 0; i < got.n; i++) {
    const rd_kafka_message_t *m = got.m[i];
    int j = 0;
    while (j < JOBS && (m->key_len != strlen(f->job[j]) || memcmp(m->key, f->job[j], m->key_len)))
      j++;
    if (j == JOBS || !(send & BIT(j)))
      fail_msg("sent, should not be: %.*s", (int)m->key_len, (const char *)m->key);
    cleanup_json json_t *doc = json_loadb(m->payload, m->len, 0, NULL);
    const char *token = json_string_value(
        json_object_get(json_object_get(json_object_get(doc, "config"), "parameters"), "#token"));
    assert_string_equal(json_string_value(json_object_get(doc, "job_id")), f->job[j]);
    assert_string_equal(json_string_value(json_object_get(doc, "replay_of")), f->job[j]);
    assert_int_equal(json_integer_value(json_object_get(doc, "attempt")), 2);
    assert_string_equal(json_string_value(json_object_get(doc, "component")), "bundle.exit");
    assert_string_equal(token ? token : "", "s3cret"); /* the original's, secrets kept */
    if (count[j]++ == 0)
      first[j] = m;
    else if (first[j]->len != m->len || memcmp(first[j]->payload, m->payload, m->len))
      fail_msg("%s: the copies differ", JOB[j].name);
  }
  for (int j = 0; j < JOBS; j++)
    assert_int_equal(count[j], (send & BIT(j)) ? copies : 0);
}

static void a_dry_run_judges_everything_and_sends_nothing(void **state) {
  fixture *f = *state;
  replay_filter all = {.statuses = replay_default_statuses()};
  int64_t marks[3];
  runs_mark(f, marks);
  replay_outcome out;
  replay(f, &all, f->since, f->until, FROM_ALL, true, &out);
  assert_outcome(f, &out, SELECTED, TO_SEND, true);
  assert_null(out.redis_problem);
  replay_outcome_free(&out);
  assert_runs(f, marks, 0, 0);
}

/* Sent: exactly the three, as their next attempt; replayed twice, the same
 * bytes twice (the attempt comes from the failure, not a clock). */
static void a_replay_sends_exactly_the_selected_failures(void **state) {
  fixture *f = *state;
  replay_filter all = {.statuses = replay_default_statuses()};
  int64_t marks[3];
  runs_mark(f, marks);
  for (int copies = 1; copies <= 2; copies++) {
    replay_outcome out;
    replay(f, &all, f->since, f->until, FROM_ALL, false, &out);
    assert_outcome(f, &out, SELECTED, TO_SEND, false);
    replay_outcome_free(&out);
    assert_runs(f, marks, TO_SEND, copies);
  }
}

/* since and until are inclusive: DL_OK is at since, DL_UNREG at until,
 * BEFORE at since - 1 and AFTER at until + 1. */
static void the_window_edges(void **state) {
  fixture *f = *state;
  replay_filter all = {.statuses = replay_default_statuses()};
  replay_outcome out;
  replay(f, &all, f->since + 1, f->until - 1, FROM_ALL, true, &out);
  assert_outcome(f, &out, SELECTED & ~(BIT(DL_OK) | BIT(DL_UNREG)), TO_SEND & ~BIT(DL_OK), true);
  replay_outcome_free(&out);
  replay(f, &all, f->since - 1, f->until + 1, FROM_ALL, true, &out);
  assert_outcome(f, &out, SELECTED | BIT(BEFORE) | BIT(AFTER), TO_SEND | BIT(BEFORE) | BIT(AFTER),
                 true);
  replay_outcome_free(&out);
}

static void filters_by_job_status_component_and_source(void **state) {
  fixture *f = *state;
  int64_t marks[3];
  runs_mark(f, marks);
  const char *jobs[] = {f->job[OOM], f->job[DL_UNREG], f->job[OK], f->job[BEFORE]};
  replay_filter by_job = {jobs, 4, NULL, 0, replay_default_statuses()};
  replay_outcome out;
  replay(f, &by_job, f->since, f->until, FROM_ALL, false, &out);
  assert_outcome(f, &out, BIT(OOM) | BIT(DL_UNREG), BIT(OOM), false);
  replay_outcome_free(&out);
  assert_runs(f, marks, BIT(OOM), 1);

  replay_filter by_status = {.statuses = 1u << JOB_USER_ERROR};
  replay(f, &by_status, f->since, f->until, FROM_EVENTS, true, &out);
  assert_outcome(f, &out, BIT(USR) | BIT(FIXED), BIT(USR), true);
  replay_outcome_free(&out);
  /* Dead letters have no status: selected whatever --status says (cli.md). */
  replay(f, &by_status, f->since, f->until, FROM_ALL, true, &out);
  assert_outcome(f, &out, BIT(USR) | BIT(FIXED) | BIT(DL_OK) | BIT(DL_UNREG) | BIT(DL_GARBAGE),
                 BIT(USR) | BIT(DL_OK), true);
  replay_outcome_free(&out);

  const char *exit[] = {"bundle.exit"}, *other[] = {"bundle.other"};
  replay_filter by_component = {NULL, 0, exit, 1, replay_default_statuses()};
  replay(f, &by_component, f->since, f->until, FROM_DLQ, true, &out);
  assert_outcome(f, &out, BIT(DL_OK), BIT(DL_OK), true); /* the unreadable one has none */
  replay_outcome_free(&out);
  by_component.components = other;
  replay(f, &by_component, f->since, f->until, FROM_ALL, true, &out);
  assert_outcome(f, &out, 0, 0, true);
  replay_outcome_free(&out);
}

/* Dead letters written now (after the window of the others) by the worker's
 * publisher from originals on partition 1 of REQ: a cut copy and a minimal
 * one are replayed from their originals (dlq.source.*); a minimal one whose
 * original was deleted (as PURGED's event says of it too) and two keyless
 * ones that cannot be read are each a candidate of their own, skipped. */
static void dead_letters_not_whole_are_replayed_from_their_originals(void **state) {
  fixture *f = *state;
  int64_t since = bw_time_epoch_ms() - 1000, ends[2], marks[3];
  kafka_ends(f->topic[REQ], 2, ends);
  cleanup_free char *cut = bw_strdup_printf(
      "{\"job_id\":\"%s\",\"component\":\"bundle.exit\",\"config\":{\"parameters\":"
      "{\"#token\":\"s3cret\",\"pad\":\"%08000d\"}}}",
      f->job[DL_CUT], 0);
  cleanup_free char *minimal = request_json(f->job[DL_MINIMAL], "bundle.exit");
  cleanup_free char *purged = request_json(f->job[PURGED], "bundle.exit");
  const char *value[] = {purged, cut, minimal, "garbage", "garbage too"};
  const char *key[] = {f->job[PURGED], f->job[DL_CUT], f->job[DL_MINIMAL], NULL, NULL};
  for (int i = 0; i < 5; i++)
    produce(f, REQ, 1, key[i], value[i], 0, NULL);
  assert_int_equal(rd_kafka_flush(f->producer, 20000), 0);
  cleanup_kafka_recs kafka_recs orig = {0};
  kafka_read(f->topic[REQ], 2, ends, &orig); /* partition 1 only */
  assert_int_equal(orig.n, 5);
  set_key(f, "kafka.message.max.bytes", "4000"); /* the 8 kB one is cut */
  kafka_publisher *p = NULL;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(kafka_publisher_new(&f->cfg, &f->log, NULL, NULL, &p, &err), 0);
  set_key(f, "kafka.message.max.bytes", "1000000");
  for (int i = 0; i < 5; i++) {
    bool truncated = false;
    kafka_dlq_copy form = i == 0 || i == 2 ? KAFKA_DLQ_MINIMAL : KAFKA_DLQ_WHOLE;
    assert_int_equal(
        kafka_publisher_dead_letter(p, orig.m[i], "invalid", form, NULL, &truncated, &err), 0);
    assert_int_equal(truncated, i < 3);
  }
  assert_int_equal(kafka_publisher_flush(p, 20000), 0);
  kafka_publisher_free(p);
  stack_topic_delete_records(f->admin, f->topic[REQ], 1, ends[1] + 1); /* PURGED's */
  finished_at(f, PURGED, 1, "oom", 1, ends[1], 0);
  assert_int_equal(rd_kafka_flush(f->producer, 20000), 0);

  replay_filter all = {.statuses = replay_default_statuses()};
  runs_mark(f, marks);
  replay_outcome out;
  replay(f, &all, since, 0, FROM_ALL, false, &out);
  unsigned sent = BIT(DL_CUT) | BIT(DL_MINIMAL);
  assert_outcome(f, &out, sent | BIT(PURGED), sent, false);
  assert_int_equal(without_job_id(&out), 3);
  int gone = 0;
  for (size_t i = 0; i < out.set.count; i++)
    gone += out.set.items[i].why &&
            strstr(out.set.items[i].why, "does not carry the whole request (dlq.truncated), and "
                                         "its original is no longer kept on") != NULL;
  assert_int_equal(gone, 1);
  replay_outcome_free(&out);
  assert_runs(f, marks, sent, 1);
}

/* Redis down: judged by the topics alone, and said so. */
static void without_redis_the_topics_alone_judge(void **state) {
  fixture *f = *state;
  replay_filter all = {.statuses = replay_default_statuses()};
  set_key(f, "redis.port", "1");
  replay_outcome out;
  replay(f, &all, f->since, f->until, FROM_ALL, true, &out);
  set_key(f, "redis.port", stack_env("STACK_REDIS_PORT"));
  assert_non_null(out.redis_problem);
  assert_outcome(f, &out, SELECTED, TO_SEND | BIT(DONE) | BIT(RUNNING) | BIT(AGAIN), true);
  replay_outcome_free(&out);
}

/* A topic that cannot be read: -1, nothing judged, nothing sent. */
static void an_unreadable_topic_is_an_error(void **state) {
  fixture *f = *state;
  replay_filter all = {.statuses = replay_default_statuses()};
  int64_t marks[3];
  runs_mark(f, marks);
  char missing[128];
  snprintf(missing, sizeof(missing), "%s-missing", f->topic[DLQ]);
  set_key(f, "topic.dlq", missing);
  replay_request rq = {&all, f->since, f->until, true, true, false, f->prefix};
  replay_outcome out;
  cleanup_error bw_error_t err = NULL;
  int rc = replay_run(&f->cfg, &f->log, &rq, &f->reg, &out, &err);
  set_key(f, "topic.dlq", f->topic[DLQ]);
  replay_outcome_free(&out);
  assert_int_equal(rc, -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(bw_error_msg(&err), missing));
  assert_runs(f, marks, 0, 0);
}

/* One fixture for all: only topic.runs changes, and each test reads it from
 * where it ended before. */
int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_dry_run_judges_everything_and_sends_nothing),
      cmocka_unit_test(a_replay_sends_exactly_the_selected_failures),
      cmocka_unit_test(the_window_edges),
      cmocka_unit_test(filters_by_job_status_component_and_source),
      cmocka_unit_test(dead_letters_not_whole_are_replayed_from_their_originals),
      cmocka_unit_test(without_redis_the_topics_alone_judge),
      cmocka_unit_test(an_unreadable_topic_is_an_error),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

/* shared/ops/replay_run.h against the stack's real Kafka and Redis: topics of
 * the test's own hold the original requests, job.finished events (shaped by
 * job/events.c, with where each request is) and dead letters, all with
 * known timestamps; Redis records under a prefix of the test's own. Each
 * replay is checked by what it reports per job and, with a consumer of the
 * test's own on topic.runs, by exactly what it sent. */
#include "stack_env.h"

#include "clients/job_store.h"
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

static rd_kafka_t *own_client(rd_kafka_type_t type) {
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", stack_env("STACK_KAFKA_BOOTSTRAP"), errstr,
                        sizeof(errstr)) ||
      (type == RD_KAFKA_CONSUMER &&
       rd_kafka_conf_set(conf, "group.id", "bw-test-reader", errstr, sizeof(errstr))))
    fail_msg("kafka conf: %s", errstr);
  rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
  if (!rk)
    fail_msg("kafka client: %s", errstr);
  return rk;
}

/* One admin request's answer: the topic's error fails the test. */
static void admin_answer(rd_kafka_queue_t *q, bool create) {
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
  assert_non_null(ev);
  size_t n = 0;
  const rd_kafka_topic_result_t **res =
      create ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n)
             : rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
  assert_int_equal(n, 1);
  if (rd_kafka_topic_result_error(res[0]))
    fail_msg("topic %s: %s", rd_kafka_topic_result_name(res[0]),
             rd_kafka_topic_result_error_string(res[0]));
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
  admin_answer(q, true);
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
  admin_answer(q, false);
}

/* The jobs (with job.finished events, then dead letters), and the words of
 * a replay that skips them (put_everything says what each one is). */
enum { OOM, USR, OK, FIXED, CANCEL, OLD, GONE, OTHER, DONE, RUNNING, AGAIN, BEFORE, AFTER };
enum { DL_OK = AFTER + 1, DL_UNREG, DL_GARBAGE, JOBS };

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
    [GONE] = {"gone", "the request is no longer kept on"},
    [OTHER] = {"other", "is not job"},
    [DONE] = {"done", "succeeded since (attempt 1)"},      /* Redis: success */
    [RUNNING] = {"running", "running now (attempt 2)"},    /* Redis: running */
    [AGAIN] = {"again", "already run again as attempt 2"}, /* Redis: user_error, 2 */
    [BEFORE] = {"before", NULL},
    [AFTER] = {"after", NULL},
    [DL_OK] = {"dl-ok", NULL},
    [DL_UNREG] = {"dl-unreg", "still invalid: component"},
    [DL_GARBAGE] = {"dl-garbage", "not a readable request"},
};

enum { REQ, EVENTS, DLQ, RUNS, TOPICS };

typedef struct fixture {
  bw_config cfg;
  bw_logger log;
  rd_kafka_t *admin, *producer;
  char topic[TOPICS][96];
  char job[JOBS][64];
  int64_t offset[JOBS]; /* the request's, on partition 0 of REQ */
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
                                     RD_KAFKA_V_KEY(key, strlen(key)),
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
static void finished(fixture *f, int j, long attempt, const char *status, int64_t offset,
                     int64_t ts) {
  job_events je = {.job_id = f->job[j], .attempt = attempt, .worker_id = "w1", .host = "h1"};
  cleanup_json json_t *ev = event_new(&je, "job.finished");
  json_object_set_new(ev, "status", json_string(status));
  json_object_set_new(ev, "message", json_string(status));
  json_object_set_new(ev, "component", json_string("bundle.exit"));
  if (offset >= 0)
    json_object_set_new(ev, "request",
                        json_pack("{s:s, s:i, s:I}", "topic", f->topic[REQ], "partition", 0,
                                  "offset", (json_int_t)offset));
  cleanup_free char *text = json_dumps(ev, JSON_COMPACT);
  produce(f, EVENTS, -1, f->job[j], text, ts, NULL);
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
  finished(f, GONE, 1, "oom", 99, t);
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
  static const int partitions[TOPICS] = {1, 3, 1, 3};
  fixture *f = bw_xcalloc(1, sizeof(*f));
  stack_config(&f->cfg);
  bw_logger_init(&f->log, BW_LOG_ERROR, 2, "test");
  long long id = (long long)bw_time_epoch_ms();
  f->admin = own_client(RD_KAFKA_PRODUCER);
  f->producer = own_client(RD_KAFKA_PRODUCER);
  for (int i = 0; i < TOPICS; i++) {
    snprintf(f->topic[i], sizeof(f->topic[i]), "bw-replay-run-%d-%lld-%s", (int)getpid(), id,
             kinds[i]);
    topic_create(f->admin, f->topic[i], partitions[i]);
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
  for (int i = 0; i < TOPICS; i++)
    topic_delete(f->admin, f->topic[i]);
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
  (BIT(OOM) | BIT(USR) | BIT(FIXED) | BIT(OLD) | BIT(GONE) | BIT(OTHER) | BIT(DONE) |              \
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

/* Per job: selected or not, sent (as attempt 2) or skipped with its why. */
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
  assert_int_equal(o->selected, __builtin_popcount(selected));
  assert_int_equal(o->to_send, __builtin_popcount(send));
  assert_int_equal(o->sent, !dry && send != 0);
  assert_null(o->send_problem);
}

/* Where topic.runs ends now, partition by partition. */
static void runs_mark(fixture *f, int64_t marks[3]) {
  rd_kafka_t *c = own_client(RD_KAFKA_CONSUMER);
  for (int p = 0; p < 3; p++) {
    int64_t lo = 0;
    assert_int_equal(rd_kafka_query_watermark_offsets(c, f->topic[RUNS], p, &lo, &marks[p], 10000),
                     0);
  }
  rd_kafka_destroy(c);
}

/* What went to topic.runs since the marks: copies of each job in `send`,
 * none of any other, each the original with attempt 2 and replay_of, the
 * copies byte for byte the same. */
static void assert_runs(fixture *f, const int64_t marks[3], unsigned send, int copies) {
  int64_t now[3], left = 0;
  runs_mark(f, now);
  rd_kafka_t *c = own_client(RD_KAFKA_CONSUMER);
  rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(3);
  for (int p = 0; p < 3; p++) {
    rd_kafka_topic_partition_list_add(assign, f->topic[RUNS], p)->offset = marks[p];
    left += now[p] - marks[p];
  }
  assert_int_equal(left, __builtin_popcount(send) * copies);
  assert_int_equal(rd_kafka_assign(c, assign), 0);
  rd_kafka_topic_partition_list_destroy(assign);
  int count[JOBS] = {0};
  char *first[JOBS] = {NULL};
  for (int64_t end = bw_time_monotonic_ms() + 20000; left > 0 && bw_time_monotonic_ms() < end;) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
    int j = 0;
    while (m && !m->err && j < JOBS &&
           (m->key_len != strlen(f->job[j]) || memcmp(m->key, f->job[j], m->key_len)))
      j++;
    if (m && !m->err) {
      left--;
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
        first[j] = bw_strdup_bytes(m->payload, m->len);
      else if (strlen(first[j]) != m->len || memcmp(first[j], m->payload, m->len))
        fail_msg("%s: the copies differ", JOB[j].name);
    }
    if (m)
      rd_kafka_message_destroy(m);
  }
  assert_int_equal(left, 0);
  for (int j = 0; j < JOBS; j++) {
    assert_int_equal(count[j], (send & BIT(j)) ? copies : 0);
    free(first[j]);
  }
  rd_kafka_destroy(c);
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
      cmocka_unit_test(without_redis_the_topics_alone_judge),
      cmocka_unit_test(an_unreadable_topic_is_an_error),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

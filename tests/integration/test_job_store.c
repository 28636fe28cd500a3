/* shared/clients/job_store.h against the stack's real redis-server: claims, leases
 * that expire or are extended, finish with a lost lease, release at shutdown,
 * heartbeats and cancel flags. Each test has its own key prefix and deletes
 * its keys. */
#include "stack_env.h"

#include "core/cleanup.h"
#include "clients/job_store.h"
#include "core/timeutil.h"
#include "clients/redis_store.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
  bw_config cfg;
  bw_logger log;
  char *prefix;
  job_store *js;
  redisContext *redis; /* the test's own connection, for checks */
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  stack_config(&f->cfg);
  bw_logger_init(&f->log, BW_LOG_WARN, 2, "test");
  f->prefix = stack_redis_prefix();
  f->js = job_store_new(&f->cfg, &f->log, f->prefix);
  f->redis = stack_redis_connect(&f->cfg);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  stack_redis_cleanup(f->redis, f->prefix);
  job_store_free(f->js);
  free(f->prefix);
  bw_config_free(&f->cfg);
  free(f);
  return 0;
}

static long long redis_int(fixture *f, const char *cmd, const char *kind, const char *id) {
  cleanup_redis_reply redisReply *r = redisCommand(f->redis, "%s %s%s%s", cmd, f->prefix, kind, id);
  assert_non_null(r);
  assert_int_equal(r->type, REDIS_REPLY_INTEGER);
  return r->integer;
}

static json_t *get_record(fixture *f, const char *job_id) {
  json_t *rec = NULL;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(job_store_get(f->js, job_id, &rec, &err), 0);
  return rec;
}

static const char *field(const json_t *rec, const char *name) {
  const char *s = json_string_value(json_object_get(rec, name));
  return s ? s : "";
}

static long attempt_of(const json_t *rec) {
  return (long)json_integer_value(json_object_get(rec, "attempt"));
}

/* max_deliveries 0: no bound (the tests of the bound set it themselves). */
static job_claim claim_full(fixture *f, const char *job, const char *worker, long requested,
                            bool replay, long ttl_ms, long max_deliveries) {
  cleanup_error bw_error_t err = NULL;
  job_claim_request req = {.job_id = job,
                           .worker_id = worker,
                           .attempt = requested,
                           .replay = replay,
                           .ttl_ms = ttl_ms,
                           .max_deliveries = max_deliveries};
  job_claim c = {0};
  if (job_store_claim(f->js, &req, &c, &err) < 0)
    fail_msg("claim %s: %s", job, bw_error_msg(&err));
  job_claim_free(&c); /* the tests of the outbox read it with claim_event */
  return c;
}

static void claim_as(fixture *f, const char *job, const char *worker, long requested, bool replay,
                     long ttl_ms, char token[33], job_claim_outcome want, long want_attempt) {
  job_claim c = claim_full(f, job, worker, requested, replay, ttl_ms, 0);
  assert_int_equal(c.outcome, want);
  assert_int_equal(c.attempt, want_attempt);
  if (c.outcome == JOB_CLAIM_ACQUIRED)
    memcpy(token, c.token, 33);
}

static void claim(fixture *f, const char *job, const char *worker, long requested, long ttl_ms,
                  char token[33], job_claim_outcome want, long want_attempt) {
  claim_as(f, job, worker, requested, false, ttl_ms, token, want, want_attempt);
}

static void claim_held_finish_finished(void **state) {
  bool written = false;
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  char token[33] = "", other[33] = "";
  claim(f, "j1", "w1", 1, 30000, token, JOB_CLAIM_ACQUIRED, 1);
  assert_int_equal(strlen(token), 32);
  assert_int_equal(strspn(token, "0123456789abcdef"), 32);

  cleanup_json json_t *rec = get_record(f, "j1");
  assert_non_null(rec);
  assert_string_equal(field(rec, "status"), "running");
  assert_string_equal(field(rec, "worker"), "w1");
  assert_string_equal(field(rec, "token"), token);
  assert_int_equal(attempt_of(rec), 1);
  assert_int_equal(strlen(field(rec, "started")), 24);
  assert_null(json_object_get(rec, "finished"));
  assert_true(redis_int(f, "TTL", "job:", "j1") > 6 * 86400);
  assert_true(redis_int(f, "PTTL", "lease:", "j1") > 25000);

  claim(f, "j1", "w2", 1, 30000, other, JOB_CLAIM_HELD, 1);
  assert_string_equal(other, ""); /* untouched unless acquired */
  bool b = false;
  assert_int_equal(job_store_lease_is_ours(f->js, "j1", token, &b, &err), 0);
  assert_true(b);
  assert_int_equal(
      job_store_lease_is_ours(f->js, "j1", "0123456789abcdef0123456789abcdef", &b, &err), 0);
  assert_false(b);
  assert_int_equal(job_store_lease_alive(f->js, "j1", &b, &err), 0);
  assert_true(b);

  assert_int_equal(job_store_finish(f->js, "j1", token, "success", "{\"exit_code\":0}", NULL, &b,
                                    &written, &err),
                   0);
  assert_true(b);
  assert_int_equal(job_store_lease_alive(f->js, "j1", &b, &err), 0);
  assert_false(b);
  cleanup_json json_t *done = get_record(f, "j1");
  assert_string_equal(field(done, "status"), "success");
  assert_int_equal(strlen(field(done, "finished")), 24);
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(done, "result"), "exit_code")), 0);
  assert_int_equal(attempt_of(done), 1);

  claim(f, "j1", "w2", 1, 30000, other, JOB_CLAIM_FINISHED, 1);
  claim(f, "j1", "w2", 7, 30000, other, JOB_CLAIM_FINISHED, 1);
}

static void unknown_job_has_no_record(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  json_t *rec = (json_t *)1;
  assert_int_equal(job_store_get(f->js, "nope", &rec, &err), 0);
  assert_null(rec);
  bool b = true;
  assert_int_equal(job_store_lease_alive(f->js, "nope", &b, &err), 0);
  assert_false(b);
}

static void expired_lease_is_claimed_with_the_next_attempt(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  char t1[33], t2[33], t3[33];
  claim(f, "j2", "w1", 1, 300, t1, JOB_CLAIM_ACQUIRED, 1);
  usleep(450 * 1000); /* w1 died: its lease expires, its record says running */
  bool alive = true;
  assert_int_equal(job_store_lease_alive(f->js, "j2", &alive, &err), 0);
  assert_false(alive);
  claim(f, "j2", "w2", 1, 300, t2, JOB_CLAIM_ACQUIRED, 2);
  assert_string_not_equal(t1, t2);
  cleanup_json json_t *rec = get_record(f, "j2");
  assert_string_equal(field(rec, "worker"), "w2");
  assert_string_equal(field(rec, "token"), t2);
  assert_int_equal(attempt_of(rec), 2);

  /* A larger requested attempt (the redelivered request says so) wins. */
  usleep(450 * 1000);
  claim(f, "j2", "w3", 5, 30000, t3, JOB_CLAIM_ACQUIRED, 5);
}

static void extend_keeps_the_lease_alive(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  char token[33], other[33];
  claim(f, "j3", "w1", 1, 300, token, JOB_CLAIM_ACQUIRED, 1);
  bool ours = false;
  for (int i = 0; i < 5; i++) {
    usleep(150 * 1000);
    assert_int_equal(job_store_extend(f->js, "j3", token, 300, &ours, &err), 0);
    assert_true(ours);
  }
  /* 750 ms after a 300 ms claim, the lease still holds. */
  claim(f, "j3", "w2", 1, 300, other, JOB_CLAIM_HELD, 1);
  assert_int_equal(
      job_store_extend(f->js, "j3", "0123456789abcdef0123456789abcdef", 60000, &ours, &err), 0);
  assert_false(ours);
  assert_true(redis_int(f, "PTTL", "lease:", "j3") <= 300);
  usleep(450 * 1000);
  assert_int_equal(job_store_extend(f->js, "j3", token, 300, &ours, &err), 0);
  assert_false(ours); /* expired: extending does not bring it back */
}

static void finish_with_a_lost_lease(void **state) {
  bool written = false;
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  char t1[33], t2[33];
  /* Taken by another worker: nothing is written over its record. */
  claim(f, "j4", "w1", 1, 200, t1, JOB_CLAIM_ACQUIRED, 1);
  usleep(300 * 1000);
  claim(f, "j4", "w2", 1, 30000, t2, JOB_CLAIM_ACQUIRED, 2);
  bool was_ours = true;
  assert_int_equal(
      job_store_finish(f->js, "j4", t1, "success", NULL, NULL, &was_ours, &written, &err), 0);
  assert_false(was_ours);
  cleanup_json json_t *rec = get_record(f, "j4");
  assert_string_equal(field(rec, "status"), "running");
  assert_string_equal(field(rec, "worker"), "w2");
  assert_string_equal(field(rec, "token"), t2);
  assert_null(json_object_get(rec, "finished"));
  bool b = false;
  assert_int_equal(job_store_lease_is_ours(f->js, "j4", t2, &b, &err), 0);
  assert_true(b);

  /* Expired, nobody claimed since: the record still carries our token and
   * takes the final status, so a redelivery sees the job finished. */
  char t3[33], t4[33];
  claim(f, "j5", "w1", 1, 200, t3, JOB_CLAIM_ACQUIRED, 1);
  usleep(300 * 1000);
  assert_int_equal(job_store_finish(f->js, "j5", t3, "user_error", "\"exit 1\"", NULL, &was_ours,
                                    &written, &err),
                   0);
  assert_false(was_ours);
  cleanup_json json_t *rec5 = get_record(f, "j5");
  assert_string_equal(field(rec5, "status"), "user_error");
  assert_string_equal(field(rec5, "result"), "exit 1");
  claim(f, "j5", "w2", 1, 30000, t4, JOB_CLAIM_FINISHED, 1);

  /* No record at all: nothing written. */
  assert_int_equal(job_store_finish(f->js, "j6", "0123456789abcdef0123456789abcdef", "success",
                                    NULL, NULL, &was_ours, &written, &err),
                   0);
  assert_false(was_ours);
  cleanup_json json_t *rec6 = get_record(f, "j6");
  assert_null(rec6);
}

/* A replay (attempt + 1, replay_of set) re-runs a failed job once; never a
 * job that succeeded; a plain redelivery of a finished job never runs. */
static void replay_reruns_a_failed_job_once(void **state) {
  bool written = false;
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  char t[33], t2[33];
  bool was_ours;
  claim(f, "r1", "w1", 1, 30000, t, JOB_CLAIM_ACQUIRED, 1);
  assert_int_equal(job_store_finish(f->js, "r1", t, "oom", NULL, NULL, &was_ours, &written, &err),
                   0);
  claim(f, "r1", "w2", 2, 30000, t2, JOB_CLAIM_FINISHED, 1);          /* not a replay */
  claim_as(f, "r1", "w2", 1, true, 30000, t2, JOB_CLAIM_FINISHED, 1); /* not later */
  claim_as(f, "r1", "w2", 2, true, 30000, t2, JOB_CLAIM_ACQUIRED, 2); /* the replay */
  claim_as(f, "r1", "w3", 2, true, 30000, t, JOB_CLAIM_HELD, 2);      /* its twin, meanwhile */
  assert_int_equal(
      job_store_finish(f->js, "r1", t2, "success", NULL, NULL, &was_ours, &written, &err), 0);
  claim_as(f, "r1", "w3", 2, true, 30000, t, JOB_CLAIM_FINISHED, 2); /* its twin, after */
  claim_as(f, "r1", "w3", 3, true, 30000, t, JOB_CLAIM_FINISHED, 2); /* success is final */
}

static void finish_refuses_a_status_that_is_not_final(void **state) {
  bool written = false;
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  char t[33];
  bool was_ours;
  claim(f, "j7", "w1", 1, 30000, t, JOB_CLAIM_ACQUIRED, 1);
  assert_int_equal(
      job_store_finish(f->js, "j7", t, "running", NULL, NULL, &was_ours, &written, &err), -1);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  bw_error_release(&err);
  cleanup_json json_t *rec = get_record(f, "j7");
  assert_string_equal(field(rec, "status"), "running");
}

static void release_marks_interrupted_and_the_next_claim_counts_an_attempt(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  char t1[33], t2[33];
  claim(f, "j8", "w1", 3, 30000, t1, JOB_CLAIM_ACQUIRED, 3);
  /* Not ours: nothing changes. */
  assert_int_equal(job_store_release(f->js, "j8", "0123456789abcdef0123456789abcdef", &err), 0);
  bool alive = false;
  assert_int_equal(job_store_lease_alive(f->js, "j8", &alive, &err), 0);
  assert_true(alive);
  cleanup_json json_t *running = get_record(f, "j8");
  assert_string_equal(field(running, "status"), "running");

  assert_int_equal(job_store_release(f->js, "j8", t1, &err), 0);
  assert_int_equal(job_store_lease_alive(f->js, "j8", &alive, &err), 0);
  assert_false(alive);
  cleanup_json json_t *rec = get_record(f, "j8");
  assert_string_equal(field(rec, "status"), "interrupted");
  assert_int_equal(attempt_of(rec), 3);

  claim(f, "j8", "w2", 1, 30000, t2, JOB_CLAIM_ACQUIRED, 4);
  cleanup_json json_t *again = get_record(f, "j8");
  assert_string_equal(field(again, "status"), "running");
  assert_string_equal(field(again, "worker"), "w2");
}

/* A worker that vanishes while it runs a job (its lease expires, its record
 * says running) counts against max_deliveries; at the bound the job is
 * poisoned: final, infra_error, the count in its result; a graceful
 * interruption does not count. */
static void vanished_workers_poison_a_job(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  job_claim c = claim_full(f, "p1", "w1", 1, false, 150, 3);
  assert_int_equal(c.outcome, JOB_CLAIM_ACQUIRED);
  assert_int_equal(c.crashes, 0);
  bw_time_sleep_ms(300, NULL); /* w1 dies: the lease expires, the record says running */
  c = claim_full(f, "p1", "w2", 1, false, 150, 3);
  assert_int_equal(c.outcome, JOB_CLAIM_ACQUIRED);
  assert_int_equal(c.attempt, 2);
  assert_int_equal(c.crashes, 1);
  /* w2 stops gracefully: interrupted, not a crash */
  assert_int_equal(job_store_release(f->js, "p1", c.token, &err), 0);
  c = claim_full(f, "p1", "w3", 1, false, 150, 3);
  assert_int_equal(c.outcome, JOB_CLAIM_ACQUIRED);
  assert_int_equal(c.attempt, 3);
  assert_int_equal(c.crashes, 1);
  bw_time_sleep_ms(300, NULL); /* w3 dies */
  c = claim_full(f, "p1", "w4", 1, false, 150, 3);
  assert_int_equal(c.outcome, JOB_CLAIM_ACQUIRED);
  assert_int_equal(c.crashes, 2);
  bw_time_sleep_ms(300, NULL); /* w4 dies: the third */
  c = claim_full(f, "p1", "w5", 1, false, 150, 3);
  assert_int_equal(c.outcome, JOB_CLAIM_POISONED);
  assert_int_equal(c.crashes, 3);
  assert_int_equal(c.attempt, 4); /* the last that ran */
  /* nothing changed yet: the claimer records the end, with its event */
  cleanup_json json_t *before = get_record(f, "p1");
  assert_string_equal(field(before, "status"), "running");
  bool written = false;
  assert_int_equal(
      job_store_finish_unrun(f->js, "p1", "infra_error", "{\"message\":\"took down 3\"}",
                             "{\"type\":\"job.finished\",\"event_id\":\"e1\"}", &written, &err),
      0);
  assert_true(written);
  cleanup_json json_t *rec = get_record(f, "p1");
  assert_string_equal(field(rec, "status"), "infra_error");
  assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "result"), "message")),
                      "took down 3");
  /* a second writer (a twin delivery) writes nothing */
  assert_int_equal(job_store_finish_unrun(f->js, "p1", "infra_error", "{}", "{}", &written, &err),
                   0);
  assert_false(written);
  /* and from now on it is simply finished */
  c = claim_full(f, "p1", "w6", 1, false, 150, 3);
  assert_int_equal(c.outcome, JOB_CLAIM_FINISHED);
  /* a replay of it starts a new count */
  c = claim_full(f, "p1", "w6", 5, true, 150, 3);
  assert_int_equal(c.outcome, JOB_CLAIM_ACQUIRED);
  assert_int_equal(c.attempt, 5);
  assert_int_equal(c.crashes, 0);
}

/* The outbox: job.finished kept with the final record until its delivery is
 * confirmed; whoever claims the finished job meanwhile gets it to send. */
static void finished_event_waits_in_the_outbox(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  job_claim c = claim_full(f, "o1", "w1", 1, false, 30000, 0);
  assert_int_equal(c.outcome, JOB_CLAIM_ACQUIRED);
  const char *event = "{\"type\":\"job.finished\",\"event_id\":\"abc123\",\"job_id\":\"o1\"}";
  bool ours = false, written = false;
  assert_int_equal(
      job_store_finish(f->js, "o1", c.token, "success", "{}", event, &ours, &written, &err), 0);
  assert_true(ours && written);
  job_claim_request req = {.job_id = "o1", .worker_id = "w2", .attempt = 1, .ttl_ms = 30000};
  job_claim again = {0};
  assert_int_equal(job_store_claim(f->js, &req, &again, &err), 0);
  assert_int_equal(again.outcome, JOB_CLAIM_FINISHED);
  assert_non_null(again.undelivered_event);
  assert_string_equal(again.undelivered_event, event); /* the same bytes */
  job_claim_free(&again);
  /* another event id confirms nothing */
  assert_int_equal(job_store_confirm_delivery(f->js, "o1", "other", &err), 0);
  assert_int_equal(job_store_claim(f->js, &req, &again, &err), 0);
  assert_non_null(again.undelivered_event);
  job_claim_free(&again);
  assert_int_equal(job_store_confirm_delivery(f->js, "o1", "abc123", &err), 0);
  assert_int_equal(job_store_claim(f->js, &req, &again, &err), 0);
  assert_int_equal(again.outcome, JOB_CLAIM_FINISHED);
  assert_null(again.undelivered_event);
  job_claim_free(&again);
  job_claim_free(NULL);
}

typedef struct racer {
  job_store *js;
  char worker[16];
  job_claim_outcome outcome;
  int rc;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  bw_error_t err = NULL;
  job_claim_request req = {.job_id = "j9", .worker_id = r->worker, .attempt = 1, .ttl_ms = 30000};
  job_claim c;
  r->rc = job_store_claim(r->js, &req, &c, &err);
  r->outcome = c.outcome;
  bw_error_release(&err);
  return NULL;
}

static void racing_claims_give_one_lease(void **state) {
  fixture *f = *state;
  /* Two stores (two workers) and threads sharing each. */
  job_store *other = job_store_new(&f->cfg, &f->log, f->prefix);
  racer rs[8];
  pthread_t ths[8];
  for (int i = 0; i < 8; i++) {
    rs[i] = (racer){.js = i % 2 ? other : f->js};
    snprintf(rs[i].worker, sizeof(rs[i].worker), "w%d", i);
    assert_int_equal(pthread_create(&ths[i], NULL, race, &rs[i]), 0);
  }
  int acquired = 0, held = 0;
  for (int i = 0; i < 8; i++) {
    pthread_join(ths[i], NULL);
    assert_int_equal(rs[i].rc, 0);
    acquired += rs[i].outcome == JOB_CLAIM_ACQUIRED;
    held += rs[i].outcome == JOB_CLAIM_HELD;
  }
  assert_int_equal(acquired, 1);
  assert_int_equal(held, 7);
  job_store_free(other);
}

static bool has_worker(const json_t *arr, const char *id) {
  size_t i;
  json_t *w;
  json_array_foreach(arr, i, w) {
    if (strcmp(field(w, "id"), id) == 0)
      return true;
  }
  return false;
}

static void heartbeat_expiry_drops_the_worker(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  cleanup_json json_t *info1 = json_pack("{s:s, s:i}", "id", "w1", "slots", 2);
  cleanup_json json_t *info2 = json_pack("{s:s, s:i}", "id", "w2", "slots", 4);
  assert_int_equal(job_store_heartbeat(f->js, "w1", info1, 300, &err), 0);
  assert_int_equal(job_store_heartbeat(f->js, "w2", info2, 30000, &err), 0);
  cleanup_json json_t *both = NULL;
  assert_int_equal(job_store_workers(f->js, &both, &err), 0);
  assert_int_equal(json_array_size(both), 2);
  assert_true(has_worker(both, "w1"));
  assert_true(has_worker(both, "w2"));
  assert_true(json_equal(json_array_get(both, 0), info1)); /* oldest heartbeat first */

  usleep(450 * 1000);
  cleanup_json json_t *one = NULL;
  assert_int_equal(job_store_workers(f->js, &one, &err), 0);
  assert_int_equal(json_array_size(one), 1);
  assert_true(has_worker(one, "w2"));
  assert_int_equal(json_integer_value(json_object_get(json_array_get(one, 0), "slots")), 4);

  /* A heartbeat brings it back; the set itself expires when all are gone. */
  assert_int_equal(job_store_heartbeat(f->js, "w1", info1, 30000, &err), 0);
  cleanup_json json_t *again = NULL;
  assert_int_equal(job_store_workers(f->js, &again, &err), 0);
  assert_int_equal(json_array_size(again), 2);
  assert_true(redis_int(f, "PTTL", "workers", "") > JOB_STORE_WORKERS_WINDOW_MS - 60000);
}

static void heartbeats_older_than_an_hour_leave_the_set(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  cleanup_redis_reply redisReply *r =
      redisCommand(f->redis, "ZADD %sworkers 1000 ancient", f->prefix);
  assert_non_null(r);
  cleanup_json json_t *info = json_pack("{s:s}", "id", "w1");
  assert_int_equal(job_store_heartbeat(f->js, "w1", info, 30000, &err), 0);
  cleanup_redis_reply redisReply *score =
      redisCommand(f->redis, "ZSCORE %sworkers ancient", f->prefix);
  assert_int_equal(score->type, REDIS_REPLY_NIL);
  assert_int_equal(redis_int(f, "ZCARD", "workers", ""), 1);
}

static void no_workers_is_an_empty_array(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  cleanup_json json_t *arr = NULL;
  assert_int_equal(job_store_workers(f->js, &arr, &err), 0);
  assert_true(json_is_array(arr));
  assert_int_equal(json_array_size(arr), 0);
}

static void cancel_flags_in_one_mget(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(job_store_cancel_request(f->js, "c2", &err), 0);
  assert_int_equal(job_store_cancel_request(f->js, "c4", &err), 0);
  const char *const ids[] = {"c1", "c2", "c3", "c4"};
  bool flags[4] = {true, false, true, false};
  assert_int_equal(job_store_cancel_requested(f->js, ids, 4, flags, &err), 0);
  assert_false(flags[0]);
  assert_true(flags[1]);
  assert_false(flags[2]);
  assert_true(flags[3]);
  long long ttl = redis_int(f, "TTL", "cancel:", "c2");
  assert_true(ttl > 86400 - 60 && ttl <= 86400);
  assert_int_equal(job_store_cancel_requested(f->js, NULL, 0, NULL, &err), 0);
}

static void redis_down_is_unavailable(void **state) {
  fixture *f = *state;
  bw_config cfg;
  stack_config(&cfg);
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(bw_config_set(&cfg, "redis.port", "1", "test", &err), 0);
  bw_logger quiet;
  bw_logger_init(&quiet, BW_LOG_ERROR, 2, "test");
  job_store *js = job_store_new(&cfg, &quiet, f->prefix);
  job_claim_request req = {.job_id = "x", .worker_id = "w1", .attempt = 1, .ttl_ms = 1000};
  job_claim c;
  assert_int_equal(job_store_claim(js, &req, &c, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(err->msg, "claim job x"));
  assert_non_null(strstr(err->msg, "127.0.0.1:1"));
  bw_error_release(&err);
  bool b;
  assert_int_equal(job_store_lease_alive(js, "x", &b, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  job_store_free(js);
  bw_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(claim_held_finish_finished, setup, teardown),
      cmocka_unit_test_setup_teardown(unknown_job_has_no_record, setup, teardown),
      cmocka_unit_test_setup_teardown(expired_lease_is_claimed_with_the_next_attempt, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(extend_keeps_the_lease_alive, setup, teardown),
      cmocka_unit_test_setup_teardown(finish_with_a_lost_lease, setup, teardown),
      cmocka_unit_test_setup_teardown(replay_reruns_a_failed_job_once, setup, teardown),
      cmocka_unit_test_setup_teardown(finish_refuses_a_status_that_is_not_final, setup, teardown),
      cmocka_unit_test_setup_teardown(
          release_marks_interrupted_and_the_next_claim_counts_an_attempt, setup, teardown),
      cmocka_unit_test_setup_teardown(vanished_workers_poison_a_job, setup, teardown),
      cmocka_unit_test_setup_teardown(finished_event_waits_in_the_outbox, setup, teardown),
      cmocka_unit_test_setup_teardown(racing_claims_give_one_lease, setup, teardown),
      cmocka_unit_test_setup_teardown(heartbeat_expiry_drops_the_worker, setup, teardown),
      cmocka_unit_test_setup_teardown(heartbeats_older_than_an_hour_leave_the_set, setup, teardown),
      cmocka_unit_test_setup_teardown(no_workers_is_an_empty_array, setup, teardown),
      cmocka_unit_test_setup_teardown(cancel_flags_in_one_mget, setup, teardown),
      cmocka_unit_test_setup_teardown(redis_down_is_unavailable, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* What the job store's integration tests share (test_job_store.c,
 * test_job_store_workers.c): a store under a key prefix of the test's own,
 * claims that fail the test when they go wrong, records read back. */
#pragma once

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

static inline int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  stack_config(&f->cfg);
  bw_logger_init(&f->log, BW_LOG_WARN, 2, "test");
  f->prefix = stack_redis_prefix();
  f->js = job_store_new(&f->cfg, &f->log, f->prefix);
  f->redis = stack_redis_connect(&f->cfg);
  *state = f;
  return 0;
}

static inline int teardown(void **state) {
  fixture *f = *state;
  stack_redis_cleanup(f->redis, f->prefix);
  job_store_free(f->js);
  free(f->prefix);
  bw_config_free(&f->cfg);
  free(f);
  return 0;
}

static inline long long redis_int(fixture *f, const char *cmd, const char *kind, const char *id) {
  cleanup_redis_reply redisReply *r = redisCommand(f->redis, "%s %s%s%s", cmd, f->prefix, kind, id);
  assert_non_null(r);
  assert_int_equal(r->type, REDIS_REPLY_INTEGER);
  return r->integer;
}

static inline json_t *get_record(fixture *f, const char *job_id) {
  json_t *rec = NULL;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(job_store_get(f->js, job_id, &rec, &err), 0);
  return rec;
}

static inline const char *field(const json_t *rec, const char *name) {
  const char *s = json_string_value(json_object_get(rec, name));
  return s ? s : "";
}

static inline long attempt_of(const json_t *rec) {
  return (long)json_integer_value(json_object_get(rec, "attempt"));
}

/* max_deliveries 0: no bound (the tests of the bound set it themselves). */
static inline job_claim claim_full(fixture *f, const char *job, const char *worker, long requested,
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

static inline void claim_as(fixture *f, const char *job, const char *worker, long requested,
                            bool replay, long ttl_ms, char token[33], job_claim_outcome want,
                            long want_attempt) {
  job_claim c = claim_full(f, job, worker, requested, replay, ttl_ms, 0);
  assert_int_equal(c.outcome, want);
  assert_int_equal(c.attempt, want_attempt);
  if (c.outcome == JOB_CLAIM_ACQUIRED)
    memcpy(token, c.token, 33);
}

static inline void claim(fixture *f, const char *job, const char *worker, long requested,
                         long ttl_ms, char token[33], job_claim_outcome want, long want_attempt) {
  claim_as(f, job, worker, requested, false, ttl_ms, token, want, want_attempt);
}

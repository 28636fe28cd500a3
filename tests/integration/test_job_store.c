/* shared/clients/job_store.h against the stack's real redis-server: claims,
 * leases, final records, replays, poisoned jobs, the outbox, racing claims. */
#include "job_store_fixture.h"

/* ---- claims, leases, records ---- */

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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

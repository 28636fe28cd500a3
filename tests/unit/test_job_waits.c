/* shared/ops/job_waits.h: which events end the jobs `submit --wait` waits for. */
#include "ops/job_waits.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static bool feed(job_waits *w, const char *event, job_end *end) {
  json_error_t jerr;
  json_t *ev = json_loads(event, 0, &jerr);
  assert_non_null(ev);
  bool ended = job_waits_feed(w, ev, end);
  /* end's pointers are checked before the event goes */
  if (ended) {
    assert_non_null(end->job_id);
    assert_non_null(end->status);
  }
  json_decref(ev);
  return ended;
}

static void finished_ends_the_job(void **state) {
  const char *ids[] = {"a", "b"};
  job_waits *w = job_waits_new(ids, 2);
  job_end end;
  assert_int_equal(job_waits_open(w), 2);
  assert_true(
      feed(w, "{\"type\": \"job.finished\", \"job_id\": \"a\", \"status\": \"success\"}", &end));
  assert_string_equal(end.job_id, "a");
  assert_string_equal(end.status, "success");
  assert_int_equal(job_waits_open(w), 1);
  assert_false(job_waits_all_succeeded(w));
  assert_true(
      feed(w, "{\"type\": \"job.finished\", \"job_id\": \"b\", \"status\": \"success\"}", &end));
  assert_int_equal(job_waits_open(w), 0);
  assert_true(job_waits_all_succeeded(w));
  job_waits_free(w);
}

static void a_duplicate_says_how_it_had_ended(void **state) {
  const char *ids[] = {"a"};
  job_waits *w = job_waits_new(ids, 1);
  job_end end;
  assert_true(feed(w,
                   "{\"type\": \"job.duplicate\", \"job_id\": \"a\", \"record\": {\"status\": "
                   "\"user_error\"}}",
                   &end));
  assert_string_equal(end.status, "user_error");
  assert_false(job_waits_all_succeeded(w));
  job_waits_free(w);
}

/* A second copy of job.finished (the outbox sends it again) ends nothing. */
static void an_end_counts_once(void **state) {
  const char *ids[] = {"a", "b"};
  job_waits *w = job_waits_new(ids, 2);
  job_end end;
  const char *ev = "{\"type\": \"job.finished\", \"job_id\": \"a\", \"status\": \"oom\"}";
  assert_true(feed(w, ev, &end));
  assert_false(feed(w, ev, &end));
  assert_int_equal(job_waits_open(w), 1);
  job_waits_free(w);
}

static void other_events_and_jobs_end_nothing(void **state) {
  const char *ids[] = {"a"};
  job_waits *w = job_waits_new(ids, 1);
  job_end end;
  assert_false(feed(w, "{\"type\": \"job.started\", \"job_id\": \"a\"}", &end));
  assert_false(
      feed(w, "{\"type\": \"job.finished\", \"job_id\": \"z\", \"status\": \"success\"}", &end));
  assert_false(feed(w, "{\"type\": \"job.finished\", \"job_id\": \"a\"}", &end));
  assert_false(feed(w, "{\"type\": \"job.finished\", \"job_id\": \"a\", \"status\": \"\"}", &end));
  assert_false(feed(w, "{\"type\": \"job.duplicate\", \"job_id\": \"a\"}", &end));
  assert_false(feed(w, "{\"job_id\": \"a\", \"status\": \"success\"}", &end));
  assert_false(
      feed(w, "{\"type\": \"job.finished\", \"job_id\": 7, \"status\": \"success\"}", &end));
  assert_int_equal(job_waits_open(w), 1);
  job_waits_free(w);
}

static void exit_code_and_message_come_along(void **state) {
  const char *ids[] = {"a"};
  job_waits *w = job_waits_new(ids, 1);
  job_end end;
  json_t *ev = json_pack("{s:s, s:s, s:s, s:i, s:s}", "type", "job.finished", "job_id", "a",
                         "status", "user_error", "exit_code", 1, "message", "bad input");
  assert_true(job_waits_feed(w, ev, &end));
  assert_int_equal(json_integer_value(end.exit_code), 1);
  assert_string_equal(end.message, "bad input");
  json_decref(ev);
  job_waits_free(w);
}

static void the_same_id_twice_is_waited_for_once(void **state) {
  const char *ids[] = {"a", "a"};
  job_waits *w = job_waits_new(ids, 2);
  assert_int_equal(job_waits_open(w), 1);
  job_waits_free(w);
  job_waits_free(NULL);
  w = job_waits_new(NULL, 0);
  assert_int_equal(job_waits_open(w), 0);
  assert_true(job_waits_all_succeeded(w));
  job_waits_free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(finished_ends_the_job),
      cmocka_unit_test(a_duplicate_says_how_it_had_ended),
      cmocka_unit_test(an_end_counts_once),
      cmocka_unit_test(other_events_and_jobs_end_nothing),
      cmocka_unit_test(exit_code_and_message_come_along),
      cmocka_unit_test(the_same_id_twice_is_waited_for_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* shared/ops/replay.h: which failed jobs a replay sends, as which attempt, and
 * the request it sends; and the time points replay's --since/--until take
 * (shared/core/timeutil.h). */
#include "core/cleanup.h"
#include "ops/replay.h"
#include "core/timeutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static json_t *finished(const char *job, long attempt, const char *status, const char *comp) {
  json_t *ev = json_pack("{s:s, s:s, s:i, s:s, s:s, s:{s:s, s:i, s:i}}", "type", "job.finished",
                         "job_id", job, "attempt", (int)attempt, "status", status, "component",
                         comp, "request", "topic", "runs", "partition", 1, "offset", 40 + attempt);
  assert_non_null(ev);
  return ev;
}

static void add(replay_set *set, const replay_filter *f, const char *job, long attempt,
                const char *status, const char *comp, int64_t ts) {
  json_t *ev = finished(job, attempt, status, comp);
  replay_set_add_finished(set, f, ev, ts);
  json_decref(ev);
}

static replay_candidate *get(replay_set *set, const char *job) {
  for (size_t i = 0; i < set->count; i++)
    if (strcmp(set->items[i].job_id, job) == 0)
      return &set->items[i];
  return NULL;
}

static void test_failures_selected_successes_not(void **state) {
  replay_filter f = {.statuses = replay_default_statuses()};
  replay_set set = {0};
  add(&set, &f, "ok", 1, "success", "a", 1);
  add(&set, &f, "bad", 1, "oom", "a", 2);
  add(&set, &f, "gone", 1, "cancelled", "a", 3); /* not in the default set */
  json_t *other = json_pack("{s:s, s:s}", "type", "job.started", "job_id", "x");
  replay_set_add_finished(&set, &f, other, 4);
  json_decref(other);
  assert_int_equal(set.count, 1);
  replay_candidate *c = get(&set, "bad");
  assert_true(c->matched);
  assert_string_equal(c->request_topic, "runs");
  assert_int_equal(c->request_offset, 41);
  replay_judge(c, NULL);
  assert_true(c->send);
  assert_int_equal(c->new_attempt, 2);
  replay_set_free(&set);
}

static void test_the_latest_attempt_decides(void **state) {
  replay_filter f = {.statuses = replay_default_statuses()};
  replay_set set = {0};
  add(&set, &f, "j", 2, "timeout", "a", 20);
  add(&set, &f, "j", 1, "oom", "a", 10); /* older, read later (another partition) */
  replay_candidate *c = get(&set, "j");
  assert_int_equal(c->attempt, 2);
  assert_string_equal(c->status, "timeout");
  assert_int_equal(c->request_offset, 42);
  add(&set, &f, "j", 3, "success", "a", 30);
  replay_judge(c, NULL);
  assert_false(c->send);
  assert_non_null(strstr(c->why, "succeeded since (attempt 3)"));
  replay_set_free(&set);
}

static void test_filters(void **state) {
  const char *jobs[] = {"j1", "j2"};
  const char *comps[] = {"keep"};
  replay_filter f = {.job_ids = jobs, .job_id_count = 2, .components = comps, .component_count = 1};
  assert_int_equal(replay_parse_statuses("oom, timeout", &f.statuses, NULL), 0);
  replay_set set = {0};
  add(&set, &f, "j1", 1, "oom", "keep", 1);
  add(&set, &f, "j2", 1, "oom", "other", 1);
  add(&set, &f, "j3", 1, "oom", "keep", 1);
  add(&set, &f, "j1", 1, "user_error", "keep", 1);
  assert_int_equal(set.count, 1);
  assert_non_null(get(&set, "j1"));
  replay_set_free(&set);
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(replay_parse_statuses("oom,nope", &f.statuses, &err), -1);
  assert_non_null(strstr(bw_error_msg(&err), "unknown status 'nope'"));
}

static void test_judged_by_the_record(void **state) {
  replay_filter f = {.statuses = replay_default_statuses()};
  replay_set set = {0};
  add(&set, &f, "j", 1, "application_error", "a", 1);
  replay_candidate *c = get(&set, "j");
  static const struct {
    const char *record, *why;
    bool send;
  } cases[] = {
      {"{\"status\": \"success\", \"attempt\": 2}", "succeeded since (attempt 2)", false},
      {"{\"status\": \"running\", \"attempt\": 2}", "running now (attempt 2)", false},
      {"{\"status\": \"oom\", \"attempt\": 2}", "already run again as attempt 2 (oom)", false},
      {"{\"status\": \"application_error\", \"attempt\": 1}", NULL, true},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    cleanup_json json_t *rec = json_loads(cases[i].record, 0, NULL);
    replay_judge(c, rec);
    assert_int_equal(c->send, cases[i].send);
    if (cases[i].why)
      assert_non_null(strstr(c->why, cases[i].why));
  }
  assert_int_equal(c->new_attempt, 2);
  replay_set_free(&set);
}

/* A dead letter on "dlq" partition 0 at `offset`, read at ts `offset`. */
static void add_dead(replay_set *set, const replay_filter *f, const char *key, const char *payload,
                     const char *reason, int64_t offset, const char *not_whole) {
  replay_dead_letter dl = {
      key, payload, payload ? strlen(payload) : 0, reason, "dlq", 0, offset, offset, not_whole};
  replay_set_add_dead_letter(set, f, &dl);
}

static void test_dead_letters(void **state) {
  replay_filter f = {.statuses = replay_default_statuses()};
  replay_set set = {0};
  static const char good[] = "{\"job_id\": \"d1\", \"component\": \"a\", \"attempt\": 3}";
  add_dead(&set, &f, "d1", good, "component: not registered", 5, NULL);
  add_dead(&set, &f, "k2", "{oops", "not JSON", 6, NULL);
  replay_candidate *c = get(&set, "d1");
  assert_string_equal(c->status, "dead_letter");
  assert_int_equal(c->attempt, 3);
  replay_judge(c, NULL);
  assert_true(c->send);
  assert_int_equal(c->new_attempt, 4);
  c = get(&set, "k2"); /* unreadable: named by its key */
  replay_judge(c, NULL);
  assert_false(c->send);
  assert_non_null(strstr(c->why, "not a readable request"));
  replay_set_free(&set);
}

/* Unreadable and keyless: each a candidate of its own, named by where it
 * is, and each skipped. Named by a key: one per key, the latest deciding. */
static void test_unreadable_dead_letters_stay_apart(void **state) {
  replay_filter f = {.statuses = replay_default_statuses()};
  replay_set set = {0};
  add_dead(&set, &f, NULL, "{oops", "not JSON", 7, NULL);
  add_dead(&set, &f, NULL, NULL, "too large", 8, NULL);
  add_dead(&set, &f, "", "[]", "not an object", 9, NULL);
  add_dead(&set, &f, "k", "{oops", "not JSON", 10, NULL);
  add_dead(&set, &f, "k", "{oops again", "not JSON", 11, NULL);
  assert_int_equal(set.count, 4);
  static const char *const names[] = {"(no job id: dlq [0] 7)", "(no job id: dlq [0] 8)",
                                      "(no job id: dlq [0] 9)", "k"};
  for (size_t i = 0; i < 4; i++) {
    replay_candidate *c = get(&set, names[i]);
    assert_non_null(c);
    assert_true(c->matched);
    replay_judge(c, NULL);
    assert_false(c->send);
    assert_non_null(strstr(c->why, "not a readable request"));
  }
  assert_int_equal(get(&set, "k")->ts_ms, 11);
  replay_set_free(&set);
}

/* Bytes that are not the whole request (a cut copy whose original could not
 * be had): not read, even when they parse; skipped with why. */
static void test_a_dead_letter_not_whole(void **state) {
  replay_filter f = {.statuses = replay_default_statuses()};
  replay_set set = {0};
  static const char good[] = "{\"job_id\": \"d1\", \"component\": \"a\"}";
  add_dead(&set, &f, "d1", good, "invalid", 5, "its original is no longer kept");
  add_dead(&set, &f, NULL, NULL, "invalid", 6, "its original was never on runs");
  assert_int_equal(set.count, 2);
  replay_candidate *c = get(&set, "d1");
  assert_null(c->component);
  replay_judge(c, NULL);
  assert_false(c->send);
  assert_non_null(strstr(c->why, "not a readable request: its original is no longer kept"));
  c = get(&set, "(no job id: dlq [0] 6)");
  replay_judge(c, NULL);
  assert_non_null(strstr(c->why, "its original was never on runs"));
  replay_set_free(&set);
}

static void test_rewrite(void **state) {
  cleanup_components component_registry reg = {0};
  cleanup_error bw_error_t err = NULL;
  cleanup_json json_t *root =
      json_loads("{\"components\": {\"a\": {\"image\": \"img\"}}}", 0, NULL);
  assert_int_equal(components_load_json(root, "t.json", &reg, &err), 0);
  static const char orig[] =
      "{\"job_id\": \"j\", \"component\": \"a\", \"config\": {\"#s\": \"x\"}, \"attempt\": 1}";
  cleanup_free char *out = NULL;
  size_t len = 0;
  assert_int_equal(replay_rewrite(orig, strlen(orig), "j", 2, &reg, &out, &len, &err), 0);
  assert_string_equal(out, "{\"job_id\":\"j\",\"component\":\"a\",\"config\":{\"#s\":\"x\"},"
                           "\"attempt\":2,\"replay_of\":\"j\"}");
  assert_int_equal(len, strlen(out));
  assert_int_equal(replay_rewrite(orig, strlen(orig), "other", 2, &reg, &out, &len, &err), -1);
  assert_non_null(strstr(bw_error_msg(&err), "not job other's request"));
  bw_error_release(&err);
  static const char unknown[] = "{\"job_id\": \"j\", \"component\": \"b\"}";
  assert_int_equal(replay_rewrite(unknown, strlen(unknown), "j", 2, &reg, &out, &len, &err), -1);
  assert_non_null(strstr(bw_error_msg(&err), "still invalid: component"));
}

static void test_time_points(void **state) {
  int64_t now = 1795836000000, t = 0;
  assert_int_equal(bw_time_parse_point("90s", now, &t, NULL), 0);
  assert_int_equal(t, now - 90000);
  assert_int_equal(bw_time_parse_point("7d", now, &t, NULL), 0);
  assert_int_equal(t, now - 7 * 86400000LL);
  assert_int_equal(bw_time_parse_point("2026-11-28T03:00:00Z", now, &t, NULL), 0);
  assert_int_equal(t, 1795834800000);
  assert_int_equal(bw_time_parse_point("2026-11-28T03:00:00.25+00:00", now, &t, NULL), 0);
  assert_int_equal(t, 1795834800250);
  assert_int_equal(bw_time_parse_point("2026-11-28", now, &t, NULL), 0);
  assert_int_equal(t, 1795824000000);
  static const char *const bad[] = {
      "", "5", "5w", "-3m", "2026-11-28T03:00", "2026-11-28T03:00:00+02:00", "yesterday"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cleanup_error bw_error_t err = NULL;
    assert_int_equal(bw_time_parse_point(bad[i], now, &t, &err), -1);
    assert_non_null(strstr(bw_error_msg(&err), "or an age like 90s"));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_failures_selected_successes_not),
      cmocka_unit_test(test_the_latest_attempt_decides),
      cmocka_unit_test(test_filters),
      cmocka_unit_test(test_judged_by_the_record),
      cmocka_unit_test(test_dead_letters),
      cmocka_unit_test(test_unreadable_dead_letters_stay_apart),
      cmocka_unit_test(test_a_dead_letter_not_whole),
      cmocka_unit_test(test_rewrite),
      cmocka_unit_test(test_time_points),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

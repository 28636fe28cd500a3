/* shared/service/orphan_sweep.h: which containers and data folders a sweep removes. */
#include "service/orphan_sweep.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* This worker's slots run under "t-own". */
static bool runs_here(void *ctx, const char *token) {
  return strcmp(token, "t-own") == 0;
}

static const char *const live[] = {"t-live"};

static orphan_view view(bool redis_known) {
  return (orphan_view){.fleet = "bw:",
                       .host = "h1",
                       .worker = "w1",
                       .runs_here = runs_here,
                       .live_tokens = live,
                       .live_count = 1,
                       .redis_known = redis_known};
}

static orphan_item item(const char *worker, const char *token) {
  return (orphan_item){
      .fleet = "bw:", .host = "h1", .worker = worker, .job_id = "j1", .token = token};
}

static void expect(orphan_verdict want, const orphan_view *v, orphan_item it, const char *lease,
                   const char *why_part) {
  const char *why = NULL;
  assert_int_equal(orphan_decide(v, &it, lease, &why), want);
  assert_non_null(why);
  assert_non_null(strstr(why, why_part));
}

static void test_other_fleets_hosts_and_run_are_kept(void **state) {
  orphan_view v = view(true);
  orphan_item it = item("w2", "t-x");
  it.fleet = "staging:";
  expect(ORPHAN_KEEP, &v, it, NULL, "not this fleet");
  it = item("w2", "t-x");
  it.host = "h2";
  expect(ORPHAN_KEEP, &v, it, NULL, "not this fleet");
  it = item("w2", "t-x");
  it.fleet = NULL; /* bundle-worker run */
  expect(ORPHAN_KEEP, &v, it, NULL, "not this fleet");
}

static void test_own_slot_is_kept(void **state) {
  orphan_view v = view(true);
  expect(ORPHAN_KEEP, &v, item("w1", "t-own"), NULL, "slots");
}

/* The same worker.id, no slot runs it: a previous process's; even when the
 * lease still holds its token (the restart came before the lease expired). */
static void test_previous_process_is_removed_and_abandoned(void **state) {
  orphan_view v = view(true);
  expect(ORPHAN_REMOVE_AND_ABANDON, &v, item("w1", "t-old"), "t-old", "previous process");
  orphan_view no_redis = view(false);
  expect(ORPHAN_REMOVE_AND_ABANDON, &no_redis, item("w1", "t-old"), NULL, "previous process");
}

static void test_alive_lease_or_heartbeat_keeps(void **state) {
  orphan_view v = view(true);
  expect(ORPHAN_KEEP, &v, item("w2", "t-x"), "t-x", "lease is alive");
  expect(ORPHAN_KEEP, &v, item("w2", "t-live"), NULL, "live worker");
}

/* An older attempt: the job's lease belongs to a newer run now. */
static void test_lease_of_another_run_removes(void **state) {
  orphan_view v = view(true);
  expect(ORPHAN_REMOVE, &v, item("w2", "t-attempt1"), "t-attempt2", "another run");
  expect(ORPHAN_REMOVE, &v, item("w2", "t-dead"), NULL, "no live lease");
}

static void test_without_redis_others_are_kept(void **state) {
  orphan_view v = view(false);
  expect(ORPHAN_KEEP, &v, item("w2", "t-dead"), NULL, "Redis cannot tell");
}

/* Containers of an older version carry no token: the job's lease decides. */
static void test_without_a_token(void **state) {
  orphan_view v = view(true);
  expect(ORPHAN_KEEP, &v, item("w2", NULL), "anything", "lease is alive");
  expect(ORPHAN_REMOVE, &v, item("w2", NULL), NULL, "no live lease");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_other_fleets_hosts_and_run_are_kept),
      cmocka_unit_test(test_own_slot_is_kept),
      cmocka_unit_test(test_previous_process_is_removed_and_abandoned),
      cmocka_unit_test(test_alive_lease_or_heartbeat_keeps),
      cmocka_unit_test(test_lease_of_another_run_removes),
      cmocka_unit_test(test_without_redis_others_are_kept),
      cmocka_unit_test(test_without_a_token),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

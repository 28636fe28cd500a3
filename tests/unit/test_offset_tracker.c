/* The contiguous-commit rule of at-least-once delivery. */
#include "service/offset_tracker.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

typedef struct seen {
  int calls;
  char topic[32];
  int32_t partition;
  int64_t next;
} seen;

static void record(void *ctx, const char *topic, int32_t partition, int64_t next) {
  seen *s = ctx;
  s->calls++;
  strncpy(s->topic, topic, sizeof(s->topic) - 1);
  s->partition = partition;
  s->next = next;
}

static void nothing_to_commit_until_the_first_is_done(void **state) {
  offset_tracker *t = offset_tracker_new();
  seen s = {0};
  offset_tracker_take(t, "runs", 0, 10);
  offset_tracker_take(t, "runs", 0, 11);
  offset_tracker_take(t, "runs", 0, 12);
  offset_tracker_done(t, "runs", 0, 11);
  offset_tracker_done(t, "runs", 0, 12);
  assert_int_equal(offset_tracker_collect(t, record, &s), 0);
  assert_int_equal(offset_tracker_pending(t), 1);
  offset_tracker_done(t, "runs", 0, 10);
  assert_int_equal(offset_tracker_collect(t, record, &s), 1);
  assert_int_equal(s.next, 13);
  assert_int_equal(offset_tracker_pending(t), 0);
  /* Nothing moved since: nothing reported. */
  assert_int_equal(offset_tracker_collect(t, record, &s), 0);
  offset_tracker_free(t);
}

static void commit_stops_before_an_unfinished_job(void **state) {
  offset_tracker *t = offset_tracker_new();
  seen s = {0};
  for (int64_t o = 0; o < 5; o++)
    offset_tracker_take(t, "runs", 3, o);
  offset_tracker_done(t, "runs", 3, 0);
  offset_tracker_done(t, "runs", 3, 1);
  offset_tracker_done(t, "runs", 3, 3);
  offset_tracker_collect(t, record, &s);
  assert_int_equal(s.next, 2);
  assert_int_equal(s.partition, 3);
  offset_tracker_done(t, "runs", 3, 2);
  offset_tracker_collect(t, record, &s);
  assert_int_equal(s.next, 4);
  offset_tracker_free(t);
}

static void partitions_are_independent(void **state) {
  offset_tracker *t = offset_tracker_new();
  seen s = {0};
  offset_tracker_take(t, "runs", 0, 5);
  offset_tracker_take(t, "runs", 1, 7);
  offset_tracker_done(t, "runs", 1, 7);
  assert_int_equal(offset_tracker_collect(t, record, &s), 1);
  assert_int_equal(s.partition, 1);
  assert_int_equal(s.next, 8);
  offset_tracker_free(t);
}

static void a_revoked_partition_is_never_committed(void **state) {
  offset_tracker *t = offset_tracker_new();
  seen s = {0};
  offset_tracker_take(t, "runs", 2, 40);
  offset_tracker_forget(t, "runs", 2);
  offset_tracker_done(t, "runs", 2, 40); /* the job ended after the revocation */
  assert_int_equal(offset_tracker_collect(t, record, &s), 0);
  /* Reassigned later: starts afresh. */
  offset_tracker_take(t, "runs", 2, 41);
  offset_tracker_done(t, "runs", 2, 41);
  assert_int_equal(offset_tracker_collect(t, record, &s), 1);
  assert_int_equal(s.next, 42);
  offset_tracker_free(t);
}

static void many_offsets_stay_correct(void **state) {
  offset_tracker *t = offset_tracker_new();
  seen s = {0};
  for (int64_t o = 0; o < 1000; o++) {
    offset_tracker_take(t, "runs", 0, o);
    if (o >= 2)
      offset_tracker_done(t, "runs", 0, o - 2);
  }
  offset_tracker_collect(t, record, &s);
  assert_int_equal(s.next, 998);
  assert_int_equal(offset_tracker_pending(t), 2);
  offset_tracker_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(nothing_to_commit_until_the_first_is_done),
      cmocka_unit_test(commit_stops_before_an_unfinished_job),
      cmocka_unit_test(partitions_are_independent),
      cmocka_unit_test(a_revoked_partition_is_never_committed),
      cmocka_unit_test(many_offsets_stay_correct),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

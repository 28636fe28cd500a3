/* Intake's decisions (service/intake_policy.h): when to pause and resume,
 * when a parked request is claimed again. */
#include "service/intake_policy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static intake_view busy(bool paused, size_t waiting, size_t prefetch) {
  return (intake_view){
      .paused = paused, .free_slots = 0, .waiting_for_slot = waiting, .prefetch = prefetch};
}

static void a_free_slot_never_pauses(void **state) {
  for (size_t waiting = 0; waiting < 40; waiting++) {
    intake_view v = busy(false, waiting, 16);
    v.free_slots = 1;
    assert_false(intake_policy_pause(&v));
    v.paused = true;
    assert_false(intake_policy_pause(&v));
  }
}

static void draining_always_pauses(void **state) {
  intake_view v = {.draining = true, .free_slots = 4, .prefetch = 16};
  assert_true(intake_policy_pause(&v));
  v.paused = true;
  assert_true(intake_policy_pause(&v));
}

/* Running: pauses when the lookahead is full (prefetch - 1, prefetch, + 1). */
static void pauses_once_the_lookahead_is_full(void **state) {
  intake_view v = busy(false, 15, 16);
  assert_false(intake_policy_pause(&v));
  v = busy(false, 16, 16);
  assert_true(intake_policy_pause(&v));
  v = busy(false, 17, 16);
  assert_true(intake_policy_pause(&v));
}

/* Paused: stays paused above half, resumes at half (7, 8, 9 of 16). */
static void resumes_at_half_the_lookahead(void **state) {
  intake_view v = busy(true, 9, 16);
  assert_true(intake_policy_pause(&v));
  v = busy(true, 8, 16);
  assert_false(intake_policy_pause(&v));
  v = busy(true, 7, 16);
  assert_false(intake_policy_pause(&v));
}

/* An odd lookahead: half rounds down (3 of 7 resumes, 4 stays paused). */
static void odd_lookahead(void **state) {
  intake_view v = busy(true, 4, 7);
  assert_true(intake_policy_pause(&v));
  v = busy(true, 3, 7);
  assert_false(intake_policy_pause(&v));
}

/* No lookahead (worker.prefetch 0): paused while all slots are busy,
 * whatever is parked, and resumed only by a free slot. */
static void no_lookahead(void **state) {
  intake_view v = busy(false, 0, 0);
  assert_true(intake_policy_pause(&v));
  v = busy(true, 0, 0);
  assert_true(intake_policy_pause(&v));
}

/* Between pausing and resuming there is a gap: a run of states from empty
 * to full and back flips the decision exactly twice. */
static void no_flapping(void **state) {
  bool paused = false;
  int flips = 0;
  for (size_t w = 0; w <= 16; w++) {
    intake_view v = busy(paused, w, 16);
    bool now = intake_policy_pause(&v);
    flips += now != paused;
    paused = now;
  }
  for (size_t w = 16; w-- > 0;) {
    intake_view v = busy(paused, w, 16);
    bool now = intake_policy_pause(&v);
    flips += now != paused;
    paused = now;
  }
  assert_int_equal(flips, 2);
  assert_false(paused);
}

static void first_check(void **state) {
  assert_int_equal(intake_policy_first_check(true, 1000, 2000), 0);
  assert_int_equal(intake_policy_first_check(false, 1000, 2000), 3000);
}

static void due(void **state) {
  assert_true(intake_policy_due(0, 1000, false, true));
  assert_true(intake_policy_due(1000, 1000, false, true));
  assert_false(intake_policy_due(1001, 1000, false, true));
  assert_false(intake_policy_due(0, 1000, true, true));   /* draining */
  assert_false(intake_policy_due(0, 1000, false, false)); /* no slot */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_free_slot_never_pauses),
      cmocka_unit_test(draining_always_pauses),
      cmocka_unit_test(pauses_once_the_lookahead_is_full),
      cmocka_unit_test(resumes_at_half_the_lookahead),
      cmocka_unit_test(odd_lookahead),
      cmocka_unit_test(no_lookahead),
      cmocka_unit_test(no_flapping),
      cmocka_unit_test(first_check),
      cmocka_unit_test(due),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

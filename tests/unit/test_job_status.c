/* shared/job/job_status.h: how a job ended, names, and the classification order. */
#include "job/job_status.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>

#include <cmocka.h>

static void test_classify_table(void **state) {
  static const struct {
    bool oom, timed_out, cancelled;
    long exit_code;
    job_status want;
  } cases[] = {
      /* out-of-memory wins over everything, whatever the exit code */
      {true, false, false, 137, JOB_OOM},
      {true, false, false, 0, JOB_OOM},
      {true, false, false, 1, JOB_OOM},
      {true, false, false, -1, JOB_OOM},
      {true, true, false, 137, JOB_OOM},
      {true, false, true, 143, JOB_OOM},
      {true, true, true, 0, JOB_OOM},
      /* then our own timeout kill, also over a cancel */
      {false, true, false, 137, JOB_TIMEOUT},
      {false, true, false, 0, JOB_TIMEOUT},
      {false, true, true, 143, JOB_TIMEOUT},
      {false, true, true, 0, JOB_TIMEOUT},
      /* then a cancel, whatever the exit code */
      {false, false, true, 143, JOB_CANCELLED},
      {false, false, true, 0, JOB_CANCELLED},
      {false, false, true, 1, JOB_CANCELLED},
      /* then the exit code */
      {false, false, false, 0, JOB_SUCCESS},
      {false, false, false, 1, JOB_USER_ERROR},
      {false, false, false, 2, JOB_APPLICATION_ERROR},
      {false, false, false, 3, JOB_APPLICATION_ERROR},
      {false, false, false, 126, JOB_APPLICATION_ERROR},
      {false, false, false, 127, JOB_APPLICATION_ERROR},
      {false, false, false, 137, JOB_APPLICATION_ERROR},
      {false, false, false, 255, JOB_APPLICATION_ERROR},
      {false, false, false, 256, JOB_APPLICATION_ERROR},
      {false, false, false, -1, JOB_APPLICATION_ERROR},
      {false, false, false, LONG_MIN, JOB_APPLICATION_ERROR},
      {false, false, false, LONG_MAX, JOB_APPLICATION_ERROR},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    job_status got = job_status_classify(cases[i].oom, cases[i].timed_out, cases[i].cancelled,
                                         cases[i].exit_code);
    if (got != cases[i].want)
      fail_msg("oom=%d timed_out=%d cancelled=%d exit=%ld: got %s, want %s", cases[i].oom,
               cases[i].timed_out, cases[i].cancelled, cases[i].exit_code, job_status_name(got),
               job_status_name(cases[i].want));
  }
}

static void test_names(void **state) {
  static const struct {
    job_status status;
    const char *name;
  } cases[] = {
      {JOB_SUCCESS, "success"},
      {JOB_USER_ERROR, "user_error"},
      {JOB_APPLICATION_ERROR, "application_error"},
      {JOB_TIMEOUT, "timeout"},
      {JOB_OOM, "oom"},
      {JOB_CANCELLED, "cancelled"},
      {JOB_INFRA_ERROR, "infra_error"},
      {JOB_REJECTED, "rejected"},
      {JOB_DISK_LIMIT, "disk_limit"},
  };
  assert_int_equal(sizeof(cases) / sizeof(cases[0]), JOB_STATUS_COUNT);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    assert_string_equal(job_status_name(cases[i].status), cases[i].name);
}

static void test_name_parse_round_trip(void **state) {
  for (int i = 0; i < JOB_STATUS_COUNT; i++) {
    const char *name = job_status_name((job_status)i);
    job_status back = (job_status)99;
    assert_int_equal(job_status_parse(name, &back), 0);
    assert_int_equal(back, i);
  }
}

static void test_names_are_distinct(void **state) {
  for (int i = 0; i < JOB_STATUS_COUNT; i++)
    for (int j = i + 1; j < JOB_STATUS_COUNT; j++)
      assert_string_not_equal(job_status_name((job_status)i), job_status_name((job_status)j));
}

static void test_out_of_range_status_is_unknown(void **state) {
  assert_string_equal(job_status_name((job_status)JOB_STATUS_COUNT), "unknown");
  assert_string_equal(job_status_name((job_status)-1), "unknown");
  assert_string_equal(job_status_name((job_status)1000), "unknown");
}

static void test_parse_unknown_names(void **state) {
  static const char *const cases[] = {
      "",           "unknown",   "Success",  "SUCCESS", "success ",
      " success",   "succes",    "oom-kill", "error",   "cancelled\n",
      "user-error", "timed_out", "canceled", "infra",   "rejected!",
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    job_status out = (job_status)42;
    if (job_status_parse(cases[i], &out) != -1)
      fail_msg("'%s' parsed as %s", cases[i], job_status_name(out));
    assert_int_equal(out, 42); /* untouched */
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classify_table),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_name_parse_round_trip),
      cmocka_unit_test(test_names_are_distinct),
      cmocka_unit_test(test_out_of_range_status_is_unknown),
      cmocka_unit_test(test_parse_unknown_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

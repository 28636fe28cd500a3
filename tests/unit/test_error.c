/* shared/core/error.h: the one error convention (set, prefix, release, kinds). */
#include "core/error.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_set_stores_kind_and_message(void **state) {
  bw_error_t err = NULL;
  assert_int_equal(bw_error_set(&err, BW_ERR_INVALID, "bad %s %d", "value", 7), -1);
  assert_non_null(err);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  assert_int_equal(err->sys_errno, 0);
  assert_string_equal(err->msg, "bad value 7");
  assert_string_equal(bw_error_msg(&err), "bad value 7");
  bw_error_release(&err);
  assert_null(err);
}

static void test_prefix_chain_reads_outermost_first(void **state) {
  bw_error_t err = NULL;
  bw_error_set(&err, BW_ERR_USER, "c");
  assert_int_equal(bw_error_prefix(&err, "b"), -1);
  assert_int_equal(bw_error_prefix(&err, "%s", "a"), -1);
  assert_string_equal(err->msg, "a: b: c");
  assert_int_equal(err->kind, BW_ERR_USER); /* the prefix keeps the kind */
  bw_error_release(&err);
}

static void test_prefix_without_error_is_harmless(void **state) {
  bw_error_t err = NULL;
  assert_int_equal(bw_error_prefix(&err, "context"), -1);
  assert_null(err);
  assert_int_equal(bw_error_prefix(NULL, "context"), -1);
}

static void test_set_errno_appends_strerror(void **state) {
  bw_error_t err = NULL;
  assert_int_equal(bw_error_set_errno(&err, BW_ERR_UNAVAILABLE, ENOENT, "open %s", "/x"), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_int_equal(err->sys_errno, ENOENT);
  char *want = bw_strdup_printf("open /x: %s", strerror(ENOENT));
  assert_string_equal(err->msg, want);
  free(want);
  bw_error_release(&err);
}

static void test_release_accepts_null_and_unset(void **state) {
  bw_error_release(NULL);
  bw_error_t err = NULL;
  bw_error_release(&err);
  assert_null(err);
  bw_error_release(&err); /* twice is fine too */
}

static void test_set_replaces_earlier_error(void **state) {
  bw_error_t err = NULL;
  bw_error_set(&err, BW_ERR_INTERNAL, "first");
  bw_error_set(&err, BW_ERR_TIMEOUT, "second");
  assert_int_equal(err->kind, BW_ERR_TIMEOUT);
  assert_string_equal(err->msg, "second");
  bw_error_release(&err); /* LeakSanitizer checks that "first" was freed */
}

static void test_set_may_quote_the_error_it_replaces(void **state) {
  bw_error_t err = NULL;
  bw_error_set(&err, BW_ERR_USER, "inner");
  bw_error_set(&err, BW_ERR_INVALID, "outer (%s)", err->msg);
  assert_string_equal(err->msg, "outer (inner)");
  bw_error_release(&err);
}

static void test_set_with_null_err_only_returns(void **state) {
  assert_int_equal(bw_error_set(NULL, BW_ERR_INVALID, "nobody listens"), -1);
  assert_int_equal(bw_error_set_errno(NULL, BW_ERR_INVALID, EIO, "nobody"), -1);
}

static void test_msg_of_unset_error_is_empty(void **state) {
  bw_error_t err = NULL;
  assert_string_equal(bw_error_msg(&err), "");
  assert_string_equal(bw_error_msg(NULL), "");
}

static void test_cleanup_error_releases(void **state) {
  cleanup_error bw_error_t err = NULL;
  bw_error_set(&err, BW_ERR_INVALID, "freed at scope exit");
}

static void test_kind_names(void **state) {
  static const struct {
    bw_error_kind kind;
    const char *name;
  } cases[] = {
      {BW_ERR_INTERNAL, "internal"},       {BW_ERR_INVALID, "invalid"},
      {BW_ERR_UNAVAILABLE, "unavailable"}, {BW_ERR_USER, "user"},
      {BW_ERR_TIMEOUT, "timeout"},         {BW_ERR_CANCELLED, "cancelled"},
      {(bw_error_kind)0, "unknown"},       {(bw_error_kind)99, "unknown"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    assert_string_equal(bw_error_kind_name(cases[i].kind), cases[i].name);
}

static void test_strdup_helpers(void **state) {
  char *s = bw_strdup(NULL);
  assert_string_equal(s, "");
  free(s);
  s = bw_strdup("abc");
  assert_string_equal(s, "abc");
  free(s);
  s = bw_strdup_printf("%d-%s", 42, "x");
  assert_string_equal(s, "42-x");
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set_stores_kind_and_message),
      cmocka_unit_test(test_prefix_chain_reads_outermost_first),
      cmocka_unit_test(test_prefix_without_error_is_harmless),
      cmocka_unit_test(test_set_errno_appends_strerror),
      cmocka_unit_test(test_release_accepts_null_and_unset),
      cmocka_unit_test(test_set_replaces_earlier_error),
      cmocka_unit_test(test_set_may_quote_the_error_it_replaces),
      cmocka_unit_test(test_set_with_null_err_only_returns),
      cmocka_unit_test(test_msg_of_unset_error_is_empty),
      cmocka_unit_test(test_cleanup_error_releases),
      cmocka_unit_test(test_kind_names),
      cmocka_unit_test(test_strdup_helpers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

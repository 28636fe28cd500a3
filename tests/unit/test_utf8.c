/* shared/core/utf8.h: validation by jansson's rules, and sanitizing. */
#include "core/utf8.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_valid_and_invalid(void **state) {
  assert_true(bw_utf8_valid("", 0));
  assert_true(bw_utf8_valid("abc", 3));
  assert_true(bw_utf8_valid("a\0b", 3));
  assert_true(bw_utf8_valid("\xC3\xA9", 2));          /* é */
  assert_true(bw_utf8_valid("\xE2\x82\xAC", 3));      /* € */
  assert_true(bw_utf8_valid("\xF0\x9F\x98\x80", 4));  /* 😀 */
  assert_false(bw_utf8_valid("\x80", 1));             /* stray continuation */
  assert_false(bw_utf8_valid("\xC3", 1));             /* truncated */
  assert_false(bw_utf8_valid("\xC0\xAF", 2));         /* overlong '/' */
  assert_false(bw_utf8_valid("\xE0\x80\xAF", 3));     /* overlong */
  assert_false(bw_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
  assert_false(bw_utf8_valid("\xF4\x90\x80\x80", 4)); /* above U+10FFFF */
  assert_false(bw_utf8_valid("\xFF", 1));
}

/* Whatever jansson accepts, we call valid, and the other way round. */
static void test_agrees_with_jansson(void **state) {
  uint32_t rng = 7;
  for (int round = 0; round < 200000; round++) {
    unsigned char buf[6];
    size_t len = 1 + round % 5;
    for (size_t i = 0; i < len; i++) {
      rng = rng * 1103515245u + 12345u;
      buf[i] = (unsigned char)(rng >> 16);
      if (buf[i] == 0)
        buf[i] = 1; /* jansson's json_stringn allows NUL too; keep it simple */
    }
    json_t *s = json_stringn((const char *)buf, len);
    assert_int_equal(s != NULL, bw_utf8_valid((const char *)buf, len));
    json_decref(s);
  }
}

static void test_sanitize(void **state) {
  size_t n = 0;
  char *s = bw_utf8_sanitize("a\xFF"
                             "b\xC3\xA9",
                             5, false, &n);
  assert_string_equal(s, "a\xEF\xBF\xBD"
                         "b\xC3\xA9");
  assert_int_equal(n, 7);
  free(s);
  s = bw_utf8_sanitize("a\0b", 3, true, &n);
  assert_string_equal(s, "a\xEF\xBF\xBD"
                         "b");
  free(s);
  s = bw_utf8_sanitize("a\0b", 3, false, &n);
  assert_int_equal(n, 3);
  assert_memory_equal(s, "a\0b", 3);
  free(s);
  /* A cut-off sequence at the end (the tail's first or last byte). */
  s = bw_utf8_sanitize("\xA9xyz\xE2\x82", 6, true, &n);
  assert_string_equal(s, "\xEF\xBF\xBDxyz\xEF\xBF\xBD\xEF\xBF\xBD");
  json_t *j = json_string(s);
  assert_non_null(j);
  json_decref(j);
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_and_invalid),
      cmocka_unit_test(test_agrees_with_jansson),
      cmocka_unit_test(test_sanitize),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

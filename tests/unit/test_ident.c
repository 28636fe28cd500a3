/* shared/core/ident.h: the one identifier rule and the environment variable
 * name rule. The expected answers are written here from the header's words,
 * with explicit byte lists (not <ctype.h>, whose answers depend on the
 * locale), and every byte value is tried at every class of position. */
#include "core/ident.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char LETTERS[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static const char DIGITS[] = "0123456789";

static bool in_set(int c, const char *set) {
  return c != 0 && strchr(set, c) != NULL;
}

/* ASCII letters, digits, '.', '_' and '-'. */
static bool id_byte(int c) {
  return in_set(c, LETTERS) || in_set(c, DIGITS) || in_set(c, "._-");
}

static char *repeat(char c, size_t n) {
  char *s = calloc(1, n + 1);
  memset(s, c, n);
  return s;
}

static void test_id_lengths_at_the_limit(void **state) {
  assert_false(bw_id_valid(NULL, 64));
  assert_false(bw_id_valid("", 64));
  assert_false(bw_id_valid("", 0));
  assert_false(bw_id_valid("a", 0)); /* max 0: nothing fits */
  assert_true(bw_id_valid("a", 1));
  assert_false(bw_id_valid("ab", 1));
  const size_t maxes[] = {1, 2, 63, 64, 65, 128, 255, 256, 4096};
  for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
    size_t max = maxes[i];
    char *at = repeat('x', max);
    char *over = repeat('x', max + 1);
    char *under = repeat('x', max - 1);
    assert_true(bw_id_valid(at, max));
    assert_false(bw_id_valid(over, max));
    assert_int_equal(bw_id_valid(under, max), max > 1);
    assert_true(bw_id_valid(at, SIZE_MAX));
    free(at);
    free(over);
    free(under);
  }
}

static void test_dot_and_dotdot_are_never_ids(void **state) {
  assert_false(bw_id_valid(".", 64));
  assert_false(bw_id_valid("..", 64));
  assert_false(bw_id_valid(".", 1));
  assert_false(bw_id_valid("..", 2));
  /* Only those two name a folder above: the rest of the dot family is fine. */
  assert_true(bw_id_valid("...", 64));
  assert_true(bw_id_valid(".a", 64));
  assert_true(bw_id_valid("a.", 64));
  assert_true(bw_id_valid("a..b", 64));
  assert_true(bw_id_valid(".-", 64));
  /* Separators and what a shell, a URL or Redis would read are not. */
  const char *bad[] = {"a/b", "../x", "./", "a b", "a\tb", "a:b", "a*b", "a\\b", "a%2e", "a\nb"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_false(bw_id_valid(bad[i], 64));
}

/* Every byte value 1..255 alone, first, in the middle, last (of ids of 3 and
 * of the maximum length), and doubled: valid exactly when it is an id byte
 * (and the whole is not "." or ".."). */
static void test_every_byte_at_every_position_of_an_id(void **state) {
  const size_t max = 40;
  char s[41];
  for (int c = 1; c < 256; c++) {
    bool ok = id_byte(c);
    snprintf(s, sizeof(s), "%c", c);
    if (bw_id_valid(s, max) != (ok && c != '.'))
      fail_msg("byte 0x%02x alone", c);
    snprintf(s, sizeof(s), "%c%c", c, c);
    if (bw_id_valid(s, max) != (ok && c != '.'))
      fail_msg("byte 0x%02x doubled", c);
    for (size_t len = 3; len <= max; len += max - 3) {
      for (size_t pos = 0; pos<len; pos += len> 3 ? len / 2 - 1 : 1) {
        memset(s, 'k', len);
        s[len] = '\0';
        s[pos] = (char)c;
        if (bw_id_valid(s, max) != ok)
          fail_msg("byte 0x%02x at %zu of %zu: expected %s", c, pos, len, ok ? "valid" : "not");
      }
      s[len - 1] = (char)c; /* and always the last */
      if (bw_id_valid(s, max) != ok)
        fail_msg("byte 0x%02x last of %zu", c, len);
    }
  }
  /* NUL cannot be inside a C string: the rule sees the bytes before it. */
  assert_true(bw_id_valid("ab\0/../etc", 64));
  assert_false(bw_id_valid("\0abc", 64));
}

static void test_env_name_lengths_at_the_limit(void **state) {
  assert_false(bw_env_name_valid(NULL));
  assert_false(bw_env_name_valid(""));
  char *at = repeat('A', 128);
  char *over = repeat('A', 129);
  assert_true(bw_env_name_valid(at));
  assert_false(bw_env_name_valid(over));
  at[0] = '_';
  assert_true(bw_env_name_valid(at));
  at[127] = '9';
  assert_true(bw_env_name_valid(at));
  free(at);
  free(over);
  assert_true(bw_env_name_valid("_"));
  assert_true(bw_env_name_valid("a"));
  assert_true(bw_env_name_valid("KBC_DATADIR"));
  assert_true(bw_env_name_valid("__9"));
  assert_false(bw_env_name_valid("9"));
  assert_false(bw_env_name_valid("9A"));
  assert_false(bw_env_name_valid("A=B"));
  assert_false(bw_env_name_valid("A-B"));
  assert_false(bw_env_name_valid("A.B"));
  assert_false(bw_env_name_valid("A B"));
}

/* First byte: a letter or '_'. Later bytes: letters, digits and '_'. Each
 * byte value 1..255 at the first, a middle and the last of 1, 3 and 128
 * bytes. */
static void test_every_byte_at_every_position_of_an_env_name(void **state) {
  char s[129];
  const size_t lengths[] = {1, 3, 128};
  for (int c = 1; c < 256; c++) {
    bool first_ok = in_set(c, LETTERS) || c == '_';
    bool later_ok = first_ok || in_set(c, DIGITS);
    for (size_t l = 0; l < 3; l++) {
      size_t len = lengths[l];
      const size_t positions[] = {0, len / 2, len - 1};
      for (size_t p = 0; p < 3; p++) {
        memset(s, 'Q', len);
        s[len] = '\0';
        s[positions[p]] = (char)c;
        bool want = positions[p] == 0 ? first_ok : later_ok;
        if (bw_env_name_valid(s) != want)
          fail_msg("byte 0x%02x at %zu of %zu: expected %s", c, positions[p], len,
                   want ? "valid" : "not");
      }
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_id_lengths_at_the_limit),
      cmocka_unit_test(test_dot_and_dotdot_are_never_ids),
      cmocka_unit_test(test_every_byte_at_every_position_of_an_id),
      cmocka_unit_test(test_env_name_lengths_at_the_limit),
      cmocka_unit_test(test_every_byte_at_every_position_of_an_env_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* shared/core/random_id.h: ids from the kernel's CSPRNG. Format and length
 * exactly as the header says, nothing written past them, no repeats over
 * many draws or across a fork, and every hex digit and bit in use (a nibble
 * or a byte stuck at one value would show). */
#include "core/random_id.h"

#include "core/cleanup.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define MANY 20000

static const char HEX[] = "0123456789abcdef";

static void expect_hex(const char *s, size_t digits) {
  assert_int_equal(strlen(s), digits);
  assert_int_equal(strspn(s, HEX), digits); /* lowercase only */
}

static int cmp_ids(const void *a, const void *b) {
  return memcmp(a, b, BW_RANDOM_ID_LEN + 1);
}

static void test_an_id_is_32_lowercase_hex_digits(void **state) {
  assert_int_equal(BW_RANDOM_ID_LEN, 32);
  char id[BW_RANDOM_ID_LEN + 2];
  memset(id, '#', sizeof(id));
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(bw_random_id(id, &err), 0);
  assert_null(err);
  expect_hex(id, BW_RANDOM_ID_LEN);
  assert_int_equal(id[BW_RANDOM_ID_LEN + 1], '#'); /* nothing past the NUL */
}

/* 2 * n digits and a NUL, not a byte more, for n around the 64-byte chunk
 * the implementation draws in. */
static void test_hex_of_any_length(void **state) {
  const size_t sizes[] = {0, 1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    size_t n = sizes[i];
    char *out = malloc(2 * n + 2);
    memset(out, '#', 2 * n + 2);
    cleanup_error bw_error_t err = NULL;
    assert_int_equal(bw_random_hex(out, n, &err), 0);
    expect_hex(out, 2 * n);
    assert_int_equal(out[2 * n + 1], '#');
    /* Each 64-byte chunk is a fresh draw, not the first one again. */
    for (size_t at = 128; at + 128 <= 2 * n; at += 128)
      assert_memory_not_equal(out, out + at, 128);
    free(out);
  }
}

static void test_many_ids_are_distinct_and_use_every_digit_and_bit(void **state) {
  char(*ids)[BW_RANDOM_ID_LEN + 1] = calloc(MANY, sizeof(*ids));
  static unsigned seen[BW_RANDOM_ID_LEN][16];
  memset(seen, 0, sizeof(seen));
  long ones = 0;
  for (int i = 0; i < MANY; i++) {
    cleanup_error bw_error_t err = NULL;
    assert_int_equal(bw_random_id(ids[i], &err), 0);
    for (int p = 0; p < BW_RANDOM_ID_LEN; p++) {
      int v = (int)(strchr(HEX, ids[i][p]) - HEX);
      seen[p][v]++;
      ones += __builtin_popcount((unsigned)v);
    }
  }
  qsort(ids, MANY, sizeof(*ids), cmp_ids);
  for (int i = 1; i < MANY; i++)
    if (memcmp(ids[i - 1], ids[i], BW_RANDOM_ID_LEN) == 0)
      fail_msg("id %s drawn twice in %d", ids[i], MANY);
  free(ids);
  /* Each digit at each position: expected MANY / 16 = 1250 times, so a
   * digit missing (or a position stuck) is not chance. */
  for (int p = 0; p < BW_RANDOM_ID_LEN; p++)
    for (int v = 0; v < 16; v++)
      if (seen[p][v] < 1000 || seen[p][v] > 1500)
        fail_msg("digit %c at position %d seen %u times in %d", HEX[v], p, seen[p][v], MANY);
  /* Half the bits set, within 1% (that is 18 standard deviations). */
  long bits = (long)MANY * BW_RANDOM_ID_LEN * 4;
  assert_true(ones > bits / 2 - bits / 100 && ones < bits / 2 + bits / 100);
}

/* A child of fork() does not replay its parent's ids. */
static void test_parent_and_child_draw_apart(void **state) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char id[BW_RANDOM_ID_LEN + 1];
    bw_error_t err = NULL;
    _exit(bw_random_id(id, &err) == 0 && write(fds[1], id, sizeof(id)) == sizeof(id) ? 0 : 1);
  }
  close(fds[1]);
  char mine[BW_RANDOM_ID_LEN + 1], theirs[BW_RANDOM_ID_LEN + 1];
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(bw_random_id(mine, &err), 0);
  assert_int_equal(read(fds[0], theirs, sizeof(theirs)), sizeof(theirs));
  close(fds[0]);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  expect_hex(theirs, BW_RANDOM_ID_LEN);
  assert_string_not_equal(mine, theirs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_an_id_is_32_lowercase_hex_digits),
      cmocka_unit_test(test_hex_of_any_length),
      cmocka_unit_test(test_many_ids_are_distinct_and_use_every_digit_and_bit),
      cmocka_unit_test(test_parent_and_child_draw_apart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

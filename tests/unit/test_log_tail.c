/* shared/log_tail.h: the end of the output for messages. Every length next
 * to the buffer's size (N-1, N, N+1), after and before other lines, checked
 * against a model; and the crash of a 2047-byte line after a short one. */
#include "log_tail.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define CAP (LOG_TAIL_BYTES - 1)

/* The model: the kept lines as a list; too long a line alone keeps its end. */
typedef struct model {
  char *items[64];
  size_t lens[64];
  size_t n;
} model;

static size_t joined_len(const model *m) {
  size_t total = 0;
  for (size_t i = 0; i < m->n; i++)
    total += m->lens[i] + (i ? 1 : 0);
  return total;
}

static void model_clear(model *m) {
  for (size_t i = 0; i < m->n; i++)
    free(m->items[i]);
  m->n = 0;
}

static void model_add(model *m, const char *line, size_t len) {
  if (len >= CAP) {
    model_clear(m);
    line += len - CAP;
    len = CAP;
  }
  if (m->n == 64) {
    free(m->items[0]);
    memmove(m->items, m->items + 1, 63 * sizeof(m->items[0]));
    memmove(m->lens, m->lens + 1, 63 * sizeof(m->lens[0]));
    m->n--;
  }
  m->items[m->n] = malloc(len + 1);
  assert_non_null(m->items[m->n]);
  memcpy(m->items[m->n], line, len);
  m->lens[m->n++] = len;
  while (joined_len(m) > CAP) {
    free(m->items[0]);
    memmove(m->items, m->items + 1, (m->n - 1) * sizeof(m->items[0]));
    memmove(m->lens, m->lens + 1, (m->n - 1) * sizeof(m->lens[0]));
    m->n--;
  }
}

static void assert_matches(const log_tail *t, const model *m) {
  char expect[LOG_TAIL_BYTES];
  size_t at = 0;
  for (size_t i = 0; i < m->n; i++) {
    if (i)
      expect[at++] = '\n';
    memcpy(expect + at, m->items[i], m->lens[i]);
    at += m->lens[i];
  }
  assert_true(log_tail_len(t) < LOG_TAIL_BYTES);
  assert_int_equal(log_tail_len(t), at);
  assert_memory_equal(log_tail_text(t), expect, at);
  assert_int_equal(log_tail_text(t)[at], '\0');
}

/* A line of `len` bytes whose bytes say where they are (so a wrong offset shows). */
static char *make_line(size_t len, unsigned seed) {
  char *s = malloc(len + 1);
  assert_non_null(s);
  for (size_t i = 0; i < len; i++)
    s[i] = (char)('a' + (i * 7 + seed) % 26);
  s[len] = '\0';
  return s;
}

static const size_t lengths[] = {0,       1,       2,     3,       1022,    1023,    1024,
                                 CAP - 2, CAP - 1, CAP,   CAP + 1, CAP + 2, 2 * CAP, 2046,
                                 2047,    2048,    16383, 16384,   16385,   65536,   1000000};
#define N_LENGTHS (sizeof(lengths) / sizeof(lengths[0]))

/* The report's crash: one line, then a line of 2047 bytes or more. */
static void test_short_then_buffer_sized(void **state) {
  for (size_t k = 0; k < N_LENGTHS; k++) {
    for (size_t first = 0; first < 4; first++) {
      log_tail t;
      log_tail_init(&t);
      model m = {0};
      char *a = make_line(first * 700, 1);
      char *b = make_line(lengths[k], 2);
      log_tail_add(&t, a, strlen(a));
      model_add(&m, a, strlen(a));
      log_tail_add(&t, b, lengths[k]);
      model_add(&m, b, lengths[k]);
      assert_matches(&t, &m);
      log_tail_add(&t, "after", 5); /* and a line after it */
      model_add(&m, "after", 5);
      assert_matches(&t, &m);
      free(a);
      free(b);
      model_clear(&m);
    }
  }
}

/* Every pair of lengths, in both orders, then a third. */
static void test_every_pair(void **state) {
  for (size_t i = 0; i < N_LENGTHS; i++) {
    for (size_t j = 0; j < N_LENGTHS; j++) {
      log_tail t;
      log_tail_init(&t);
      model m = {0};
      size_t seq[3] = {lengths[i], lengths[j], lengths[(i + j) % N_LENGTHS]};
      for (size_t s = 0; s < 3; s++) {
        char *line = make_line(seq[s], (unsigned)(s + i));
        log_tail_add(&t, line, seq[s]);
        model_add(&m, line, seq[s]);
        assert_matches(&t, &m);
        free(line);
      }
      model_clear(&m);
    }
  }
}

static void test_random_sequences(void **state) {
  uint32_t rng = 12345;
  for (int round = 0; round < 200; round++) {
    log_tail t;
    log_tail_init(&t);
    model m = {0};
    for (int k = 0; k < 50; k++) {
      rng = rng * 1103515245u + 12345u;
      size_t len = (rng >> 8) % 3 == 0 ? lengths[(rng >> 16) % (N_LENGTHS - 1)] : (rng >> 12) % 300;
      char *line = make_line(len, rng);
      log_tail_add(&t, line, len);
      model_add(&m, line, len);
      assert_matches(&t, &m);
      free(line);
    }
    model_clear(&m);
  }
}

static void test_any_bytes(void **state) {
  log_tail t;
  log_tail_init(&t);
  char bytes[256];
  for (int i = 0; i < 256; i++)
    bytes[i] = (char)i;
  for (int i = 0; i < 20; i++)
    log_tail_add(&t, bytes, sizeof(bytes));
  assert_true(log_tail_len(&t) <= CAP);
  assert_int_equal(log_tail_text(&t)[log_tail_len(&t)], '\0');
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_short_then_buffer_sized),
      cmocka_unit_test(test_every_pair),
      cmocka_unit_test(test_random_sequences),
      cmocka_unit_test(test_any_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* shared/pipeline/log_tail.h: the end of the output for messages. Every length next
 * to the buffer's size (N-1, N, N+1), after and before other lines, checked
 * against a model; and the crash of a 2047-byte line after a short one. */
#include "pipeline/log_tail.h"

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
      log_tail_add(&t, 0, a, strlen(a), false);
      model_add(&m, a, strlen(a));
      log_tail_add(&t, 0, b, lengths[k], false);
      model_add(&m, b, lengths[k]);
      assert_matches(&t, &m);
      log_tail_add(&t, 0, "after", 5, false); /* and a line after it */
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
        log_tail_add(&t, 0, line, seq[s], false);
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
      log_tail_add(&t, 0, line, len, false);
      model_add(&m, line, len);
      assert_matches(&t, &m);
      free(line);
    }
    model_clear(&m);
  }
}

/* A line given in pieces (as log_stream cuts long lines) counts as the one
 * line it is: the same tail as the line given whole. */
static void test_pieces_join_into_one_line(void **state) {
  uint32_t rng = 99;
  for (int round = 0; round < 300; round++) {
    log_tail t;
    log_tail_init(&t);
    model m = {0};
    for (int k = 0; k < 12; k++) {
      rng = rng * 1103515245u + 12345u;
      size_t len = (rng >> 8) % 2 ? lengths[(rng >> 16) % N_LENGTHS] : (rng >> 12) % 100;
      char *line = make_line(len, rng);
      /* cut it in pieces of 1 to 20000 bytes (some empty, as a piece ending
       * right at a cut can be) */
      size_t at = 0;
      do {
        rng = rng * 1103515245u + 12345u;
        size_t piece = (rng >> 10) % 20001;
        if (piece > len - at)
          piece = len - at;
        log_tail_add(&t, 0, line + at, piece, at + piece < len);
        at += piece;
      } while (at < len);
      model_add(&m, line, len);
      assert_matches(&t, &m);
      free(line);
    }
    model_clear(&m);
  }
}

/* The report's case: the message of a job whose last line is 1,000,000 bytes
 * (cut in pieces of 16384) quotes the line's last 2047 bytes, not the last
 * piece's 576. */
static void test_last_line_longer_than_a_piece(void **state) {
  log_tail t;
  log_tail_init(&t);
  char *line = make_line(1000000, 5);
  log_tail_add(&t, 0, "short", 5, false);
  for (size_t at = 0; at < 1000000; at += 16384) {
    size_t n = 1000000 - at < 16384 ? 1000000 - at : 16384;
    log_tail_add(&t, 0, line + at, n, at + n < 1000000);
  }
  assert_int_equal(log_tail_len(&t), CAP);
  assert_memory_equal(log_tail_text(&t), line + 1000000 - CAP, CAP);
  free(line);
}

/* stdout's lines between the pieces of a stderr line: each stream's pieces
 * join, and lines are kept in the order they end. */
static void test_streams_interleave(void **state) {
  log_tail t;
  log_tail_init(&t);
  log_tail_add(&t, 1, "err-a", 5, true);
  log_tail_add(&t, 0, "out-1", 5, false);
  log_tail_add(&t, 0, "out-", 4, true);
  log_tail_add(&t, 1, "err-b", 5, false);
  log_tail_add(&t, 0, "2", 1, false);
  assert_string_equal(log_tail_text(&t), "out-1\nerr-aerr-b\nout-2");
}

/* A line left open when the output stops is kept once flushed. */
static void test_flush_ends_an_open_line(void **state) {
  log_tail t;
  log_tail_init(&t);
  log_tail_add(&t, 0, "first", 5, false);
  log_tail_add(&t, 0, "sec", 3, true);
  assert_string_equal(log_tail_text(&t), "first");
  log_tail_flush(&t);
  assert_string_equal(log_tail_text(&t), "first\nsec");
  log_tail_flush(&t); /* twice: nothing more */
  assert_string_equal(log_tail_text(&t), "first\nsec");
}

static void test_any_bytes(void **state) {
  log_tail t;
  log_tail_init(&t);
  char bytes[256];
  for (int i = 0; i < 256; i++)
    bytes[i] = (char)i;
  for (int i = 0; i < 20; i++)
    log_tail_add(&t, 0, bytes, sizeof(bytes), false);
  assert_true(log_tail_len(&t) <= CAP);
  assert_int_equal(log_tail_text(&t)[log_tail_len(&t)], '\0');
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_short_then_buffer_sized),
      cmocka_unit_test(test_every_pair),
      cmocka_unit_test(test_random_sequences),
      cmocka_unit_test(test_pieces_join_into_one_line),
      cmocka_unit_test(test_last_line_longer_than_a_piece),
      cmocka_unit_test(test_flush_ends_an_open_line),
      cmocka_unit_test(test_streams_interleave),
      cmocka_unit_test(test_any_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

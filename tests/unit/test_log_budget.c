/* shared/pipeline/log_budget.h: head forwarded at once, tail ring, marker, counters. */
#include "pipeline/log_budget.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* What the budget forwarded, rendered as "S:text\n" ("S+:" when cut). */
typedef struct sink {
  char *text;
  size_t len;
  size_t cap;
  size_t lines;
  size_t trimmed_calls;
  uint64_t trimmed_bytes;
  uint64_t trimmed_lines;
} sink;

static void sink_add(sink *s, const char *bytes, size_t len) {
  if (s->len + len + 1 > s->cap) {
    s->cap = (s->len + len + 1) * 2;
    s->text = realloc(s->text, s->cap);
    assert_non_null(s->text);
  }
  memcpy(s->text + s->len, bytes, len);
  s->len += len;
  s->text[s->len] = '\0';
}

static void emit(void *ctx, int stream, const char *line, size_t len, bool cut) {
  sink *s = ctx;
  char tag[8];
  snprintf(tag, sizeof(tag), "%d%s:", stream, cut ? "+" : "");
  sink_add(s, tag, strlen(tag));
  sink_add(s, line, len);
  sink_add(s, "\n", 1);
  s->lines++;
}

static void on_trimmed(void *ctx, uint64_t bytes_dropped, uint64_t lines_dropped) {
  sink *s = ctx;
  s->trimmed_calls++;
  s->trimmed_bytes = bytes_dropped;
  s->trimmed_lines = lines_dropped;
}

static const char *sink_text(const sink *s) {
  return s->text ? s->text : "";
}

static void line(log_budget *lb, int stream, const char *text) {
  log_budget_line(lb, stream, text, strlen(text), false);
}

static void test_under_budget_forwards_everything_at_once(void **state) {
  sink s = {0};
  log_budget lb;
  log_budget_init(&lb, 1000, emit, NULL, &s);
  line(&lb, 1, "first");
  assert_int_equal(s.lines, 1);
  line(&lb, 2, "second");
  log_budget_line(&lb, 1, "piece", 5, true);
  assert_int_equal(s.lines, 3);
  log_budget_finish(&lb);
  assert_string_equal(sink_text(&s), "1:first\n2:second\n1+:piece\n");
  assert_int_equal(lb.bytes_total, 6 + 7 + 6);
  assert_int_equal(lb.lines_total, 3);
  assert_int_equal(lb.bytes_dropped, 0);
  assert_int_equal(lb.lines_dropped, 0);
  log_budget_free(&lb);
  free(s.text);
}

static void feed_ten(log_budget *lb) {
  for (int i = 0; i < 10; i++) {
    char text[8];
    snprintf(text, sizeof(text), "line%d", i);
    line(lb, i % 2 ? 2 : 1, text); /* 5 bytes: costs 6, stored in 6 */
  }
}

static void test_head_tail_and_marker(void **state) {
  sink s = {0};
  log_budget lb;
  log_budget_init(&lb, 40, emit, NULL, &s);
  feed_ten(&lb);
  /* head: 20 bytes = lines 0..2 (18), forwarded before finish */
  assert_string_equal(sink_text(&s), "1:line0\n2:line1\n1:line2\n");
  assert_int_equal(lb.head_used, 18);
  log_budget_finish(&lb);
  assert_string_equal(sink_text(&s), "1:line0\n2:line1\n1:line2\n"
                                     "0:[trimmed: 24 bytes in 4 lines dropped]\n"
                                     "2:line7\n1:line8\n2:line9\n");
  assert_int_equal(lb.bytes_total, 60);
  assert_int_equal(lb.bytes_dropped, 24);
  assert_int_equal(lb.lines_dropped, 4);
  assert_true(lb.ring_cap <= 20);
  log_budget_free(&lb);
  free(s.text);
}

static void test_marker_through_its_own_callback(void **state) {
  sink s = {0};
  log_budget lb;
  log_budget_init(&lb, 40, emit, on_trimmed, &s);
  feed_ten(&lb);
  log_budget_finish(&lb);
  assert_string_equal(sink_text(&s), "1:line0\n2:line1\n1:line2\n2:line7\n1:line8\n2:line9\n");
  assert_int_equal(s.trimmed_calls, 1);
  assert_int_equal(s.trimmed_bytes, 24);
  assert_int_equal(s.trimmed_lines, 4);
  char text[128];
  log_budget_marker(&lb, text, sizeof(text));
  assert_string_equal(text, "[trimmed: 24 bytes in 4 lines dropped]");
  log_budget_free(&lb);
  free(s.text);
}

static void test_no_marker_when_tail_holds_the_rest(void **state) {
  sink s = {0};
  log_budget lb;
  log_budget_init(&lb, 40, emit, on_trimmed, &s);
  for (int i = 0; i < 5; i++)
    line(&lb, 1, "line!");
  assert_int_equal(s.lines, 3);
  log_budget_finish(&lb);
  assert_int_equal(s.lines, 5);
  assert_int_equal(s.trimmed_calls, 0);
  assert_int_equal(lb.bytes_dropped, 0);
  log_budget_free(&lb);
  free(s.text);
}

static void test_line_bigger_than_tail_keeps_its_end(void **state) {
  sink s = {0};
  log_budget lb;
  log_budget_init(&lb, 40, emit, NULL, &s);
  line(&lb, 1, "head-line");
  line(&lb, 2, "too big for the head");
  char big[101];
  for (int i = 0; i < 100; i++)
    big[i] = (char)('0' + i % 10);
  big[100] = '\0';
  log_budget_line(&lb, 2, big, 100, true);
  /* 18 bytes fit with their 2-byte header in the 20-byte tail */
  assert_int_equal(lb.bytes_dropped, 21 + 82);
  assert_int_equal(lb.lines_dropped, 1);
  assert_true(lb.start_dropped);
  char text[128];
  log_budget_marker(&lb, text, sizeof(text));
  assert_string_equal(text,
                      "[trimmed: 103 bytes in 1 lines and the start of the next line dropped]");
  log_budget_finish(&lb);
  assert_string_equal(sink_text(&s), "1:head-line\n"
                                     "0:[trimmed: 103 bytes in 1 lines and the start of the next "
                                     "line dropped]\n"
                                     "2+:234567890123456789\n");
  assert_int_equal(lb.bytes_total, 10 + 21 + 101);
  log_budget_free(&lb);
  free(s.text);
}

static void test_partial_line_later_dropped_whole(void **state) {
  sink s = {0};
  log_budget lb;
  log_budget_init(&lb, 40, emit, NULL, &s);
  char big[100];
  memset(big, 'x', sizeof(big));
  log_budget_line(&lb, 1, big, sizeof(big), false); /* 101 > 20: head closed at once */
  assert_int_equal(s.lines, 0);
  line(&lb, 2, "short");
  /* the kept 18 bytes and their newline go too: 82 + 19 = the whole line */
  assert_int_equal(lb.bytes_dropped, 101);
  assert_int_equal(lb.lines_dropped, 1);
  assert_false(lb.start_dropped);
  log_budget_finish(&lb);
  assert_string_equal(sink_text(&s), "0:[trimmed: 101 bytes in 1 lines dropped]\n2:short\n");
  log_budget_free(&lb);
  free(s.text);
}

static void test_empty_lines_cost_one_byte(void **state) {
  sink s = {0};
  log_budget lb;
  log_budget_init(&lb, 10, emit, on_trimmed, &s);
  for (int i = 0; i < 1005; i++)
    log_budget_line(&lb, 1, "", 0, false);
  assert_int_equal(s.lines, 5);
  log_budget_finish(&lb);
  assert_int_equal(s.lines, 10);
  assert_int_equal(lb.lines_dropped, 995);
  assert_int_equal(lb.bytes_dropped, 995);
  assert_int_equal(lb.bytes_total, 1005);
  log_budget_free(&lb);
  free(s.text);
}

static void test_zero_means_unlimited(void **state) {
  sink s = {0};
  log_budget lb;
  log_budget_init(&lb, 0, emit, NULL, &s);
  for (int i = 0; i < 1000; i++)
    line(&lb, 1, "some text");
  assert_int_equal(s.lines, 1000);
  log_budget_finish(&lb);
  assert_int_equal(s.lines, 1000);
  assert_int_equal(lb.bytes_dropped, 0);
  assert_null(lb.ring);
  log_budget_free(&lb);
  free(s.text);
}

static void test_tiny_budgets(void **state) {
  for (size_t max = 1; max <= 4; max++) {
    sink s = {0};
    log_budget lb;
    log_budget_init(&lb, max, emit, NULL, &s);
    line(&lb, 1, "abc");
    line(&lb, 2, "");
    line(&lb, 1, "defgh");
    log_budget_finish(&lb);
    assert_true(lb.ring_cap <= max - max / 2);
    assert_int_equal(lb.bytes_total, 4 + 1 + 6);
    /* whatever was kept, the accounting adds up */
    uint64_t shown = 0;
    for (char *p = s.text; p && *p; p = strchr(p, '\n') + 1) {
      if (p[0] != '0') {
        char *colon = strchr(p, ':');
        shown += (uint64_t)(strchr(colon, '\n') - colon);
      }
    }
    assert_int_equal(lb.bytes_total, shown + lb.bytes_dropped);
    log_budget_free(&lb);
    free(s.text);
  }
}

static void test_after_finish_and_free(void **state) {
  sink s = {0};
  log_budget lb;
  log_budget_init(&lb, 40, emit, NULL, &s);
  feed_ten(&lb);
  log_budget_finish(&lb);
  size_t lines = s.lines;
  log_budget_finish(&lb); /* once only */
  line(&lb, 1, "late");
  assert_int_equal(s.lines, lines);
  assert_int_equal(lb.lines_dropped, 5);
  log_budget_free(&lb);
  log_budget_free(&lb); /* twice is fine */
  log_budget_free(NULL);
  free(s.text);

  /* free without finish: the tail is discarded, nothing leaks */
  log_budget_init(&lb, 40, emit, NULL, &s);
  memset(&s, 0, sizeof(s));
  feed_ten(&lb);
  log_budget_free(&lb);
  free(s.text);
}

/* Reference: the stored size of a line, as the ring keeps it. */
static size_t stored_size(size_t len) {
  uint64_t v = (uint64_t)len << 4 | 7;
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return len + n;
}

/* Random lengths, many wrap-arounds; the tail must be exactly the most recent
 * lines that fit, in order, with stream and cut intact. */
static void test_tail_matches_reference(void **state) {
  unsigned seed = 777;
  for (int round = 0; round < 50; round++) {
    size_t max = 400 + (size_t)(rand_r(&seed) % 2000); /* every line fits the tail */
    size_t n = 50 + (size_t)(rand_r(&seed) % 500);
    size_t *lens = malloc(n * sizeof(size_t));
    char **texts = malloc(n * sizeof(char *));
    sink s = {0};
    log_budget lb;
    log_budget_init(&lb, max, emit, NULL, &s);
    size_t head_end = n, head_used = 0;
    for (size_t i = 0; i < n; i++) {
      lens[i] = (size_t)(rand_r(&seed) % 150);
      texts[i] = malloc(lens[i] + 1);
      for (size_t k = 0; k < lens[i]; k++)
        texts[i][k] = (char)('a' + (i + k) % 26);
      texts[i][lens[i]] = '\0';
      if (head_end == n && head_used + lens[i] + 1 <= max / 2)
        head_used += lens[i] + 1;
      else if (head_end == n)
        head_end = i;
      log_budget_line(&lb, (int)(1 + i % 2), texts[i], lens[i], i % 3 == 0);
    }
    log_budget_finish(&lb);
    /* expected: head lines, then the newest suffix that fits the tail */
    size_t tail_budget = max - max / 2, used = 0, first = n;
    while (first > head_end && used + stored_size(lens[first - 1]) <= tail_budget) {
      used += stored_size(lens[first - 1]);
      first--;
    }
    sink want = {0};
    for (size_t i = 0; i < head_end; i++)
      emit(&want, (int)(1 + i % 2), texts[i], lens[i], i % 3 == 0);
    uint64_t dropped = 0;
    for (size_t i = head_end; i < first; i++)
      dropped += lens[i] + 1;
    if (dropped) {
      char marker[128];
      snprintf(marker, sizeof(marker), "[trimmed: %llu bytes in %zu lines dropped]",
               (unsigned long long)dropped, first - head_end);
      emit(&want, 0, marker, strlen(marker), false);
    }
    for (size_t i = first; i < n; i++)
      emit(&want, (int)(1 + i % 2), texts[i], lens[i], i % 3 == 0);
    if (strcmp(sink_text(&s), sink_text(&want)) != 0)
      fail_msg("round %d (max %zu):\ngot\n%s\nwant\n%s", round, max, sink_text(&s),
               sink_text(&want));
    assert_int_equal(lb.bytes_dropped, dropped);
    assert_true(lb.ring_cap <= tail_budget);
    for (size_t i = 0; i < n; i++)
      free(texts[i]);
    free(texts);
    free(lens);
    free(want.text);
    free(s.text);
    log_budget_free(&lb);
  }
}

static void quiet_emit(void *ctx, int stream, const char *text, size_t len, bool cut) {
  (*(size_t *)ctx) += len + 1;
}

static void quiet_trimmed(void *ctx, uint64_t bytes_dropped, uint64_t lines_dropped) {}

static void test_memory_bounded_by_half_the_budget(void **state) {
  size_t emitted = 0;
  log_budget lb;
  const size_t max = 64 * 1024;
  log_budget_init(&lb, max, quiet_emit, quiet_trimmed, &emitted);
  char text[1000];
  memset(text, 'm', sizeof(text));
  unsigned seed = 5;
  uint64_t offered = 0;
  for (int i = 0; i < 200000; i++) {
    size_t len = (size_t)(rand_r(&seed) % sizeof(text));
    log_budget_line(&lb, 1, text, len, false);
    offered += len + 1;
    assert_true(lb.ring_cap <= max / 2);
  }
  log_budget_finish(&lb);
  assert_int_equal(lb.bytes_total, offered);
  assert_true(emitted <= max + 64);
  /* every byte offered was forwarded or counted as dropped */
  assert_int_equal(lb.bytes_total, emitted + lb.bytes_dropped);
  log_budget_free(&lb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_under_budget_forwards_everything_at_once),
      cmocka_unit_test(test_head_tail_and_marker),
      cmocka_unit_test(test_marker_through_its_own_callback),
      cmocka_unit_test(test_no_marker_when_tail_holds_the_rest),
      cmocka_unit_test(test_line_bigger_than_tail_keeps_its_end),
      cmocka_unit_test(test_partial_line_later_dropped_whole),
      cmocka_unit_test(test_empty_lines_cost_one_byte),
      cmocka_unit_test(test_zero_means_unlimited),
      cmocka_unit_test(test_tiny_budgets),
      cmocka_unit_test(test_after_finish_and_free),
      cmocka_unit_test(test_tail_matches_reference),
      cmocka_unit_test(test_memory_bounded_by_half_the_budget),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* shared/pipeline/log_stream.h and log_budget.h together: 100 MB of output
 * through both, memory bounded. */
#include "log_stream_fixture.h"

/* ---- 100 MB through log_stream and log_budget ---------------------------- */

typedef struct budget_sink {
  size_t emitted_bytes;
  size_t emitted_lines;
  size_t markers;
  size_t marker_bytes;
  bool leaked;
} budget_sink;

static void budget_emit(void *ctx, int stream, const char *line, size_t len, bool cut) {
  budget_sink *s = ctx;
  s->emitted_bytes += len + 1;
  s->emitted_lines++;
  if (stream == LOG_BUDGET_STREAM_MARKER) {
    s->markers++;
    s->marker_bytes += len + 1;
  }
  if (memmem(line, len, "SECRETVALUE", 11))
    s->leaked = true;
}

static void budget_line(void *ctx, int stream, const char *line, size_t len, bool cut) {
  log_budget_line(ctx, stream, line, len, cut);
}

static void test_hundred_megabytes_bounded(void **state) {
  masker *m = test_masker();
  const size_t max_line = 16 * 1024, budget = 1u << 20;
  /* a 64 KiB block of whole frames: short lines, a secret, an overlong line */
  const size_t block_cap = 64 * 1024;
  char *block = malloc(block_cap + 64);
  char *payload = malloc(block_cap);
  size_t n = 0;
  for (int i = 0; n + 200 < block_cap / 2; i++) {
    char text[128];
    int tl = snprintf(text, sizeof(text), "row %d processed, key SECRETVALUE ok\n", i);
    frame(block, &n, i % 3 == 0 ? 2 : 1, text, (size_t)tl);
  }
  size_t overlong = block_cap - n - 8;
  for (size_t i = 0; i < overlong; i++)
    payload[i] = (char)('a' + i % 26);
  memcpy(payload + overlong / 2, "SECRETVALUE", 11);
  payload[overlong - 1] = '\n';
  frame(block, &n, 1, payload, overlong);
  assert_int_equal(n, block_cap);

  budget_sink sink = {0};
  log_budget lb;
  log_budget_init(&lb, budget, budget_emit, NULL, &sink);
  log_stream ls;
  log_stream_init(&ls, false, max_line, m, budget_line, &lb);
  size_t fed = 0, max_footprint = 0, max_ring = 0;
  const size_t total = 100u << 20;
  while (fed < total) {
    /* uneven pieces, so frames and secrets split everywhere over time */
    for (size_t at = 0; at < block_cap;) {
      size_t take = 1 + (fed + at) % 7919;
      if (take > block_cap - at)
        take = block_cap - at;
      feed_ok(&ls, block + at, take);
      at += take;
    }
    fed += block_cap;
    if (log_stream_footprint(&ls) > max_footprint)
      max_footprint = log_stream_footprint(&ls);
    if (lb.ring_cap > max_ring)
      max_ring = lb.ring_cap;
  }
  log_stream_finish(&ls);
  log_budget_finish(&lb);
  print_message("100 MiB: stream buffers %zu bytes at most, budget ring %zu bytes, "
                "%llu bytes in %llu lines dropped\n",
                max_footprint, max_ring, (unsigned long long)lb.bytes_dropped,
                (unsigned long long)lb.lines_dropped);
  /* two line buffers of max_line + NUL, plus the maskers' small windows */
  assert_true(max_footprint <= 2 * (max_line + 1) + 2 * 4096);
  assert_true(max_ring <= budget - budget / 2);
  assert_false(sink.leaked);
  assert_int_equal(sink.markers, 1);
  assert_true(sink.emitted_bytes <= budget + 64);
  /* every byte offered was either forwarded or counted as dropped */
  assert_int_equal(lb.bytes_total, sink.emitted_bytes - sink.marker_bytes + lb.bytes_dropped);
  log_stream_free(&ls);
  log_budget_free(&lb);
  free(block);
  free(payload);
  masker_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hundred_megabytes_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

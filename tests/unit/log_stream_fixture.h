/* What the log stream's unit tests share (test_log_stream.c,
 * test_log_budget_stream.c): collecting lines, building Engine frames. */
#pragma once

#include "pipeline/log_budget.h"
#include "pipeline/log_stream.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Lines received, rendered as "S:text\n" (S the stream; "S+:" for a cut piece)
 * so a whole exchange compares as one string. */
typedef struct collected {
  char *text;
  size_t len;
  size_t cap;
  size_t pieces;
  size_t max_piece;
} collected;

static const char sample_expected[] = "2:oops\n"
                                      "1:hello world\n"
                                      "1:second\n"
                                      "1:from stdin\n"
                                      "2:tail no newline\n";

static inline void collected_add(collected *c, const char *bytes, size_t len) {
  if (c->len + len + 1 > c->cap) {
    c->cap = (c->len + len + 1) * 2;
    c->text = realloc(c->text, c->cap);
    assert_non_null(c->text);
  }
  memcpy(c->text + c->len, bytes, len);
  c->len += len;
  c->text[c->len] = '\0';
}

static inline void on_line(void *ctx, int stream, const char *line, size_t len, bool cut) {
  collected *c = ctx;
  assert_true(stream == 1 || stream == 2);
  assert_int_equal(line[len], '\0');
  char tag[8];
  snprintf(tag, sizeof(tag), "%d%s:", stream, cut ? "+" : "");
  collected_add(c, tag, strlen(tag));
  collected_add(c, line, len);
  collected_add(c, "\n", 1);
  c->pieces++;
  if (len > c->max_piece)
    c->max_piece = len;
}

static inline void collected_free(collected *c) {
  free(c->text);
  memset(c, 0, sizeof(*c));
}

/* Appends one frame to buf at *at. */
static inline void frame(char *buf, size_t *at, int stream, const char *payload, size_t len) {
  unsigned char h[8] = {(unsigned char)stream,
                        0,
                        0,
                        0,
                        (unsigned char)(len >> 24),
                        (unsigned char)(len >> 16),
                        (unsigned char)(len >> 8),
                        (unsigned char)len};
  memcpy(buf + *at, h, 8);
  memcpy(buf + *at + 8, payload, len);
  *at += 8 + len;
}

static inline void frame_str(char *buf, size_t *at, int stream, const char *payload) {
  frame(buf, at, stream, payload, strlen(payload));
}

static inline void feed_ok(log_stream *ls, const char *data, size_t len) {
  bw_error_t err = NULL;
  if (log_stream_feed(ls, data, len, &err) < 0)
    fail_msg("feed: %s", bw_error_msg(&err));
}

/* Runs a whole input through a fresh stream, fed in the given pieces. */
static inline void run_pieces(bool tty, size_t max_line, const masker *m, const char *data,
                              const size_t *cuts, size_t n_cuts, size_t len, collected *c) {
  log_stream ls;
  log_stream_init(&ls, tty, max_line, m, on_line, c);
  size_t from = 0;
  for (size_t i = 0; i < n_cuts; i++) {
    feed_ok(&ls, data + from, cuts[i] - from);
    from = cuts[i];
  }
  feed_ok(&ls, data + from, len - from);
  log_stream_finish(&ls);
  log_stream_free(&ls);
}

static inline size_t sample_frames(char *buf) {
  size_t n = 0;
  frame_str(buf, &n, 1, "hello wor");
  frame_str(buf, &n, 2, "oops\n");
  frame_str(buf, &n, 1, "");
  frame_str(buf, &n, 1, "ld\r\nsecond\n");
  frame_str(buf, &n, 0, "from stdin\n");
  frame_str(buf, &n, 2, "tail no newline");
  return n;
}

static inline masker *test_masker(void) {
  masker *m = masker_new();
  masker_add_secret(m, "SECRETVALUE");
  masker_add_secret(m, "pa\"ss");
  return m;
}

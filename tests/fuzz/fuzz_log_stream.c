/* libFuzzer target for shared/pipeline/log_stream.c (Docker log frames, line assembly,
 * masking, cutting), with shared/pipeline/log_budget.c behind it as the worker uses it.
 *
 * Input: byte 0 picks TTY mode and max_line_bytes, byte 1 seeds the chunk
 * sizes, the rest is the stream as the Engine would send it.
 *
 * Checks: no piece is longer than max_line_bytes, pieces are NUL-terminated
 * and on stream 1 or 2; a line's pieces joined never hold the secret (it
 * shares no byte with "[hidden]", so it cannot be spelled across the token);
 * a bad header fails cleanly and stays failed; the stream's buffers stay
 * within their bound; the budget accounts for every byte (forwarded + dropped
 * = offered) and its ring stays within half the budget. */
#include "pipeline/log_budget.h"
#include "pipeline/log_stream.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "SECRETVALUE"

typedef struct check {
  size_t max_line;
  char *joined[3]; /* the current line of each stream, pieces joined */
  size_t joined_len[3];
  size_t joined_cap[3];
  log_budget *lb;
  uint64_t forwarded;
} check;

static void budget_emit(void *ctx, int stream, const char *line, size_t len, bool cut) {
  check *c = ctx;
  if (stream != LOG_BUDGET_STREAM_MARKER)
    c->forwarded += len + 1;
}

static void on_line(void *ctx, int stream, const char *line, size_t len, bool cut) {
  check *c = ctx;
  if ((stream != 1 && stream != 2) || len > c->max_line || line[len] != '\0')
    abort();
  if (c->joined_len[stream] + len > c->joined_cap[stream]) {
    c->joined_cap[stream] = (c->joined_len[stream] + len) * 2 + 16;
    c->joined[stream] = realloc(c->joined[stream], c->joined_cap[stream]);
    if (!c->joined[stream])
      abort();
  }
  if (len > 0) {
    memcpy(c->joined[stream] + c->joined_len[stream], line, len);
    c->joined_len[stream] += len;
  }
  if (!cut) {
    if (c->joined_len[stream] >= strlen(SECRET) &&
        memmem(c->joined[stream], c->joined_len[stream], SECRET, strlen(SECRET)))
      abort();
    c->joined_len[stream] = 0;
  }
  log_budget_line(c->lb, stream, line, len, cut);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  bool tty = data[0] & 1;
  size_t max_line = (size_t)(data[0] >> 1) * 3; /* 0..381; under 16 is raised */
  uint32_t rng = data[1] + 1u;
  data += 2;
  size -= 2;

  masker *m = masker_new();
  masker_add_secret(m, SECRET);
  masker_add_secret(m, "pa\"ss");

  log_budget lb;
  check c = {.lb = &lb};
  log_budget_init(&lb, 512, budget_emit, NULL, &c);
  log_stream ls;
  log_stream_init(&ls, tty, max_line, m, on_line, &c);
  c.max_line = ls.max_line_bytes;

  bool failed = false;
  for (size_t at = 0; at < size;) {
    rng = rng * 1103515245u + 12345u;
    size_t take = 1 + (rng >> 16) % 97;
    if (take > size - at)
      take = size - at;
    bw_error_t err = NULL;
    int rc = log_stream_feed(&ls, (const char *)data + at, take, &err);
    if (rc < 0) {
      if (!err || strncmp(err->msg, "log stream: bad frame header at byte ", 37) != 0)
        abort();
      failed = true;
    } else if (failed || err) {
      abort(); /* an error is sticky, and success sets no error */
    }
    bw_error_release(&err);
    if (log_stream_footprint(&ls) > 2 * (ls.max_line_bytes + 1) + 4096)
      abort();
    at += take;
  }
  log_stream_finish(&ls);
  log_budget_finish(&lb);
  if (lb.bytes_total != c.forwarded + lb.bytes_dropped)
    abort();
  if (lb.ring_cap > lb.tail_budget)
    abort();

  log_stream_free(&ls);
  log_budget_free(&lb);
  for (size_t i = 0; i < 3; i++)
    free(c.joined[i]);
  masker_free(m);
  return 0;
}

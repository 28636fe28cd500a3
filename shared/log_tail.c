#include "log_tail.h"

#include <string.h>

#define TAIL_CAP (LOG_TAIL_BYTES - 1) /* text bytes; one more for the NUL */

void log_tail_init(log_tail *t) {
  t->len = 0;
  t->buf[0] = '\0';
  t->has_lines = false;
}

/* Drops the oldest lines until `room` more bytes fit. Only whole lines go:
 * the kept text starts right after a '\n' of the old text, or is empty. */
static void make_room(log_tail *t, size_t room) {
  if (t->len + room <= TAIL_CAP)
    return;
  size_t excess = t->len + room - TAIL_CAP; /* at least this much must go */
  size_t drop = t->len;
  const char *nl = NULL;
  if (excess <= t->len) {
    /* The first line that starts at or after `excess` is kept with the rest. */
    nl = memchr(t->buf + excess - 1, '\n', t->len - (excess - 1));
    if (nl)
      drop = (size_t)(nl - t->buf) + 1;
  }
  memmove(t->buf, t->buf + drop, t->len - drop);
  t->len -= drop;
  t->has_lines = nl != NULL; /* the line after that '\n' is kept, even when empty */
}

void log_tail_add(log_tail *t, const char *line, size_t len) {
  if (len >= TAIL_CAP) {
    /* A line as long as the whole tail: only its end is kept. */
    memcpy(t->buf, line + (len - TAIL_CAP), TAIL_CAP);
    t->len = TAIL_CAP;
    t->buf[t->len] = '\0';
    t->has_lines = true;
    return;
  }
  make_room(t, len + (t->has_lines ? 1 : 0));
  /* Dropping everything leaves no separator to write. */
  if (t->has_lines)
    t->buf[t->len++] = '\n';
  memcpy(t->buf + t->len, line, len);
  t->len += len;
  t->buf[t->len] = '\0';
  t->has_lines = true;
}

const char *log_tail_text(const log_tail *t) {
  return t->buf;
}

size_t log_tail_len(const log_tail *t) {
  return t->len;
}

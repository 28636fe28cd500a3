#include "pipeline/log_tail.h"

#include <string.h>

#define TAIL_CAP (LOG_TAIL_BYTES - 1) /* text bytes; one more for the NUL */

void log_tail_init(log_tail *t) {
  t->len = 0;
  t->buf[0] = '\0';
  t->has_lines = false;
  for (int i = 0; i < LOG_TAIL_STREAMS; i++) {
    t->open[i].len = 0;
    t->open[i].open = false;
  }
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

/* A whole line into the kept lines. */
static void add_whole(log_tail *t, const char *line, size_t len) {
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

/* A piece onto the open line, of which only the last TAIL_CAP bytes can
 * ever be shown. */
static void add_piece(struct log_tail_open *o, const char *piece, size_t len) {
  if (len >= TAIL_CAP) {
    memcpy(o->bytes, piece + (len - TAIL_CAP), TAIL_CAP);
    o->len = TAIL_CAP;
    return;
  }
  if (o->len + len > TAIL_CAP) {
    size_t drop = o->len + len - TAIL_CAP; /* <= o->len, since len < TAIL_CAP */
    memmove(o->bytes, o->bytes + drop, o->len - drop);
    o->len -= drop;
  }
  memcpy(o->bytes + o->len, piece, len);
  o->len += len;
}

static void close_line(log_tail *t, struct log_tail_open *o) {
  add_whole(t, o->bytes, o->len);
  o->len = 0;
  o->open = false;
}

void log_tail_flush(log_tail *t) {
  for (int i = 0; i < LOG_TAIL_STREAMS; i++)
    if (t->open[i].open)
      close_line(t, &t->open[i]);
}

void log_tail_add(log_tail *t, int stream, const char *line, size_t len, bool more) {
  struct log_tail_open *o = &t->open[stream == 1 ? 1 : 0];
  if (!o->open && !more) {
    add_whole(t, line, len); /* the usual case: a line in one piece */
    return;
  }
  add_piece(o, line, len);
  o->open = true;
  if (!more)
    close_line(t, o);
}

const char *log_tail_text(const log_tail *t) {
  return t->buf;
}

size_t log_tail_len(const log_tail *t) {
  return t->len;
}

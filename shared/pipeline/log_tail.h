/* The end of a job's output, kept for the message of a failed job ("the
 * container exited with 1 (user error): <the last lines>").
 *
 * Whole recent lines, newest last, joined by '\n', within a fixed buffer of
 * LOG_TAIL_BYTES (NUL included): when a line comes that does not fit, the
 * oldest lines go, whole; a line that alone does not fit keeps only its end.
 * A line may arrive in pieces (log_stream cuts long lines), and the pieces of
 * a stdout line may come between those of a stderr line: the pieces of one
 * line of one stream join without a separator, and the line counts as one,
 * in the order lines end. Nothing is
 * allocated, and no input (any length, any bytes, any cut) can make it write
 * or read outside its buffers: text() is always NUL-terminated and at most
 * LOG_TAIL_BYTES - 1 long. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define LOG_TAIL_BYTES 2048
#define LOG_TAIL_STREAMS 2 /* 0 stdout, 1 stderr */

typedef struct log_tail {
  char buf[LOG_TAIL_BYTES]; /* the kept whole lines */
  size_t len;               /* < LOG_TAIL_BYTES; buf[len] == '\0' */
  bool has_lines;           /* at least one line is kept (it may be empty) */
  /* Per stream, the line still arriving in pieces: its last
   * LOG_TAIL_BYTES - 1 bytes. */
  struct log_tail_open {
    char bytes[LOG_TAIL_BYTES];
    size_t len;
    bool open; /* a piece with more to come was added */
  } open[LOG_TAIL_STREAMS];
} log_tail;

void log_tail_init(log_tail *t);
/* A line of stream 0 or 1 (any other value counts as 0), or a piece of one:
 * `more` says that the rest of the same line follows in a later call for the
 * same stream. line need not be NUL-terminated and may contain any byte. */
void log_tail_add(log_tail *t, int stream, const char *line, size_t len, bool more);
/* Ends the lines left open (the output stopped in the middle of them). */
void log_tail_flush(log_tail *t);
/* The kept lines (a line still open is not among them until flushed); NUL
 * bytes of the output are in it as they came, so use log_tail_len() when they
 * matter. */
const char *log_tail_text(const log_tail *t);
size_t log_tail_len(const log_tail *t);

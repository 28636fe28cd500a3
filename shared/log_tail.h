/* The end of a job's output, kept for the message of a failed job ("the
 * container exited with 1 (user error): <the last lines>").
 *
 * Whole recent lines, newest last, joined by '\n', within a fixed buffer of
 * LOG_TAIL_BYTES (NUL included): when a line comes that does not fit, the
 * oldest lines go, whole; a line that alone does not fit keeps only its end.
 * Nothing is allocated, and no input (any length, any bytes) can make it
 * write or read outside the buffer: text() is always NUL-terminated and at
 * most LOG_TAIL_BYTES - 1 long. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define LOG_TAIL_BYTES 2048

typedef struct log_tail {
  char buf[LOG_TAIL_BYTES];
  size_t len;     /* < LOG_TAIL_BYTES; buf[len] == '\0' */
  bool has_lines; /* at least one line is kept (it may be empty) */
} log_tail;

void log_tail_init(log_tail *t);
/* line need not be NUL-terminated and may contain any byte. */
void log_tail_add(log_tail *t, const char *line, size_t len);
/* The kept text; NUL bytes of the output are in it as they came, so use
 * log_tail_len() when they matter. */
const char *log_tail_text(const log_tail *t);
size_t log_tail_len(const log_tail *t);

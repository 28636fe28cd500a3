/* A per-job cap on log bytes that keeps the first and the last part, as the
 * common interface trims job output: the start says what the job did, the end
 * says why it failed.
 *
 * A line costs its length plus one (the newline it had, or gets when written
 * out), so a flood of empty lines is capped too; the budget and every counter
 * use that measure. The first half of max_bytes (the head) is forwarded at once,
 * line by line. From the first line that does not fit on, lines go to a ring
 * that keeps the most recent ones within the other half (the tail); older ones
 * are dropped. log_budget_finish() then reports the drop, if any, and forwards
 * the tail in order.
 *
 * The marker goes to its own callback, on_trimmed(ctx, bytes_dropped,
 * lines_dropped), when one is given: the receiver gets numbers to put in a
 * structured event rather than text to parse (log_budget_marker() writes the
 * text if it wants that too). With on_trimmed NULL, the marker text is
 * forwarded through emit as stream LOG_BUDGET_STREAM_MARKER (0). Either way it
 * comes after the head and before the tail, and only when something was dropped.
 *
 * Memory: the ring never exceeds the tail half of max_bytes; it stores each
 * line with a 1 to 3 byte length prefix (more only for lines over 128 KiB),
 * which counts against that half, so the tail keeps slightly less text than
 * the half when lines are long. Nothing else grows with the input. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_BUDGET_STREAM_MARKER 0

/* line is not NUL-terminated and is valid only during the call. */
typedef void (*log_budget_emit_fn)(void *ctx, int stream, const char *line, size_t len, bool cut);
typedef void (*log_budget_trimmed_fn)(void *ctx, uint64_t bytes_dropped, uint64_t lines_dropped);

typedef struct log_budget {
  size_t max_bytes; /* 0: unlimited, everything is forwarded at once */
  size_t head_budget;
  size_t tail_budget;
  log_budget_emit_fn emit;
  log_budget_trimmed_fn on_trimmed; /* may be NULL: the marker goes through emit */
  void *ctx;

  size_t head_used;
  bool head_closed; /* a line did not fit in the head: the rest goes to the tail */
  bool finished;

  /* tail ring: records of [varint: len<<4 | partial<<3 | cut<<2 | stream][len bytes] */
  unsigned char *ring;
  size_t ring_cap; /* grows as needed up to tail_budget, never beyond */
  size_t ring_start;
  size_t ring_used;
  size_t tail_lines;

  uint64_t bytes_total; /* everything offered, emitted or not */
  uint64_t lines_total;
  uint64_t bytes_dropped; /* from the middle, including the cut-off start of a line */
  uint64_t lines_dropped; /* lines dropped whole */
  bool start_dropped;     /* the oldest tail line lost its start (it was bigger than the tail) */
} log_budget;

/* on_trimmed may be NULL. Allocation failures abort. */
void log_budget_init(log_budget *lb, size_t max_bytes, log_budget_emit_fn emit,
                     log_budget_trimmed_fn on_trimmed, void *ctx);
/* stream is passed through (1 stdout, 2 stderr); cut as log_stream gives it. */
void log_budget_line(log_budget *lb, int stream, const char *line, size_t len, bool cut);
/* Forwards the marker (only when something was dropped), then the tail.
 * Call once; lines offered afterwards are counted as dropped. */
void log_budget_finish(log_budget *lb);
/* Accepts NULL; safe without finish (the tail is then discarded). */
void log_budget_free(log_budget *lb);

/* Writes the marker text, e.g. "[trimmed: 104857600 bytes in 1638400 lines dropped]";
 * returns its length (as snprintf). */
int log_budget_marker(const log_budget *lb, char *buf, size_t size);

/* Docker Engine log stream -> masked lines.
 *
 * Without a TTY, the attach/logs stream is a sequence of frames:
 *   [stream: 0 stdin, 1 stdout, 2 stderr][0][0][0][uint32 big-endian size][payload]
 * With a TTY it is the raw bytes of stdout. Bytes arrive in chunks of any size;
 * a header or payload may be split anywhere between calls.
 *
 * Lines are assembled per stream (stdout and stderr separately), without the
 * '\n' and a '\r' just before it, masked, and handed to on_line. A line longer
 * than max_line_bytes (after masking) arrives in pieces of at most that size,
 * cut=true on all but the last; "[hidden]" is never cut in two.
 *
 * Memory stays about 2 * max_line_bytes (one line buffer per stream) plus twice
 * masker_longest() whatever the input: frames are never buffered whole. */
#pragma once

#include "core/error.h"
#include "job/masker.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_STREAM_STDOUT 1
#define LOG_STREAM_STDERR 2
/* Smaller limits are raised to this, so a "[hidden]" always fits in a piece. */
#define LOG_STREAM_MIN_LINE 16

/* stream is LOG_STREAM_STDOUT or LOG_STREAM_STDERR. line is NUL-terminated for
 * convenience (it may contain NUL bytes itself) and valid only during the call. */
typedef void (*log_line_fn)(void *ctx, int stream, const char *line, size_t len, bool cut);

typedef struct log_stream_line {
  struct log_stream *owner; /* the masker's sink finds the stream through it */
  char *buf;                /* masked bytes of the line in progress */
  size_t len;
  size_t cap;        /* grows up to max_line_bytes + 1, never beyond */
  bool in_line;      /* bytes of an unfinished line were seen */
  bool pending_cr;   /* a '\r' that is dropped if '\n' follows */
  masker_stream *ms; /* NULL when there is no masker */
} log_stream_line;

typedef struct log_stream {
  bool tty;
  size_t max_line_bytes;
  const masker *mask; /* borrowed; may be NULL */
  log_line_fn on_line;
  void *ctx;

  /* frame parser */
  unsigned char header[8];
  size_t header_len;
  int frame_stream;    /* LOG_STREAM_STDOUT or LOG_STREAM_STDERR */
  uint32_t frame_left; /* payload bytes still to come in this frame */
  uint64_t offset;     /* bytes consumed so far, for error messages */
  bool broken;         /* a bad header was seen: every later feed fails */

  log_stream_line out[2]; /* [0] stdout, [1] stderr */

  /* totals; stdin frames (never sent by Docker in practice) count as stdout,
   * as Docker's own stdcopy treats them */
  uint64_t bytes[3];   /* payload bytes by stream: [1] stdout, [2] stderr */
  uint64_t lines[3];   /* complete lines by stream (a cut line counts once) */
  uint64_t cut_pieces; /* pieces emitted with cut=true */
  uint64_t frames;
  bool truncated; /* finish() found a header or payload unfinished */
} log_stream;

/* mask is borrowed, must outlive the stream and must have all its secrets by
 * now; the log_stream must not be moved after init (its lines point back to
 * it). max_line_bytes below LOG_STREAM_MIN_LINE is raised to it. Allocation
 * failures abort. */
void log_stream_init(log_stream *ls, bool tty, size_t max_line_bytes, const masker *mask,
                     log_line_fn on_line, void *ctx);
/* Returns 0, or -1 with *err = "log stream: bad frame header at byte N" (N the
 * offset of the header's first byte in the whole stream) when the stream byte
 * is not 0, 1 or 2 or the padding is not zero. Lines completed before the bad
 * header have been delivered; every later call fails the same way. */
int log_stream_feed(log_stream *ls, const char *data, size_t len, bw_error_t *err);
/* End of input: delivers unterminated lines (stdout first). Sets truncated when
 * a frame was left unfinished. Call once. */
void log_stream_finish(log_stream *ls);
/* Frees the buffers and wipes held-back bytes; accepts NULL. */
void log_stream_free(log_stream *ls);

/* Bytes the stream holds in buffers now, for tests that check the bound. */
size_t log_stream_footprint(const log_stream *ls);

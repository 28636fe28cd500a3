#include "pipeline/log_stream.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Masking and cutting: each line's bytes go through a masker_stream before
 * they reach the line buffer, and the buffer is cut on masked output. The
 * masker holds back the last masker_longest()-1 raw bytes, which could still
 * be the start of a secret, so a secret split across feed() calls or across a
 * cut is seen whole before anything of it is written. Because the cut happens
 * after masking, it never falls inside a secret, only next to a "[hidden]",
 * which moves whole to the next piece. The price: a piece that would end in
 * the middle of "[hidden]" is a few bytes shorter than max_line_bytes. */

#define LINE_BUF_START 256

static log_stream_line *line_of(log_stream *ls, int stream) {
  return &ls->out[stream == LOG_STREAM_STDERR ? 1 : 0];
}

static int stream_of(const log_stream *ls, const log_stream_line *o) {
  return o == &ls->out[1] ? LOG_STREAM_STDERR : LOG_STREAM_STDOUT;
}

/* Grows the buffer to hold `need` bytes plus a NUL, never beyond the line cap. */
static void line_reserve(log_stream *ls, log_stream_line *o, size_t need) {
  if (need + 1 <= o->cap)
    return;
  size_t cap = o->cap ? o->cap : LINE_BUF_START;
  while (cap < need + 1)
    cap *= 2;
  if (cap > ls->max_line_bytes + 1)
    cap = ls->max_line_bytes + 1;
  char *grown = bw_xrealloc(o->buf, cap);
  o->buf = grown;
  o->cap = cap;
}

static void line_emit(log_stream *ls, log_stream_line *o, bool cut) {
  line_reserve(ls, o, o->len);
  o->buf[o->len] = '\0';
  ls->on_line(ls->ctx, stream_of(ls, o), o->buf, o->len, cut);
  o->len = 0;
  if (cut)
    ls->cut_pieces++;
}

/* Masked bytes into the line buffer. A full buffer is emitted as a cut piece
 * only when more bytes come, so a line of exactly max_line_bytes is one piece. */
static void line_append(log_stream *ls, log_stream_line *o, const char *bytes, size_t len,
                        bool hidden) {
  size_t max = ls->max_line_bytes;
  if (hidden && o->len + len > max)
    line_emit(ls, o, true); /* max >= LOG_STREAM_MIN_LINE, so the token fits whole */
  while (len > 0) {
    if (o->len == max)
      line_emit(ls, o, true);
    size_t take = max - o->len < len ? max - o->len : len;
    line_reserve(ls, o, o->len + take);
    memcpy(o->buf + o->len, bytes, take);
    o->len += take;
    bytes += take;
    len -= take;
  }
}

static void masked_sink(void *ctx, const char *bytes, size_t len, bool hidden) {
  log_stream_line *o = ctx;
  line_append(o->owner, o, bytes, len, hidden);
}

static void line_push(log_stream *ls, log_stream_line *o, const char *bytes, size_t len) {
  o->in_line = true;
  if (len == 0)
    return;
  if (o->ms)
    masker_stream_feed(o->ms, bytes, len);
  else
    line_append(ls, o, bytes, len, false);
}

static void line_end(log_stream *ls, log_stream_line *o) {
  if (o->ms)
    masker_stream_flush(o->ms);
  line_emit(ls, o, false);
  ls->lines[stream_of(ls, o)]++;
  o->in_line = false;
  o->pending_cr = false;
}

/* Splits payload bytes of one stream into lines. A '\r' at the end of a
 * segment is held, since the '\n' that makes it part of "\r\n" may come in the
 * next call. */
static void payload(log_stream *ls, int stream, const char *p, size_t n) {
  log_stream_line *o = line_of(ls, stream);
  ls->bytes[stream] += n;
  while (n > 0) {
    const char *nl = memchr(p, '\n', n);
    size_t seg = nl ? (size_t)(nl - p) : n;
    if (seg > 0) {
      if (o->pending_cr) {
        o->pending_cr = false;
        line_push(ls, o, "\r", 1);
      }
      if (p[seg - 1] == '\r') {
        line_push(ls, o, p, seg - 1);
        o->pending_cr = true;
      } else {
        line_push(ls, o, p, seg);
      }
    }
    if (nl) {
      line_end(ls, o);
      seg++;
    }
    p += seg;
    n -= seg;
  }
}

void log_stream_init(log_stream *ls, bool tty, size_t max_line_bytes, const masker *mask,
                     log_line_fn on_line, void *ctx) {
  memset(ls, 0, sizeof(*ls));
  ls->tty = tty;
  if (max_line_bytes < LOG_STREAM_MIN_LINE)
    max_line_bytes = LOG_STREAM_MIN_LINE;
  if (max_line_bytes > SIZE_MAX / 4)
    max_line_bytes = SIZE_MAX / 4; /* "no limit" given as SIZE_MAX: keep +1 from wrapping */
  ls->max_line_bytes = max_line_bytes;
  ls->mask = mask;
  ls->on_line = on_line;
  ls->ctx = ctx;
  ls->frame_stream = LOG_STREAM_STDOUT;
  for (size_t i = 0; i < 2; i++) {
    ls->out[i].owner = ls;
    if (mask)
      ls->out[i].ms = masker_stream_new(mask, masked_sink, &ls->out[i]);
  }
}

static uint64_t bad_header_offset(const log_stream *ls) {
  return ls->offset - sizeof(ls->header);
}

/* Docker writes stream 0 (stdin) only in theory; its stdcopy copies it to
 * stdout, and so do we. Stream 3 (systemerr) is not part of the attach API. */
static bool header_valid(const unsigned char *h) {
  return h[0] <= 2 && h[1] == 0 && h[2] == 0 && h[3] == 0;
}

int log_stream_feed(log_stream *ls, const char *data, size_t len, bw_error_t *err) {
  if (ls->broken)
    return bw_error_set(err, BW_ERR_INVALID, "log stream: bad frame header at byte %" PRIu64,
                        bad_header_offset(ls));
  if (ls->tty) {
    ls->offset += len;
    payload(ls, LOG_STREAM_STDOUT, data, len);
    return 0;
  }
  while (len > 0) {
    if (ls->frame_left == 0) {
      size_t take = sizeof(ls->header) - ls->header_len;
      if (take > len)
        take = len;
      memcpy(ls->header + ls->header_len, data, take);
      ls->header_len += take;
      ls->offset += take;
      data += take;
      len -= take;
      if (ls->header_len < sizeof(ls->header))
        break;
      if (!header_valid(ls->header)) {
        /* offset stays at the header's end, so later calls report the same byte */
        ls->broken = true;
        return bw_error_set(err, BW_ERR_INVALID, "log stream: bad frame header at byte %" PRIu64,
                            bad_header_offset(ls));
      }
      ls->header_len = 0;
      ls->frame_stream = ls->header[0] == 2 ? LOG_STREAM_STDERR : LOG_STREAM_STDOUT;
      ls->frame_left = (uint32_t)ls->header[4] << 24 | (uint32_t)ls->header[5] << 16 |
                       (uint32_t)ls->header[6] << 8 | (uint32_t)ls->header[7];
      ls->frames++;
      continue;
    }
    size_t take = ls->frame_left < len ? ls->frame_left : len;
    payload(ls, ls->frame_stream, data, take);
    ls->frame_left -= (uint32_t)take;
    ls->offset += take;
    data += take;
    len -= take;
  }
  return 0;
}

void log_stream_finish(log_stream *ls) {
  if (!ls->tty && !ls->broken && (ls->header_len > 0 || ls->frame_left > 0))
    ls->truncated = true;
  for (size_t i = 0; i < 2; i++) {
    log_stream_line *o = &ls->out[i];
    if (o->pending_cr) {
      o->pending_cr = false;
      line_push(ls, o, "\r", 1); /* a lone '\r' at the very end is text */
    }
    if (o->in_line)
      line_end(ls, o);
  }
}

void log_stream_free(log_stream *ls) {
  if (!ls)
    return;
  for (size_t i = 0; i < 2; i++) {
    masker_stream_free(ls->out[i].ms);
    ls->out[i].ms = NULL;
    free(ls->out[i].buf);
    ls->out[i].buf = NULL;
    ls->out[i].cap = ls->out[i].len = 0;
  }
}

size_t log_stream_footprint(const log_stream *ls) {
  size_t n = 0;
  for (size_t i = 0; i < 2; i++)
    n += ls->out[i].cap + masker_stream_footprint(ls->out[i].ms);
  return n;
}

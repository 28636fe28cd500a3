/* Part of fuzz_log_path.c, included by it once and by nothing else: the stream a script spells
 * (bytes, frames, read sizes) and the plan of what it should give. One translation unit, so the
 * fuzzer instruments and inlines it as one; split in parts only to be read. */
#pragma once

#include "log_path_forms.h"

/* ---- the stream: script -> bytes, and a reference parser ----------------- */

typedef struct plan {
  buf bytes;          /* what is fed */
  buf payload[3];     /* per stream, [1] stdout (stdin too), [2] stderr */
  int64_t bad_header; /* offset of the first bad header, or -1 */
  bool truncated;     /* the bytes end inside a frame */
  uint64_t frames;    /* complete, valid headers */
} plan;

static const size_t run_lengths[16] = {2,    15,   16,   17,   255,   256,   2046,  2047,
                                       2048, 4095, 4096, 8192, 16383, 16384, 16385, 20000};

typedef struct script {
  bool tty;
  bool raw;
  bool truncate;
  size_t max_line; /* as log_stream raised it */
} script;

static void frame_flush(buf *out, int stream, const buf *frame, bool truncate) {
  uint32_t n = (uint32_t)frame->len + (truncate ? 1 : 0);
  unsigned char h[8] = {(unsigned char)stream, 0,       0, 0, n >> 24, n >> 16 & 0xFF,
                        n >> 8 & 0xFF,         n & 0xFF};
  buf_add(out, h, 8);
  buf_add(out, frame->p, frame->len);
}

static void plan_build(plan *pl, const script *sc, const secrets *s, const uint8_t *p, size_t n) {
  buf frame = {0};
  buf_add(&frame, "", 0);
  int stream = 1;
  bool open = false;
  for (size_t i = 0; i < n && frame.len + pl->bytes.len < MAX_STREAM; i++) {
    if (p[i] != 0xFF || i + 1 == n) {
      buf_byte(&frame, (char)p[i]);
      open = true;
      continue;
    }
    uint8_t k = p[++i];
    if (k == 0xFF) {
      buf_byte(&frame, (char)0xFF);
    } else if (k < 0x40) {
      size_t which = (k >> 3 & 3) % (s->n ? s->n : 1), f = k & 7;
      if (which < s->n) {
        if (f == 7)
          buf_add(&frame, s->value[which], s->len[which] / 2);
        else if (s->stream_form[which][f].p)
          buf_add(&frame, s->stream_form[which][f].p, s->stream_form[which][f].len);
      }
    } else if (k < 0x50) {
      if (!sc->tty && !sc->raw && open)
        frame_flush(&pl->bytes, stream, &frame, false);
      if (!sc->tty && !sc->raw)
        frame.len = 0;
      stream = (k & 3) == 3 ? 2 : k & 3;
      open = true;
    } else if (k < 0x63 && i + 1 < n) {
      size_t len = k < 0x60 ? run_lengths[k & 15] : sc->max_line - 1 + (k - 0x60);
      char run[1024];
      memset(run, p[++i], sizeof(run));
      for (size_t r = 0; r < len; r += sizeof(run))
        buf_add(&frame, run, len - r < sizeof(run) ? len - r : sizeof(run));
    } else {
      buf_byte(&frame, (char)0xFF);
      buf_byte(&frame, (char)k);
    }
    open = true;
  }
  if (sc->tty || sc->raw) {
    buf_add(&pl->bytes, frame.p, frame.len);
  } else if (open) {
    frame_flush(&pl->bytes, stream, &frame, sc->truncate);
  } else if (sc->truncate) {
    buf_add(&pl->bytes, "\1\0\0", 3); /* the stream ends inside a header */
  }
  free(frame.p);

  /* What log_stream must make of these bytes. */
  pl->bad_header = -1;
  for (size_t i = 1; i < 3; i++)
    buf_add(&pl->payload[i], "", 0);
  const unsigned char *b = (const unsigned char *)pl->bytes.p;
  size_t len = pl->bytes.len;
  if (sc->tty) {
    buf_add(&pl->payload[1], b, len);
    return;
  }
  for (size_t at = 0; at < len;) {
    if (len - at < 8) {
      pl->truncated = true;
      break;
    }
    if (b[at] > 2 || b[at + 1] || b[at + 2] || b[at + 3]) {
      pl->bad_header = (int64_t)at;
      break;
    }
    int st = b[at] == 2 ? 2 : 1;
    uint32_t flen = (uint32_t)b[at + 4] << 24 | (uint32_t)b[at + 5] << 16 |
                    (uint32_t)b[at + 6] << 8 | b[at + 7];
    pl->frames++;
    at += 8;
    size_t take = flen < len - at ? flen : len - at;
    buf_add(&pl->payload[st], b + at, take);
    at += take;
    if (take < flen) {
      pl->truncated = true;
      break;
    }
  }
}

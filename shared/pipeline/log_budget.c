#include "pipeline/log_budget.h"
#include "core/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VARINT_MAX 10
#define FLAG_CUT 4u
#define FLAG_PARTIAL 8u

void log_budget_init(log_budget *lb, size_t max_bytes, log_budget_emit_fn emit,
                     log_budget_trimmed_fn on_trimmed, void *ctx) {
  memset(lb, 0, sizeof(*lb));
  lb->on_trimmed = on_trimmed;
  lb->max_bytes = max_bytes;
  lb->head_budget = max_bytes / 2;
  lb->tail_budget = max_bytes - lb->head_budget;
  lb->emit = emit;
  lb->ctx = ctx;
}

void log_budget_free(log_budget *lb) {
  if (!lb)
    return;
  free(lb->ring);
  lb->ring = NULL;
  lb->ring_cap = lb->ring_used = lb->ring_start = lb->tail_lines = 0;
}

static size_t varint_encode(uint64_t v, unsigned char *out) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (unsigned char)v;
  return n;
}

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static unsigned char ring_byte(const log_budget *lb, size_t i) {
  return lb->ring[(lb->ring_start + i) % lb->ring_cap];
}

/* Reads the record header at offset `at` from the ring start. */
static size_t record_header(const log_budget *lb, size_t at, uint64_t *value) {
  uint64_t v = 0;
  size_t n = 0;
  unsigned char b;
  do {
    b = ring_byte(lb, at + n);
    v |= (uint64_t)(b & 0x7f) << (7 * n);
    n++;
  } while (b & 0x80);
  *value = v;
  return n;
}

static void drop_oldest(log_budget *lb) {
  uint64_t v;
  size_t hdr = record_header(lb, 0, &v);
  size_t len = (size_t)(v >> 4);
  lb->ring_start = (lb->ring_start + hdr + len) % lb->ring_cap;
  lb->ring_used -= hdr + len;
  lb->tail_lines--;
  lb->bytes_dropped += len + 1; /* a partial line's cut-off start was counted then */
  lb->lines_dropped++;
  lb->start_dropped = false; /* only the oldest record can be partial */
  if (lb->ring_used == 0)
    lb->ring_start = 0;
}

/* Moves the data to start at 0, in place (three reversals), so the ring can
 * grow with one realloc and finish() can hand out lines contiguously. */
static void reverse(unsigned char *p, size_t n) {
  for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
    unsigned char t = p[i];
    p[i] = p[j - 1];
    p[j - 1] = t;
  }
}

static void ring_linearize(log_budget *lb) {
  if (lb->ring_start == 0)
    return;
  reverse(lb->ring, lb->ring_start);
  reverse(lb->ring + lb->ring_start, lb->ring_cap - lb->ring_start);
  reverse(lb->ring, lb->ring_cap);
  lb->ring_start = 0;
}

static void ring_reserve(log_budget *lb, size_t need) {
  if (need <= lb->ring_cap)
    return;
  ring_linearize(lb);
  size_t cap = lb->ring_cap ? lb->ring_cap : 4096;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  if (cap > lb->tail_budget)
    cap = lb->tail_budget;
  unsigned char *grown = bw_xrealloc(lb->ring, cap);
  lb->ring = grown;
  lb->ring_cap = cap;
}

static void ring_write(log_budget *lb, const void *src, size_t len) {
  const unsigned char *p = src;
  size_t at = (lb->ring_start + lb->ring_used) % lb->ring_cap;
  size_t first = lb->ring_cap - at < len ? lb->ring_cap - at : len;
  memcpy(lb->ring + at, p, first);
  memcpy(lb->ring, p + first, len - first);
  lb->ring_used += len;
}

/* The longest end part of a line that fits in the tail with its header. */
static size_t tail_fit(const log_budget *lb, uint64_t flags) {
  size_t keep = lb->tail_budget;
  while (keep > 0 && keep + varint_len((uint64_t)keep << 4 | flags) > lb->tail_budget)
    keep--;
  return keep;
}

static void tail_push(log_budget *lb, int stream, const char *line, size_t len, bool cut) {
  uint64_t flags = (uint64_t)(stream & 3) | (cut ? FLAG_CUT : 0);
  bool partial = false;
  if (len + varint_len((uint64_t)len << 4 | flags) > lb->tail_budget) {
    size_t keep = tail_fit(lb, flags | FLAG_PARTIAL);
    if (keep + varint_len((uint64_t)keep << 4 | flags | FLAG_PARTIAL) > lb->tail_budget) {
      lb->bytes_dropped += len + 1; /* no room even for a header: tail_budget is 0 */
      lb->lines_dropped++;
      return;
    }
    lb->bytes_dropped += len - keep;
    line += len - keep;
    len = keep;
    flags |= FLAG_PARTIAL;
    partial = true;
  }
  unsigned char hdr[VARINT_MAX];
  size_t hlen = varint_encode((uint64_t)len << 4 | flags, hdr);
  /* A partial line stands for a line bigger than the whole tail: everything
   * older goes, even a record small enough to squeeze in beside it. */
  while (lb->tail_lines > 0 && (partial || lb->ring_used + hlen + len > lb->tail_budget))
    drop_oldest(lb);
  ring_reserve(lb, lb->ring_used + hlen + len);
  ring_write(lb, hdr, hlen);
  ring_write(lb, line, len);
  lb->tail_lines++;
  if (partial)
    lb->start_dropped = true;
}

void log_budget_line(log_budget *lb, int stream, const char *line, size_t len, bool cut) {
  lb->bytes_total += len + 1;
  lb->lines_total++;
  if (lb->finished) {
    lb->bytes_dropped += len + 1;
    lb->lines_dropped++;
    return;
  }
  if (lb->max_bytes == 0) {
    lb->emit(lb->ctx, stream, line, len, cut);
    return;
  }
  /* The head ends at the first line that does not fit, even if later lines
   * would: what is shown must be one unbroken start. */
  if (!lb->head_closed && lb->head_used + len + 1 <= lb->head_budget) {
    lb->head_used += len + 1;
    lb->emit(lb->ctx, stream, line, len, cut);
    return;
  }
  lb->head_closed = true;
  tail_push(lb, stream, line, len, cut);
}

int log_budget_marker(const log_budget *lb, char *buf, size_t size) {
  if (lb->start_dropped)
    return snprintf(buf, size,
                    "[trimmed: %" PRIu64 " bytes in %" PRIu64
                    " lines and the start of the next line dropped]",
                    lb->bytes_dropped, lb->lines_dropped);
  return snprintf(buf, size, "[trimmed: %" PRIu64 " bytes in %" PRIu64 " lines dropped]",
                  lb->bytes_dropped, lb->lines_dropped);
}

void log_budget_finish(log_budget *lb) {
  if (lb->finished)
    return;
  lb->finished = true;
  if (lb->bytes_dropped > 0 && lb->on_trimmed) {
    lb->on_trimmed(lb->ctx, lb->bytes_dropped, lb->lines_dropped);
  } else if (lb->bytes_dropped > 0) {
    char marker[128];
    int n = log_budget_marker(lb, marker, sizeof(marker));
    lb->emit(lb->ctx, LOG_BUDGET_STREAM_MARKER, marker, (size_t)n, false);
  }
  if (lb->ring_used == 0)
    return;
  ring_linearize(lb);
  size_t at = 0;
  for (size_t i = 0; i < lb->tail_lines; i++) {
    uint64_t v;
    size_t hdr = record_header(lb, at, &v);
    size_t len = (size_t)(v >> 4);
    lb->emit(lb->ctx, (int)(v & 3), (const char *)lb->ring + at + hdr, len, (v & FLAG_CUT) != 0);
    at += hdr + len;
  }
}

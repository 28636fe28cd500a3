/* The masker: streams and whole texts (masker_internal.h). */
#include "job/masker_internal.h"

#include <stdlib.h>
#include <string.h>

/* Bytes at positions [start, end) of the current text are hidden. */
typedef struct mask_region {
  uint64_t start;
  uint64_t end;
} mask_region;

struct masker_stream {
  const masker *m;
  masker_sink_fn sink;
  void *ctx;
  uint32_t state;
  uint64_t pos; /* bytes fed since the last flush */
  /* Held-back bytes, positions [pos - held, pos): a match ending later could
   * still start in them. At most longest-1 of them between calls. */
  unsigned char *ring;
  size_t ring_cap;
  size_t ring_head;
  size_t held;
  /* Regions not yet passed, in order, disjoint; new ones merge with the last. */
  mask_region *regions;
  size_t reg_cap;
  size_t reg_head;
  size_t reg_n;
  /* Plain output is batched so the sink is not called once per byte. */
  char out[512];
  size_t out_len;
};

masker_stream *masker_stream_new(const masker *m, masker_sink_fn sink, void *ctx) {
  masker_stream *s = bw_xcalloc(1, sizeof(*s));
  s->m = m;
  s->sink = sink;
  s->ctx = ctx;
  if (m)
    masker_link_ready(m);
  return s;
}

void masker_stream_free(masker_stream *s) {
  if (!s)
    return;
  if (s->ring) {
    explicit_bzero(s->ring, s->ring_cap);
    free(s->ring);
  }
  free(s->regions);
  explicit_bzero(s, sizeof(*s));
  free(s);
}

size_t masker_stream_footprint(const masker_stream *s) {
  return s ? sizeof(*s) + s->ring_cap + s->reg_cap * sizeof(mask_region) : 0;
}

/* The ring is sized to the masker's longest form (rounded up); grows (in order) when the
 * masker gained longer forms since, which the header asks callers not to do. */
static void ring_fit(masker_stream *s, size_t longest) {
  if (s->ring_cap >= longest)
    return;
  size_t need = 16; /* a power of two: positions wrap with a mask */
  while (need < longest)
    need *= 2;
  unsigned char *ring = bw_xmalloc(need);
  for (size_t i = 0; i < s->held; i++)
    ring[i] = s->ring[(s->ring_head + i) & (s->ring_cap - 1)];
  if (s->ring) {
    explicit_bzero(s->ring, s->ring_cap);
    free(s->ring);
  }
  s->ring = ring;
  s->ring_cap = need;
  s->ring_head = 0;
}

static void out_flush(masker_stream *s) {
  if (s->out_len) {
    s->sink(s->ctx, s->out, s->out_len, false);
    s->out_len = 0;
  }
}

static void out_plain(masker_stream *s, const char *bytes, size_t len) {
  if (len >= sizeof(s->out) - s->out_len) {
    out_flush(s);
    s->sink(s->ctx, bytes, len, false);
    return;
  }
  memcpy(s->out + s->out_len, bytes, len);
  s->out_len += len;
}

static mask_region *region_at(masker_stream *s, size_t i) {
  return &s->regions[(s->reg_head + i) & (s->reg_cap - 1)];
}

/* Matches arrive in order of their end, so a new one can only overlap the
 * regions at the back; merging there keeps the list short (bounded by the
 * window) and each region is merged at most once. */
static void region_add(masker_stream *s, uint64_t start, uint64_t end) {
  while (s->reg_n > 0) {
    mask_region *back = region_at(s, s->reg_n - 1);
    if (back->end <= start)
      break;
    if (back->start < start)
      start = back->start;
    s->reg_n--;
  }
  if (s->reg_n == s->reg_cap) {
    size_t cap = s->reg_cap ? s->reg_cap * 2 : 16;
    mask_region *r = bw_xmalloc(cap * sizeof(*r));
    for (size_t i = 0; i < s->reg_n; i++)
      r[i] = *region_at(s, i);
    free(s->regions);
    s->regions = r;
    s->reg_cap = cap;
    s->reg_head = 0;
  }
  *region_at(s, s->reg_n++) = (mask_region){start, end};
}

/* The oldest held byte can no longer start a match: show it, hide it, or
 * start a "[hidden]" there. */
static void release_oldest(masker_stream *s) {
  uint64_t p = s->pos - s->held;
  unsigned char c = s->ring[s->ring_head];
  s->ring_head = (s->ring_head + 1) & (s->ring_cap - 1);
  s->held--;
  while (s->reg_n > 0 && region_at(s, 0)->end <= p) {
    s->reg_head = (s->reg_head + 1) & (s->reg_cap - 1);
    s->reg_n--;
  }
  if (s->reg_n > 0 && region_at(s, 0)->start <= p) {
    if (region_at(s, 0)->start == p) {
      out_flush(s);
      s->sink(s->ctx, MASKER_HIDDEN, MASKER_HIDDEN_LEN, true);
    }
    return;
  }
  s->out[s->out_len++] = (char)c;
  if (s->out_len == sizeof(s->out))
    out_flush(s);
}

void masker_stream_feed(masker_stream *s, const char *text, size_t len) {
  const masker *m = s->m;
  if (!m || m->longest == 0) {
    if (len)
      s->sink(s->ctx, text, len, false);
    return;
  }
  masker_link_ready(m);
  ring_fit(s, m->longest);
  const unsigned char *p = (const unsigned char *)text;
  for (size_t i = 0; i < len;) {
    if (s->state == 0 && s->held == 0) {
      /* Fast path: bytes that start no form are final at once. */
      size_t j = i;
      while (j < len && m->root_next[p[j]] == 0)
        j++;
      if (j > i) {
        out_plain(s, text + i, j - i);
        s->pos += j - i;
        i = j;
        continue;
      }
    }
    s->state = ac_step(m, s->state, p[i]);
    s->ring[(s->ring_head + s->held) & (s->ring_cap - 1)] = p[i];
    s->held++;
    s->pos++;
    i++;
    uint32_t match = ac_match(m, s->state);
    if (match)
      region_add(s, s->pos - match, s->pos);
    if (s->state == 0) {
      /* No suffix of the text starts a form: no later match can reach back
       * into the held bytes, and every region found so far is complete. */
      while (s->held > 0)
        release_oldest(s);
      s->reg_n = 0;
      s->reg_head = 0;
    } else if (s->held >= m->longest) {
      /* Keep longest-1 bytes: any later match starts after the released one. */
      release_oldest(s);
    }
  }
  out_flush(s);
}

void masker_stream_flush(masker_stream *s) {
  while (s->held > 0)
    release_oldest(s);
  out_flush(s);
  s->state = 0;
  s->pos = 0;
  s->reg_n = 0;
  s->reg_head = 0;
  s->ring_head = 0;
}

typedef struct apply_out {
  char *buf;
  size_t len;
  size_t cap;
} apply_out;

static void apply_sink(void *ctx, const char *bytes, size_t len, bool hidden) {
  apply_out *o = ctx;
  if (o->len + len + 1 > o->cap) {
    size_t cap = o->cap * 2;
    while (cap < o->len + len + 1)
      cap *= 2;
    char *grown = bw_xrealloc(o->buf, cap);
    o->buf = grown;
    o->cap = cap;
  }
  memcpy(o->buf + o->len, bytes, len);
  o->len += len;
}

char *masker_apply(const masker *m, const char *text, size_t len, size_t *out_len) {
  apply_out o = {.cap = len + MASKER_HIDDEN_LEN + 1};
  o.buf = bw_xmalloc(o.cap);
  masker_stream s = {.m = m, .sink = apply_sink, .ctx = &o};
  masker_stream_feed(&s, text, len);
  masker_stream_flush(&s);
  if (s.ring) {
    explicit_bzero(s.ring, s.ring_cap);
    free(s.ring);
  }
  free(s.regions);
  o.buf[o.len] = '\0';
  if (out_len)
    *out_len = o.len;
  return o.buf;
}

#include "masker.h"

#include "cleanup.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An Aho-Corasick automaton over bytes. Children are kept as sibling lists
 * (secrets are random strings, so the trie is mostly chains), except at the
 * root, where a dense table serves the hot path: most text bytes start no
 * secret and fall straight back to the root. */
typedef struct ac_node {
  uint32_t child;   /* first child; 0 when none (the root is never a child) */
  uint32_t sibling; /* next child of the same parent; 0 when none */
  uint32_t fail;    /* longest proper suffix that is also a trie path */
  uint32_t depth;
  uint32_t out; /* longest form ending here, this node or along fail links */
  unsigned char byte;
  bool terminal;
} ac_node;

struct masker {
  ac_node *nodes; /* nodes[0] is the root */
  size_t n_nodes;
  size_t cap_nodes;
  uint32_t root_next[256];
  size_t longest;
  size_t forms;
};

static void *xmalloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p)
    abort();
  return p;
}

/* A realloc that wipes the old block: realloc may move the data and leave a
 * copy of the secrets in freed memory. */
static void *grow_wiped(void *old, size_t old_size, size_t new_size) {
  void *p = xmalloc(new_size);
  if (old) {
    memcpy(p, old, old_size);
    explicit_bzero(old, old_size);
    free(old);
  }
  return p;
}

masker *masker_new(void) {
  masker *m = calloc(1, sizeof(*m));
  if (!m)
    abort();
  m->cap_nodes = 64;
  m->nodes = calloc(m->cap_nodes, sizeof(ac_node));
  if (!m->nodes)
    abort();
  m->n_nodes = 1;
  return m;
}

void masker_free(masker *m) {
  if (!m)
    return;
  explicit_bzero(m->nodes, m->cap_nodes * sizeof(ac_node));
  free(m->nodes);
  explicit_bzero(m, sizeof(*m));
  free(m);
}

size_t masker_longest(const masker *m) {
  return m ? m->longest : 0;
}

size_t masker_forms(const masker *m) {
  return m ? m->forms : 0;
}

static uint32_t find_child(const masker *m, uint32_t node, unsigned char c) {
  for (uint32_t x = m->nodes[node].child; x; x = m->nodes[x].sibling) {
    if (m->nodes[x].byte == c)
      return x;
  }
  return 0;
}

/* The automaton's transition: follow fail links until a trie edge fits. */
static uint32_t ac_step(const masker *m, uint32_t state, unsigned char c) {
  for (;;) {
    if (state == 0)
      return m->root_next[c];
    uint32_t x = find_child(m, state, c);
    if (x)
      return x;
    state = m->nodes[state].fail;
  }
}

static uint32_t new_node(masker *m) {
  if (m->n_nodes == m->cap_nodes) {
    if (m->cap_nodes >= UINT32_MAX / 2)
      abort();
    size_t cap = m->cap_nodes * 2;
    m->nodes = grow_wiped(m->nodes, m->cap_nodes * sizeof(ac_node), cap * sizeof(ac_node));
    memset(m->nodes + m->cap_nodes, 0, (cap - m->cap_nodes) * sizeof(ac_node));
    m->cap_nodes = cap;
  }
  return (uint32_t)m->n_nodes++;
}

/* Adds one form to the trie; the fail links are rebuilt by ac_link() once per
 * public call. Returns 1 when the form is new. */
static int trie_insert(masker *m, const unsigned char *bytes, size_t len) {
  uint32_t cur = 0;
  for (size_t i = 0; i < len; i++) {
    uint32_t nx = cur == 0 ? m->root_next[bytes[i]] : find_child(m, cur, bytes[i]);
    if (!nx) {
      nx = new_node(m);
      m->nodes[nx].byte = bytes[i];
      m->nodes[nx].depth = m->nodes[cur].depth + 1;
      m->nodes[nx].sibling = m->nodes[cur].child;
      m->nodes[cur].child = nx;
      if (cur == 0)
        m->root_next[bytes[i]] = nx;
    }
    cur = nx;
  }
  if (m->nodes[cur].terminal)
    return 0;
  m->nodes[cur].terminal = true;
  m->forms++;
  if (len > m->longest)
    m->longest = len;
  return 1;
}

/* Breadth-first, so every fail target (shallower) is linked before it is used. */
static void ac_link(masker *m) {
  cleanup_free uint32_t *queue = xmalloc(m->n_nodes * sizeof(uint32_t));
  size_t head = 0, tail = 0;
  for (uint32_t v = m->nodes[0].child; v; v = m->nodes[v].sibling) {
    m->nodes[v].fail = 0;
    m->nodes[v].out = m->nodes[v].terminal ? m->nodes[v].depth : 0;
    queue[tail++] = v;
  }
  while (head < tail) {
    uint32_t u = queue[head++];
    for (uint32_t v = m->nodes[u].child; v; v = m->nodes[v].sibling) {
      uint32_t f = ac_step(m, m->nodes[u].fail, m->nodes[v].byte);
      m->nodes[v].fail = f;
      uint32_t own = m->nodes[v].terminal ? m->nodes[v].depth : 0;
      m->nodes[v].out = own > m->nodes[f].out ? own : m->nodes[f].out;
      queue[tail++] = v;
    }
  }
}

static int add_form(masker *m, const char *bytes, size_t len) {
  if (len < MASKER_MIN_SECRET)
    return 0;
  return trie_insert(m, (const unsigned char *)bytes, len);
}

static void add_base64_forms(masker *m, const char *value, size_t len) {
  if (len > INT_MAX / 2)
    return; /* EVP_EncodeBlock takes an int; no real secret is this big */
  size_t cap = 4 * ((len + 2) / 3) + 1;
  char *b64 = xmalloc(cap);
  size_t n = (size_t)EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)value, (int)len);
  size_t unpadded = n;
  while (unpadded > 0 && b64[unpadded - 1] == '=')
    unpadded--;
  add_form(m, b64, n);
  add_form(m, b64, unpadded);
  for (size_t i = 0; i < n; i++) {
    if (b64[i] == '+')
      b64[i] = '-';
    else if (b64[i] == '/')
      b64[i] = '_';
  }
  add_form(m, b64, n);
  add_form(m, b64, unpadded);
  explicit_bzero(b64, cap);
  free(b64);
}

/* jansson writes \u escapes with upper-case hex; PHP's json_encode and
 * Python's json.dumps write lower case, and components use both. */
static bool lowercase_unicode_escapes(char *s, size_t len) {
  bool changed = false;
  for (size_t i = 0; i + 1 < len; i++) {
    if (s[i] != '\\')
      continue;
    if (s[i + 1] == 'u') {
      for (size_t k = i + 2; k < i + 6 && k < len; k++) {
        if (s[k] >= 'A' && s[k] <= 'F') {
          s[k] = (char)(s[k] - 'A' + 'a');
          changed = true;
        }
      }
    }
    i++; /* skip the escaped character, so "\\u" is not taken for an escape */
  }
  return changed;
}

static void add_json_forms(masker *m, const char *value, size_t len) {
  /* jansson refuses invalid UTF-8; such a value has no JSON form to mask. */
  json_t *js = json_stringn(value, len);
  if (!js)
    return;
  static const size_t flag_sets[] = {0, JSON_ENSURE_ASCII, JSON_ESCAPE_SLASH,
                                     JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH};
  for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
    char *dumped = json_dumps(js, JSON_ENCODE_ANY | flag_sets[f]);
    if (!dumped)
      abort();
    size_t n = strlen(dumped);
    if (n >= 2) { /* without the quotes */
      add_form(m, dumped + 1, n - 2);
      if (lowercase_unicode_escapes(dumped + 1, n - 2))
        add_form(m, dumped + 1, n - 2);
    }
    explicit_bzero(dumped, n);
    free(dumped);
  }
  json_decref(js);
}

static int add_secret_forms(masker *m, const char *value, size_t len) {
  if (len < MASKER_MIN_SECRET)
    return 0;
  add_form(m, value, len);
  add_base64_forms(m, value, len);
  add_json_forms(m, value, len);
  return 1;
}

int masker_add_secret_len(masker *m, const char *value, size_t len) {
  int rc = add_secret_forms(m, value, len);
  if (rc)
    ac_link(m);
  return rc;
}

int masker_add_secret(masker *m, const char *value) {
  return masker_add_secret_len(m, value, strlen(value));
}

int masker_add_exact(masker *m, const char *bytes, size_t len) {
  if (len < MASKER_MIN_SECRET)
    return 0;
  add_form(m, bytes, len);
  ac_link(m);
  return 1;
}

/* A number's text as a component would print it: the shortest form that reads
 * back to the same double, and jansson's own (17 digits), which is what the
 * component finds in config.json when the worker wrote it with jansson. */
static int add_real_forms(masker *m, const json_t *v) {
  double d = json_real_value(v);
  char text[64];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(text, sizeof(text), "%.*g", prec, d);
    if (strtod(text, NULL) == d)
      break;
  }
  int rc = add_secret_forms(m, text, strlen(text));
  char *dumped = json_dumps(v, JSON_ENCODE_ANY);
  if (dumped) {
    rc |= add_secret_forms(m, dumped, strlen(dumped));
    free(dumped);
  }
  return rc;
}

static size_t walk_config(masker *m, const json_t *v, bool secret) {
  size_t n = 0;
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    /* jansson's iteration API takes non-const pointers but does not write. */
    json_t *obj = (json_t *)v;
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
      const char *key = json_object_iter_key(it);
      n += walk_config(m, json_object_iter_value(it), secret || key[0] == '#');
    }
    break;
  }
  case JSON_ARRAY:
    for (size_t i = 0; i < json_array_size(v); i++)
      n += walk_config(m, json_array_get(v, i), secret);
    break;
  case JSON_STRING:
    if (secret)
      n += (size_t)add_secret_forms(m, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER:
    if (secret) {
      char text[32];
      snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
      n += (size_t)add_secret_forms(m, text, strlen(text));
    }
    break;
  case JSON_REAL:
    if (secret)
      n += (size_t)add_real_forms(m, v);
    break;
  default: /* true, false, null: not secrets, and too common to mask */
    break;
  }
  return n;
}

size_t masker_add_config(masker *m, const json_t *config) {
  if (!config)
    return 0;
  size_t n = walk_config(m, config, false);
  if (n)
    ac_link(m);
  return n;
}

/* ---- streaming ---------------------------------------------------------- */

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
  masker_stream *s = calloc(1, sizeof(*s));
  if (!s)
    abort();
  s->m = m;
  s->sink = sink;
  s->ctx = ctx;
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

/* The ring is sized to the masker's longest form; grows (in order) when the
 * masker gained longer forms since, which the header asks callers not to do. */
static void ring_fit(masker_stream *s, size_t need) {
  if (s->ring_cap >= need)
    return;
  unsigned char *ring = xmalloc(need);
  for (size_t i = 0; i < s->held; i++)
    ring[i] = s->ring[(s->ring_head + i) % s->ring_cap];
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
  return &s->regions[(s->reg_head + i) % s->reg_cap];
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
    mask_region *r = xmalloc(cap * sizeof(*r));
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
  s->ring_head = (s->ring_head + 1) % s->ring_cap;
  s->held--;
  while (s->reg_n > 0 && region_at(s, 0)->end <= p) {
    s->reg_head = (s->reg_head + 1) % s->reg_cap;
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
    s->ring[(s->ring_head + s->held) % s->ring_cap] = p[i];
    s->held++;
    s->pos++;
    i++;
    uint32_t match = m->nodes[s->state].out;
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

/* ---- whole text --------------------------------------------------------- */

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
    char *grown = realloc(o->buf, cap);
    if (!grown)
      abort();
    o->buf = grown;
    o->cap = cap;
  }
  memcpy(o->buf + o->len, bytes, len);
  o->len += len;
}

char *masker_apply(const masker *m, const char *text, size_t len, size_t *out_len) {
  apply_out o = {.cap = len + MASKER_HIDDEN_LEN + 1};
  o.buf = xmalloc(o.cap);
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

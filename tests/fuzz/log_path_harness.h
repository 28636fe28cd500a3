/* Part of fuzz_log_path.c, included by it once and by nothing else: the harness: what the output
 * path hands to its callbacks, and each event checked as it comes. One translation unit, so the
 * fuzzer instruments and inlines it as one; split in parts only to be read. */
#pragma once

#include "log_path_script.h"

/* ---- the harness --------------------------------------------------------- */

typedef struct piece {
  int stream;
  size_t at; /* in the harness's piece bytes */
  size_t len;
  bool cut;
} piece;

typedef struct pieces {
  buf bytes;
  piece *items;
  size_t n;
  size_t cap;
} pieces;

static void pieces_add(pieces *ps, int stream, const char *p, size_t len, bool cut) {
  ps->items = grow(ps->items, &ps->cap, ps->n + 1, sizeof(piece));
  ps->items[ps->n++] = (piece){stream, ps->bytes.len, len, cut};
  buf_add(&ps->bytes, p, len);
}

typedef struct tail_model {
  char text[4 * LOG_TAIL_BYTES];
  size_t base; /* the kept text is text[base, base + len) */
  size_t len;
  size_t starts[4 * LOG_TAIL_BYTES]; /* line starts, in text */
  size_t first;
  size_t n;
} tail_model;

static void tail_model_add(tail_model *t, const char *line, size_t len) {
  if (len >= TAIL_CAP) {
    memcpy(t->text, line + (len - TAIL_CAP), TAIL_CAP);
    t->base = t->first = t->starts[0] = 0;
    t->len = TAIL_CAP;
    t->n = 1;
    return;
  }
  if (t->base + t->len + len + 1 > sizeof(t->text) ||
      t->first + t->n + 1 > sizeof(t->starts) / sizeof(t->starts[0])) {
    memmove(t->text, t->text + t->base, t->len);
    for (size_t i = 0; i < t->n; i++)
      t->starts[i] = t->starts[t->first + i] - t->base;
    t->base = t->first = 0;
  }
  if (t->n > 0)
    t->text[t->base + t->len++] = '\n';
  t->starts[t->first + t->n++] = t->base + t->len;
  memcpy(t->text + t->base + t->len, line, len);
  t->len += len;
  while (t->len > TAIL_CAP) { /* the oldest line goes, with its '\n' */
    size_t next = t->starts[t->first + 1];
    t->len -= next - t->base;
    t->base = next;
    t->first++;
    t->n--;
  }
}

typedef struct harness {
  job_output o;
  job_events events;
  event_sink sink;
  const masker *mask;
  secrets *sec;
  const plan *pl;
  size_t max_line;
  bool shape_intact; /* no secret touches the events' own keys and values */
  char *common[32];  /* the keys of event_new(), in order */
  size_t n_common;
  bool hidden_intact; /* no secret matches inside "[hidden]" */
  buf scratch;

  /* the taps: job_output's own callbacks, called through */
  log_line_fn line_fn;
  void *line_ctx;
  log_budget_emit_fn emit_fn;
  log_budget_trimmed_fn trimmed_fn;
  void *budget_ctx;

  pieces offered;     /* every piece, as log_stream made it */
  pieces forwarded;   /* what the budget passed on */
  int64_t trimmed_at; /* forwarded.n when job.log.trimmed came, or -1 */
  size_t trimmed_events;
  size_t sink_calls;

  /* per stream: the line being joined, which reference line it is */
  buf line[3];
  size_t line_start[3]; /* offset of the next reference line in the payload */
  bool short_cut[3];    /* the last piece was cut short of max_line */
  uint64_t lines_done[3];
  buf joined_events[3]; /* events' line values of the current line */
  tail_model tail;

  const piece *expect; /* the forwarded piece whose event comes next */
  size_t base_footprint[2];
} harness;

static void check_line_end(harness *h, int st) {
  /* The reference line: up to the next '\n' of the payload, or its end. */
  const buf *pay = &h->pl->payload[st];
  size_t from = h->line_start[st];
  check(from <= pay->len);
  const char *nl = from < pay->len ? memchr(pay->p + from, '\n', pay->len - from) : NULL;
  size_t end = nl ? (size_t)(nl - pay->p) : pay->len;
  size_t len = end - from;
  if (nl && len > 0 && pay->p[end - 1] == '\r')
    len--;
  check(nl || from < pay->len); /* an unterminated line has bytes */
  size_t want_len;
  char *want = masker_apply(h->mask, pay->p + from, len, &want_len);
  check(same(h->line[st].p, h->line[st].len, want, want_len));
  free(want);
  check_text(h->sec, h->line[st].p, h->line[st].len, false, true);
  h->line_start[st] = nl ? end + 1 : pay->len;
  h->line[st].len = 0;
  h->lines_done[st]++;
}

static void tap_line(void *ctx, int stream, const char *line, size_t len, bool cut) {
  harness *h = ctx;
  check(stream == LOG_STREAM_STDOUT || stream == LOG_STREAM_STDERR);
  check(line[len] == '\0');
  check(len <= h->max_line);
  if (h->short_cut[stream]) /* cut short only to keep a "[hidden]" whole */
    check(len >= MASKER_HIDDEN_LEN && memcmp(line, MASKER_HIDDEN, MASKER_HIDDEN_LEN) == 0);
  h->short_cut[stream] = cut && len < h->max_line;
  if (h->short_cut[stream])
    check(len + MASKER_HIDDEN_LEN > h->max_line);
  if (!cut && h->line[stream].len > 0)
    check(len > 0); /* a full piece is cut only when more bytes come */
  pieces_add(&h->offered, stream, line, len, cut);
  buf_add(&h->line[stream], line, len);
  if (!cut) { /* the tail takes a line when it ends, its pieces joined */
    tail_model_add(&h->tail, h->line[stream].p, h->line[stream].len);
    check_line_end(h, stream);
  }
  h->line_fn(h->line_ctx, stream, line, len, cut);
}

static void tap_emit(void *ctx, int stream, const char *line, size_t len, bool cut) {
  harness *h = ctx;
  check(stream == LOG_STREAM_STDOUT || stream == LOG_STREAM_STDERR);
  pieces_add(&h->forwarded, stream, line, len, cut);
  h->expect = &h->forwarded.items[h->forwarded.n - 1];
  size_t before = h->sink_calls;
  h->emit_fn(h->budget_ctx, stream, line, len, cut);
  check(h->sink_calls == before + 1);
  h->expect = NULL;
}

static void tap_trimmed(void *ctx, uint64_t bytes_dropped, uint64_t lines_dropped) {
  harness *h = ctx;
  check(h->trimmed_at < 0 && bytes_dropped > 0);
  check(bytes_dropped == h->o.budget.bytes_dropped && lines_dropped == h->o.budget.lines_dropped);
  h->trimmed_at = (int64_t)h->forwarded.n;
  h->trimmed_events++;
  for (int st = 1; st < 3; st++)
    h->joined_events[st].len = 0; /* the middle is gone: lines do not join across it */
  size_t before = h->sink_calls;
  h->trimmed_fn(h->budget_ctx, bytes_dropped, lines_dropped);
  check(h->sink_calls == before + 1);
}

typedef struct harness_common {
  char **keys;
  size_t n;
} harness_common;

/* Every key and string value, decoded, has no form outside a "[hidden]".
 * When the shape is intact the keys and fixed values hold no form (that is
 * what intact means): only line and ts are left to check. */
static bool fixed_value(const char *key) {
  static const char *const keys[] = {"type", "job_id", "worker", "host", "stream"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
    if (strcmp(key, keys[i]) == 0)
      return true;
  return false;
}

/* events.c never masks the common fields (the worker's own words and ids):
 * a secret may well occur in them ("job" in job.log) without a leak. */
static bool is_common(const harness_common *c, const char *key) {
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->keys[i], key) == 0)
      return true;
  return false;
}

static void check_values(secrets *s, const harness_common *c, json_t *ev, bool intact) {
  const char *key;
  json_t *v;
  json_object_foreach(ev, key, v) {
    if (is_common(c, key))
      continue;
    if (!intact)
      check_text(s, key, strlen(key), true, true);
    if (json_is_string(v) && !(intact && fixed_value(key)))
      check_text(s, json_string_value(v), json_string_length(v), true, true);
  }
}

/* The common fields, in order: the keys of an event_new() object. */
static bool common_fields(const harness *h, json_t *ev, size_t specific) {
  size_t i = 0;
  const char *key;
  json_t *v;
  json_object_foreach(ev, key, v) {
    if (i < h->n_common && strcmp(key, h->common[i]) != 0)
      return false;
    i++;
  }
  return i == h->n_common + specific;
}

static bool str_is(json_t *v, const char *want) {
  return json_is_string(v) && same(json_string_value(v), json_string_length(v), want, strlen(want));
}

static void check_count(json_t *v, uint64_t want, const masker *m) {
  char text[32];
  int n = snprintf(text, sizeof(text), "%llu", (unsigned long long)want);
  size_t out_len;
  char *masked = masker_apply(m, text, (size_t)n, &out_len);
  if (same(masked, out_len, text, (size_t)n))
    check(json_is_integer(v) && (uint64_t)json_integer_value(v) == want);
  else
    check(str_is(v, MASKER_HIDDEN)); /* events.c hides a number that holds a secret */
  free(masked);
}

static void check_event_line(harness *h, json_t *ev) {
  const piece *pc = h->expect;
  check(pc);
  json_t *line = json_object_get(ev, "line");
  check(str_is(json_object_get(ev, "stream"), pc->stream == 2 ? "stderr" : "stdout"));
  json_t *cut = json_object_get(ev, "cut");
  check(pc->cut ? json_is_true(cut) : cut == NULL);
  check(common_fields(h, ev, pc->cut ? 3 : 2));
  sanitize(h->forwarded.bytes.p + pc->at, pc->len, false, &h->scratch);
  size_t want_len;
  char *want = masker_apply(h->mask, h->scratch.p, h->scratch.len, &want_len);
  if (!utf8_valid(want, want_len)) {
    /* events.c fails closed: the masked text made valid and masked again,
     * else hidden whole (a secret that is not UTF-8 can end inside a
     * U+FFFD and leave a broken character behind) */
    sanitize(want, want_len, false, &h->scratch);
    free(want);
    want = masker_apply(h->mask, h->scratch.p, h->scratch.len, &want_len);
    if (!utf8_valid(want, want_len)) {
      free(want);
      want = strdup(MASKER_HIDDEN);
      want_len = MASKER_HIDDEN_LEN;
    }
  }
  check(json_is_string(line) &&
        same(json_string_value(line), json_string_length(line), want, want_len));
  free(want);
  /* The pieces of one line, joined as a reader would. */
  buf *j = &h->joined_events[pc->stream];
  buf_add(j, json_string_value(line), json_string_length(line));
  if (!pc->cut) {
    if (h->hidden_intact)
      check_text(h->sec, j->p, j->len, true, true);
    j->len = 0;
  }
}

/* How many bytes of the event's text the common fields take: they come first,
 * as an object of just them would be written, then a ',' (checked: events.c
 * must not have touched them). */
static size_t common_prefix(const harness *h, json_t *ev, const char *json, size_t len) {
  json_t *only = json_object();
  for (size_t i = 0; i < h->n_common; i++) {
    json_t *v = json_object_get(ev, h->common[i]);
    check(v != NULL);
    json_object_set(only, h->common[i], v);
  }
  char *text = json_dumps(only, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(only);
  size_t n = strlen(text);
  check(n >= 2 && n <= len && memcmp(json, text, n - 1) == 0 && json[n - 1] == ',');
  free(text);
  return n - 1;
}

static int sink_emit(void *ctx, const char *type, const char *job_id, const char *json,
                     size_t len) {
  harness *h = ctx;
  h->sink_calls++;
  check(json[len] == '\0' && strlen(json) == len && !memchr(json, '\n', len));
  json_error_t jerr;
  json_t *ev = json_loadb(json, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
  check(json_is_object(ev));
  harness_common c = {.keys = h->common, .n = h->n_common};
  check_values(h->sec, &c, ev, h->shape_intact);
  check_json_text(h->sec, json, len, common_prefix(h, ev, json, len));
  if (h->shape_intact) {
    bool is_log = h->expect != NULL;
    const char *want_type = is_log ? "job.log" : "job.log.trimmed";
    check(strcmp(type, want_type) == 0 && job_id && strcmp(job_id, JOB_ID) == 0);
    check(json_integer_value(json_object_get(ev, "schema_version")) == EVENT_SCHEMA_VERSION);
    check(str_is(json_object_get(ev, "type"), want_type));
    check(str_is(json_object_get(ev, "job_id"), JOB_ID));
    check(json_integer_value(json_object_get(ev, "attempt")) == 1);
    check(json_is_string(json_object_get(ev, "ts")));
    check(str_is(json_object_get(ev, "worker"), WORKER));
    check(str_is(json_object_get(ev, "host"), HOST));
    if (is_log) {
      check_event_line(h, ev);
    } else {
      check(common_fields(h, ev, 3));
      check_count(json_object_get(ev, "bytes_dropped"), h->o.budget.bytes_dropped, h->mask);
      check_count(json_object_get(ev, "lines_dropped"), h->o.budget.lines_dropped, h->mask);
      check(json_is_string(json_object_get(ev, "message")));
    }
  }
  json_decref(ev);
  return 0;
}

static bool masks_nothing(const masker *m, const char *text) {
  size_t out_len;
  char *out = masker_apply(m, text, strlen(text), &out_len);
  bool same_text = same(out, out_len, text, strlen(text));
  free(out);
  return same_text;
}

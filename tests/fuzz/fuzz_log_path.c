/* libFuzzer target for a job's whole output path (shared/pipeline/job_output.h) as the
 * pipeline drives it: Engine attach bytes, framed or with a TTY, cut at
 * arbitrary read sizes -> lines -> masking -> cutting -> tail -> budget ->
 * job.log events, with 1 to 4 secrets taken from the input.
 *
 * Input:
 *   byte 0  bit 0 TTY; bits 1-2 framing without a TTY (3: the script's bytes go
 *           as they are, so the input spells its own headers, bad ones too;
 *           else the harness frames them); bits 3-4 secrets - 1; bit 5 "plain":
 *           the secrets are not registered (bit 7 then passes no masker at all);
 *           bit 6 the last frame is cut short (the stream ends inside it).
 *   byte 1  max_line_bytes: 0 the default, 1..7 (raised to 16), else 16..386.
 *   byte 2  max_log_bytes: 0 off, 1..15, else 256..8160.
 *   byte 3  read sizes: bits 6-7 the largest (4, 64, 1024, all), bits 0-5 seed.
 *   then each secret: [b][n bytes], n = 1 + (b & 0x7f) % 40; or, when b has the
 *           top bit, [b][s]: up to 1 + (b & 0x1f) bytes of an earlier secret
 *           from s on. Secrets under MASKER_MIN_SECRET are never masked (by
 *           design): they are registered and not checked.
 *   then the script of the stream: its bytes as they are, except 0xFF k:
 *     k == 0xFF     one 0xFF byte
 *     k < 0x40      form k & 7 of secret (k >> 3) & 3: plain, base64, unpadded,
 *                   base64url, unpadded, JSON-escaped, JSON ASCII, first half
 *     0x40..0x4F    a new frame on stream k & 3 (0 stdin, 1, 2, 3 -> 2)
 *     0x50..0x5F b  a run of byte b of one of 16 lengths (2046..2048, 16385, ...)
 *     0x60..0x62 b  a run of b of max_line_bytes - 1, + 0, + 1
 *     else          both bytes as they are
 *
 * The harness taps the two callbacks inside job_output (the stream's on_line:
 * masked pieces before the tail and the budget; the budget's emit and
 * on_trimmed: what becomes events) and forwards every call unchanged.
 *
 * Invariants, after every input (and the cheap ones after every read):
 *  - Framing, against a reference parser of the same bytes: a feed fails
 *    exactly at the read that completes the first bad header, with its offset
 *    in the message, and nothing is fed after it (as job_logs stops); frames,
 *    payload bytes per stream, complete lines and "truncated" are as parsed.
 *  - Lines: per stream, the pieces of each line joined are masker_apply() of
 *    the line (its payload bytes up to '\n', a '\r' before the '\n' removed),
 *    so without secrets they are the payload itself. Every piece is at most
 *    max_line_bytes; a piece cut short of it (only before a "[hidden]", never
 *    cut in two) is followed by one that starts with "[hidden]".
 *  - Budget: without a budget every piece becomes an event; with one, the
 *    events are a head (a prefix of the pieces, within the head half), then
 *    one job.log.trimmed when anything was dropped, then a tail (a suffix of
 *    the pieces, the oldest possibly only its end, within the tail half, and
 *    not missing a line that would certainly have fitted). bytes_total =
 *    forwarded bytes (each line's length + 1) + bytes_dropped; lines_dropped
 *    counts the pieces not forwarded at all.
 *  - Events: every text the sink gets is one line (no '\n') of JSON that
 *    parses (json_loadb with JSON_ALLOW_NUL: a line may hold NUL bytes, which
 *    JSON writes \u0000 and jansson only reads with that flag) to an object.
 *    When no secret touches the event's own keys and fixed values (a secret
 *    "line" or "job" renames or hides them, by design: events.c masks keys
 *    and values alike) the object has exactly the common fields, then stream,
 *    line (and cut) or bytes_dropped, lines_dropped and message, with the
 *    type job.log or job.log.trimmed; its line is masker_apply() of the piece
 *    made valid UTF-8 (bad bytes become U+FFFD, checked by a UTF-8 decoder of
 *    this file), and its counts are the budget's.
 *  - Secrets: the forms are computed here, not by the masker: plain, standard
 *    base64 with and without '=' padding, base64url with and without, and the
 *    JSON-escaped text as json_dumps writes it without the quotes (plain,
 *    ASCII-only, escaped '/', \u escapes in lower case: masker.h's list).
 *    Masking replaces every match by "[hidden]" in one pass, so a form can
 *    reappear in the output only across an inserted token (secret "n]x"
 *    after a masked "...[hidden]" followed by "x"): an occurrence is a leak
 *    unless it overlaps a "[hidden]". That is checked in each line's pieces
 *    joined (the masked bytes, before the events), in the tail, in every
 *    event's keys and string values as decoded and, across the pieces of one
 *    line, in the events' line values joined. In the raw JSON text an
 *    occurrence is a leak when all its bytes are literal bytes of one string
 *    (no escape sequence, no quote, no structure, no "[hidden]"): it then
 *    decodes to the form, while bytes next to an escape ("\tab" for a secret
 *    "tab") are not the secret. Wherever the text was made valid UTF-8 (the
 *    events, the tail's text), an occurrence touching a U+FFFD is excused
 *    too: U+FFFD stands for bytes that were not the secret, and a secret that
 *    is not UTF-8 itself can match its last bytes ("\xBD ok" in U+FFFD " ok").
 *    The joined check is off when a secret matches inside "[hidden]" itself
 *    (events.c masks each piece again, which breaks the token up).
 *    The masker hides a secret within one line of the output: a form holding
 *    '\n' (the plain form of a multi-line secret) can only show across lines,
 *    so the tail, whose lines are joined by '\n', is checked only for forms
 *    without one. Each line of a multi-line secret is a secret of its own, all
 *    forms included, as masker.h promises (split on '\n', leading and
 *    trailing blanks and a '\r' dropped, lines under MASKER_MIN_SECRET or
 *    without a letter or digit skipped).
 *  - Tail: o.tail.len < LOG_TAIL_BYTES with a NUL at buf[len], and the text is
 *    the model's: the newest lines (a cut line's pieces joined, taken when it
 *    ends) joined by '\n' within LOG_TAIL_BYTES - 1, whole, or the end of a
 *    line too long alone; job_output_tail_text() is
 *    valid UTF-8 without NUL bytes, at most 3 * LOG_TAIL_BYTES bytes, and is
 *    the tail with bad bytes and NULs as U+FFFD.
 *  - Memory, after every read: each line buffer within max_line_bytes + 1 and
 *    each masker stream within its window (its struct, a ring of the longest
 *    form rounded up to a power of two, one match region per held byte), so
 *    log_stream_footprint() within 2 * (max_line_bytes + 1) plus the two
 *    windows, whatever the input's length; the budget's ring_cap within its
 *    tail_budget. */
#include "pipeline/job_output.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "log_path_harness.h"

/* ---- checks after every read and at the end ------------------------------ */

/* A masker stream's most: its struct, a ring of the longest form (rounded up
 * to a power of two, at least 16), match regions (16 bytes each, at most one
 * per held byte, in an array doubled from 16). */
static size_t masker_window(const harness *h, size_t base) {
  size_t longest = masker_longest(h->mask);
  size_t ring = 2 * longest > 16 ? 2 * longest : 16;
  size_t regions = 2 * (longest + 1) > 16 ? 2 * (longest + 1) : 16;
  return base + ring + regions * 2 * sizeof(uint64_t);
}

static void check_bounds(harness *h) {
  const log_stream *ls = &h->o.stream;
  size_t bound = 0;
  for (int i = 0; i < 2; i++) {
    check(ls->out[i].cap <= h->max_line + 1 && ls->out[i].len <= h->max_line);
    size_t ms = masker_stream_footprint(ls->out[i].ms);
    check(ms <= masker_window(h, h->base_footprint[i]));
    bound += h->max_line + 1 + masker_window(h, h->base_footprint[i]);
  }
  check(log_stream_footprint(ls) <= bound);
  check(h->o.budget.ring_cap <= h->o.budget.tail_budget);
  const log_tail *t = &h->o.tail;
  check(t->len < LOG_TAIL_BYTES && t->buf[t->len] == '\0');
  check(same(t->buf, t->len, h->tail.text + h->tail.base, h->tail.len));
}

static void check_tail_text(harness *h) {
  const log_tail *t = &h->o.tail;
  check_text(h->sec, t->buf, t->len, false, false);
  char *text = job_output_tail_text(&h->o);
  size_t len = strlen(text);
  check(len <= 3 * LOG_TAIL_BYTES && utf8_valid(text, len));
  sanitize(t->buf, t->len, true, &h->scratch);
  check(same(text, len, h->scratch.p, h->scratch.len));
  check_text(h->sec, text, len, true, false);
  free(text);
}

static uint64_t cost(const pieces *ps, size_t from, size_t to) {
  uint64_t n = 0;
  for (size_t i = from; i < to; i++)
    n += ps->items[i].len + 1;
  return n;
}

static bool piece_is(const pieces *a, size_t i, const pieces *b, size_t k, bool suffix) {
  const piece *x = &a->items[i], *y = &b->items[k];
  if (x->stream != y->stream || x->cut != y->cut || x->len > y->len ||
      (!suffix && x->len != y->len))
    return false;
  return memcmp(a->bytes.p + x->at, b->bytes.p + y->at + (y->len - x->len), x->len) == 0;
}

/* The events are the head, the marker, the tail: a prefix and a suffix. */
static void check_budget(harness *h) {
  const log_budget *lb = &h->o.budget;
  const pieces *in = &h->offered, *out = &h->forwarded;
  check(lb->lines_total == in->n && lb->bytes_total == cost(in, 0, in->n));
  check(lb->bytes_total == cost(out, 0, out->n) + lb->bytes_dropped);
  check(lb->lines_dropped == in->n - out->n);
  check(h->trimmed_events == (lb->bytes_dropped > 0 ? 1u : 0u));
  size_t head = h->trimmed_at >= 0 ? (size_t)h->trimmed_at : out->n;
  if (lb->max_bytes == 0 || h->trimmed_at < 0)
    check(head == out->n && out->n == in->n); /* nothing dropped: everything, in order */
  for (size_t i = 0; i < head; i++)
    check(piece_is(out, i, in, i, false));
  size_t tail = out->n - head;
  check(head + tail <= in->n);
  size_t from = in->n - tail;
  for (size_t i = 0; i < tail; i++)
    check(piece_is(out, head + i, in, from + i, i == 0));
  if (lb->max_bytes == 0 || h->trimmed_at < 0)
    return;
  check(cost(out, 0, head) <= lb->head_budget);
  check(cost(out, head, out->n) <= lb->tail_budget);
  bool partial = tail > 0 && out->items[head].len < in->items[from].len;
  if (!partial && from > head) { /* the line before the tail did not fit */
    uint64_t need = in->items[from - 1].len + 3;
    for (size_t i = head; i < out->n; i++)
      need += out->items[i].len + 3;
    check(need > lb->tail_budget);
  }
}

static void check_stream_totals(harness *h, bool failed) {
  const log_stream *ls = &h->o.stream;
  const plan *pl = h->pl;
  check(ls->frames == pl->frames && ls->truncated == (pl->truncated && !failed));
  for (int st = 1; st < 3; st++) {
    check(ls->bytes[st] == pl->payload[st].len);
    check(ls->lines[st] == h->lines_done[st] && h->line_start[st] == pl->payload[st].len);
    check(h->line[st].len == 0);
  }
  uint64_t cuts = 0;
  for (size_t i = 0; i < h->offered.n; i++)
    cuts += h->offered.items[i].cut;
  check(ls->cut_pieces == cuts);
}

/* ---- the input ----------------------------------------------------------- */

static size_t parse_secrets(secrets *s, size_t want, const uint8_t *data, size_t size) {
  size_t used = 0;
  while (s->n < want && used < size) {
    uint8_t b = data[used];
    const char *from;
    size_t len;
    if ((b & 0x80) && s->n > 0 && used + 1 < size) {
      size_t src = (b >> 5 & 3) % s->n;
      size_t start = data[used + 1] % s->len[src];
      len = 1 + (b & 0x1f);
      if (len > s->len[src] - start)
        len = s->len[src] - start;
      from = s->value[src] + start;
      used += 2;
    } else {
      len = 1 + (b & 0x7f) % 40;
      if (len > size - used - 1)
        len = size - used - 1;
      from = (const char *)data + used + 1;
      used += 1 + len;
    }
    if (len == 0)
      break;
    s->value[s->n] = malloc(len + 1);
    check(s->value[s->n]);
    memcpy(s->value[s->n], from, len);
    s->value[s->n][len] = '\0';
    s->len[s->n++] = len;
  }
  return used;
}

static void stream_forms(secrets *s) {
  buf b = {0};
  for (size_t i = 0; i < s->n; i++) {
    form *f = s->stream_form[i];
    f[0] = (form){s->value[i], s->len[i]};
    for (int k = 0; k < 4; k++) {
      base64((const unsigned char *)s->value[i], s->len[i], k >= 2, k % 2 == 0, &b);
      f[1 + k] = (form){strdup(b.p), b.len};
    }
    json_t *js = json_stringn(s->value[i], s->len[i]);
    for (int k = 0; js && k < 2; k++) {
      char *d = json_dumps(js, JSON_ENCODE_ANY | (k ? JSON_ENSURE_ASCII : 0));
      check(d && strlen(d) >= 2);
      size_t n = strlen(d) - 2;
      memmove(d, d + 1, n);
      d[n] = '\0';
      f[5 + k] = (form){d, n};
    }
    json_decref(js);
  }
  free(b.p);
}

static void stream_forms_free(secrets *s) {
  for (size_t i = 0; i < s->n; i++)
    for (int k = 1; k < 7; k++)
      free(s->stream_form[i][k].p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  uint8_t flags = data[0];
  script sc = {.tty = flags & 1, .raw = (flags >> 1 & 3) == 3, .truncate = flags & 0x40};
  bool plain = flags & 0x20, no_masker = plain && (flags & 0x80);
  size_t max_line = data[1] == 0 ? 0 : data[1] < 8 ? data[1] : 16 + (data[1] - 8u) * 3 / 2;
  size_t max_log = data[2] < 16 ? data[2] : 256 + (data[2] - 16u) * 33;
  size_t max_read = (size_t[]){4, 64, 1024, SIZE_MAX}[data[3] >> 6];
  uint32_t rng = (data[3] & 0x3f) * 2654435761u + 1;
  data += 4;
  size -= 4;

  secrets sec = {0};
  size_t used = parse_secrets(&sec, (flags >> 3 & 3) + 1u, data, size);
  data += used;
  size -= used;
  stream_forms(&sec);
  masker *m = no_masker ? NULL : masker_new();
  for (size_t i = 0; !plain && i < sec.n; i++)
    masker_add_secret_len(m, sec.value[i], sec.len[i]);
  if (!plain)
    secrets_forms(&sec);

  harness *h = calloc(1, sizeof(*h));
  check(h);
  h->mask = m;
  h->sec = &sec;
  h->trimmed_at = -1;
  h->sink = (event_sink){.emit = sink_emit, .ctx = h};
  h->events = (job_events){.sink = &h->sink,
                           .mask = m,
                           .job_id = JOB_ID,
                           .attempt = 1,
                           .worker_id = WORKER,
                           .host = HOST};
  /* The common fields are never masked (events.c); these others may be. */
  static const char *const fixed[] = {"stream",        "line",    "cut",    "bytes_dropped",
                                      "lines_dropped", "message", "stdout", "stderr"};
  h->shape_intact = true;
  for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
    h->shape_intact &= masks_nothing(m, fixed[i]);
  json_t *proto = event_new(&h->events, "job.log");
  const char *key;
  json_t *v;
  json_object_foreach(proto, key, v) {
    check(h->n_common < sizeof(h->common) / sizeof(h->common[0]));
    h->common[h->n_common++] = strdup(key);
  }
  json_decref(proto);
  h->hidden_intact = masks_nothing(m, MASKER_HIDDEN);

  job_output_init(&h->o, sc.tty, max_line, max_log, m, &h->events);
  h->max_line = h->o.stream.max_line_bytes;
  sc.max_line = h->max_line;
  check(h->max_line == (max_line == 0                    ? JOB_OUTPUT_MAX_LINE
                        : max_line < LOG_STREAM_MIN_LINE ? LOG_STREAM_MIN_LINE
                                                         : max_line));
  for (int i = 0; i < 2; i++)
    h->base_footprint[i] = masker_stream_footprint(h->o.stream.out[i].ms);
  h->line_fn = h->o.stream.on_line;
  h->line_ctx = h->o.stream.ctx;
  h->o.stream.on_line = tap_line;
  h->o.stream.ctx = h;
  h->emit_fn = h->o.budget.emit;
  h->trimmed_fn = h->o.budget.on_trimmed;
  h->budget_ctx = h->o.budget.ctx;
  check(h->trimmed_fn); /* the marker is an event of its own */
  h->o.budget.emit = tap_emit;
  h->o.budget.on_trimmed = tap_trimmed;
  h->o.budget.ctx = h;

  plan pl = {0};
  plan_build(&pl, &sc, &sec, data, size);
  h->pl = &pl;

  bool failed = false;
  for (size_t at = 0; at < pl.bytes.len && !failed;) {
    rng = rng * 1103515245u + 12345u;
    size_t take = max_read == SIZE_MAX ? pl.bytes.len : 1 + (rng >> 8) % max_read;
    if (take > pl.bytes.len - at)
      take = pl.bytes.len - at;
    bw_error_t err = NULL;
    int rc = job_output_feed(&h->o, pl.bytes.p + at, take, &err);
    bool fails_here = pl.bad_header >= 0 && at < (size_t)pl.bad_header + 8 &&
                      at + take >= (size_t)pl.bad_header + 8;
    if (fails_here) {
      char want[96];
      snprintf(want, sizeof(want), "log stream: bad frame header at byte %lld",
               (long long)pl.bad_header);
      check(rc == -1 && err && strcmp(err->msg, want) == 0);
      failed = true;                 /* job_logs stops reading here */
      for (int st = 1; st < 3; st++) /* nothing after the bad header counts */
        check(h->o.stream.bytes[st] == pl.payload[st].len);
    } else {
      check(rc == 0 && err == NULL);
    }
    bw_error_release(&err);
    check_bounds(h);
    at += take;
  }
  check(failed == (pl.bad_header >= 0));
  job_output_finish(&h->o);
  check_bounds(h);
  check_tail_text(h);
  check_stream_totals(h, failed);
  check_budget(h);

  job_output_free(&h->o);
  for (int st = 0; st < 3; st++) {
    free(h->line[st].p);
    free(h->joined_events[st].p);
    free(pl.payload[st].p);
  }
  free(pl.bytes.p);
  free(h->offered.bytes.p);
  free(h->offered.items);
  free(h->forwarded.bytes.p);
  free(h->forwarded.items);
  free(h->scratch.p);
  for (size_t i = 0; i < h->n_common; i++)
    free(h->common[i]);
  free(h);
  masker_free(m);
  stream_forms_free(&sec);
  secrets_free(&sec);
  return 0;
}

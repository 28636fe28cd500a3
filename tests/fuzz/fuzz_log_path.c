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

#define JOB_ID "fuzz-job-1"
#define WORKER "fuzz-worker"
#define HOST "fuzz-host"
#define MAX_SECRETS 4
#define MAX_STREAM (48 * 1024) /* the script's expansion stops there */
#define TAIL_CAP (LOG_TAIL_BYTES - 1)
#define FFFD "\xEF\xBF\xBD"

#define check(cond)                                                                                \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      __builtin_trap();                                                                            \
  } while (0)

/* ---- small helpers ------------------------------------------------------- */

typedef struct buf {
  char *p;
  size_t len;
  size_t cap;
} buf;

static void buf_add(buf *b, const void *bytes, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
      cap *= 2;
    b->p = realloc(b->p, cap);
    check(b->p);
    b->cap = cap;
  }
  if (n)
    memcpy(b->p + b->len, bytes, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void buf_byte(buf *b, char c) {
  buf_add(b, &c, 1);
}

static void *grow(void *p, size_t *cap, size_t need, size_t item) {
  if (need <= *cap)
    return p;
  size_t n = *cap ? *cap * 2 : 16;
  while (n < need)
    n *= 2;
  p = realloc(p, n * item);
  check(p);
  *cap = n;
  return p;
}

static bool same(const char *a, size_t alen, const char *b, size_t blen) {
  return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Length of the valid UTF-8 sequence at s (RFC 3629, as jansson reads it), or 0. */
static size_t utf8_len(const unsigned char *s, size_t len) {
  unsigned c = s[0];
  size_t n;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4;
  else
    return 0; /* a continuation byte, 0xC0, 0xC1 or above 0xF4 */
  if (n > len)
    return 0;
  uint32_t cp = c & (0x7Fu >> n);
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || (cp >= 0xD800 && cp <= 0xDFFF) ||
      cp > 0x10FFFF)
    return 0;
  return n;
}

/* Bad bytes (and NULs, when asked) become U+FFFD, one per byte. */
static void sanitize(const char *s, size_t len, bool replace_nul, buf *out) {
  out->len = 0;
  buf_add(out, "", 0);
  for (size_t i = 0; i < len;) {
    size_t n = utf8_len((const unsigned char *)s + i, len - i);
    if (n == 0 || (replace_nul && s[i] == 0)) {
      buf_add(out, FFFD, 3);
      i++;
    } else {
      buf_add(out, s + i, n);
      i += n;
    }
  }
}

static bool utf8_valid(const char *s, size_t len) {
  for (size_t i = 0; i < len;) {
    size_t n = utf8_len((const unsigned char *)s + i, len - i);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

/* For whoever replays a failure: the bytes, escaped. */
static void dump(const char *what, const char *p, size_t len) {
  fprintf(stderr, "fuzz_log_path: %s (%zu bytes): \"", what, len);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
      fputc(c, stderr);
    else
      fprintf(stderr, "\\x%02x", c);
  }
  fprintf(stderr, "\"\n");
}

/* ---- secrets and their forms ---------------------------------------------- */

typedef struct form {
  char *p;
  size_t len;
} form;

typedef struct secrets {
  char *value[MAX_SECRETS];
  size_t len[MAX_SECRETS];
  size_t n;
  form *forms; /* of the secrets the masker promises to hide */
  size_t n_forms;
  size_t cap_forms;
  uint8_t *mark; /* scratch of the checks */
  uint32_t *excused;
  size_t scratch_cap;
  /* stream forms by secret: [0] plain ... [6] JSON ASCII; NULL when none */
  form stream_form[MAX_SECRETS][7];
} secrets;

static void form_add(secrets *s, const char *p, size_t len) {
  if (len < MASKER_MIN_SECRET)
    return;
  s->forms = grow(s->forms, &s->cap_forms, s->n_forms + 1, sizeof(form));
  char *copy = malloc(len + 1);
  check(copy);
  memcpy(copy, p, len);
  copy[len] = '\0';
  s->forms[s->n_forms++] = (form){copy, len};
}

static void base64(const unsigned char *in, size_t len, bool url, bool pad, buf *out) {
  const char *abc = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                        : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out->len = 0;
  buf_add(out, "", 0);
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < len)
      v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < len)
      v |= in[i + 2];
    char q[4] = {abc[v >> 18 & 63], abc[v >> 12 & 63], abc[v >> 6 & 63], abc[v & 63]};
    size_t keep = i + 2 < len ? 4 : i + 1 < len ? 3 : 2;
    buf_add(out, q, keep);
    if (pad)
      buf_add(out, "==", 4 - keep);
  }
}

static void lowercase_escapes(char *s, size_t len) {
  for (size_t i = 0; i + 1 < len; i++) {
    if (s[i] != '\\')
      continue;
    if (s[i + 1] == 'u')
      for (size_t k = i + 2; k < i + 6 && k < len; k++)
        if (s[k] >= 'A' && s[k] <= 'F')
          s[k] = (char)(s[k] - 'A' + 'a');
    i++;
  }
}

/* A value's forms: plain, base64 (4), JSON (up to 8). */
static void value_forms(secrets *s, const char *v, size_t len, buf *b) {
  form_add(s, v, len);
  for (int k = 0; k < 4; k++) {
    base64((const unsigned char *)v, len, k >= 2, k % 2 == 0, b);
    form_add(s, b->p, b->len);
  }
  json_t *js = json_stringn(v, len); /* NULL for invalid UTF-8: no JSON form */
  static const size_t flags[] = {0, JSON_ENSURE_ASCII, JSON_ESCAPE_SLASH,
                                 JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH};
  for (size_t f = 0; js && f < 4; f++) {
    char *d = json_dumps(js, JSON_ENCODE_ANY | flags[f]);
    check(d && strlen(d) >= 2);
    size_t n = strlen(d) - 2;
    form_add(s, d + 1, n);
    lowercase_escapes(d + 1, n);
    form_add(s, d + 1, n);
    free(d);
  }
  json_decref(js);
}

/* The forms of every secret the masker hides, and of each line of a
 * multi-line one (masker.h: split on '\n', leading and trailing blanks and
 * a '\r' dropped, lines under MASKER_MIN_SECRET or without a letter or
 * digit skipped). */
static void secrets_forms(secrets *s) {
  buf b = {0};
  for (size_t i = 0; i < s->n; i++) {
    const char *v = s->value[i];
    size_t len = s->len[i];
    if (len < MASKER_MIN_SECRET)
      continue; /* never masked: insertable, not checked */
    value_forms(s, v, len, &b);
    if (!memchr(v, '\n', len))
      continue;
    for (size_t at = 0; at <= len;) {
      const char *eol = memchr(v + at, '\n', len - at);
      size_t end = eol ? (size_t)(eol - v) : len;
      /* masker.h: without leading and trailing blanks (and a '\r'), and
       * only with a letter or a digit in it */
      size_t from = at, to = end;
      while (from < to && (v[from] == ' ' || v[from] == '\t'))
        from++;
      while (to > from && (v[to - 1] == '\r' || v[to - 1] == ' ' || v[to - 1] == '\t'))
        to--;
      bool alnum = false;
      for (size_t k = from; k < to && !alnum; k++)
        alnum = (v[k] >= '0' && v[k] <= '9') || ((v[k] | 0x20) >= 'a' && (v[k] | 0x20) <= 'z');
      if (to - from >= MASKER_MIN_SECRET && alnum)
        value_forms(s, v + from, to - from, &b);
      at = end + 1;
    }
  }
  free(b.p);
}

static void secrets_free(secrets *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->value[i]);
  for (size_t i = 0; i < s->n_forms; i++)
    free(s->forms[i].p);
  free(s->forms);
  free(s->mark);
  free(s->excused);
}

/* Scratch for a text of len bytes, zeroed marks. */
static void scratch_fit(secrets *s, size_t len) {
  if (len + 1 > s->scratch_cap) {
    s->scratch_cap = 2 * (len + 1);
    free(s->mark);
    free(s->excused);
    s->mark = malloc(s->scratch_cap);
    s->excused = malloc(s->scratch_cap * sizeof(uint32_t));
    check(s->mark && s->excused);
  }
  memset(s->mark, 0, len + 1);
}

/* excused[i] counts the excused bytes before i; an occurrence of a form is a
 * leak when it holds none. */
static void check_forms(const secrets *s, const char *text, size_t len, const uint32_t *excused,
                        bool newline_forms) {
  for (size_t f = 0; f < s->n_forms; f++) {
    const form *fm = &s->forms[f];
    if (!newline_forms && memchr(fm->p, '\n', fm->len))
      continue;
    for (size_t at = 0; at + fm->len <= len;) {
      const char *hit = memmem(text + at, len - at, fm->p, fm->len);
      if (!hit)
        break;
      size_t p = (size_t)(hit - text);
      if (excused[p + fm->len] == excused[p]) { /* a secret leaked */
        dump("form", fm->p, fm->len);
        dump("text", text, len);
        fprintf(stderr, "fuzz_log_path: the form is at byte %zu\n", p);
        __builtin_trap();
      }
      at = p + 1;
    }
  }
}

/* Marks every "[hidden]" (and U+FFFD when asked) and checks the text. */
static void check_text(secrets *s, const char *text, size_t len, bool fffd, bool newline_forms) {
  if (s->n_forms == 0)
    return;
  scratch_fit(s, len);
  uint8_t *mark = s->mark;
  uint32_t *excused = s->excused;
  for (size_t i = 0; i + MASKER_HIDDEN_LEN <= len; i++)
    if (memcmp(text + i, MASKER_HIDDEN, MASKER_HIDDEN_LEN) == 0)
      memset(mark + i, 1, MASKER_HIDDEN_LEN);
  for (size_t i = 0; fffd && i + 3 <= len; i++)
    if (memcmp(text + i, FFFD, 3) == 0)
      memset(mark + i, 1, 3);
  excused[0] = 0;
  for (size_t i = 0; i < len; i++)
    excused[i + 1] = excused[i] + mark[i];
  check_forms(s, text, len, excused, newline_forms);
}

/* Raw JSON text: only literal bytes of one string can spell a leak. */
/* excused_prefix: the bytes of the common fields, which come first and are
 * never masked (events.c): a secret inside them is the worker's text. */
static void check_json_text(secrets *s, const char *text, size_t len, size_t excused_prefix) {
  if (s->n_forms == 0)
    return;
  scratch_fit(s, len);
  uint8_t *mark = s->mark;
  uint32_t *excused = s->excused;
  bool in_string = false;
  for (size_t i = 0; i < len; i++) {
    mark[i] = 1;
    if (i < excused_prefix)
      continue;
    if (!in_string) {
      in_string = text[i] == '"';
    } else if (text[i] == '"') {
      in_string = false;
    } else if (text[i] == '\\') {
      size_t n = i + 1 < len && text[i + 1] == 'u' ? 6 : 2;
      for (size_t k = 1; k < n && i + k < len; k++)
        mark[i + k] = 1;
      i += n - 1;
    } else {
      mark[i] = 0;
    }
  }
  for (size_t i = 0; i + MASKER_HIDDEN_LEN <= len; i++)
    if (memcmp(text + i, MASKER_HIDDEN, MASKER_HIDDEN_LEN) == 0)
      memset(mark + i, 1, MASKER_HIDDEN_LEN);
  for (size_t i = 0; i + 3 <= len; i++)
    if (memcmp(text + i, FFFD, 3) == 0)
      memset(mark + i, 1, 3);
  excused[0] = 0;
  for (size_t i = 0; i < len; i++)
    excused[i + 1] = excused[i] + mark[i];
  check_forms(s, text, len, excused, true);
}

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

/* Part of fuzz_log_path.c, included by it once and by nothing else: the limits, small helpers, the
 * secrets and every form of them, and the checks that none appears. One translation unit, so the
 * fuzzer instruments and inlines it as one; split in parts only to be read. */
#pragma once

#include "pipeline/job_output.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* libFuzzer target for shared/job/masker.c.
 *
 * Input: byte 0 picks the mode, byte 1 seeds the chunk sizes.
 *   mode & 0x80: config mode: the bytes up to the first NUL are a JSON document
 *     for masker_add_config, the rest is the text.
 *   otherwise: 1 + (mode & 7) secrets follow as [length byte][bytes] (length =
 *     byte % 64), then the text. 0x40: registered with masker_add_exact (no
 *     derived forms); 0x20: '|' in a secret stands for '\n' and '~' for '\r',
 *     so multi-line secrets are easy to reach; 0x10: registered through
 *     masker_add_config (as '#' keys, values that are valid UTF-8); 0x08: the
 *     masker is used after every registration (links again each time).
 *
 * Checks, after every input:
 *   - masking in pieces (masker_stream, chunk sizes from the input) gives
 *     exactly masker_apply's output, and a stream's memory stays bounded by
 *     the masker's longest form whatever the length of the text;
 *   - outside config mode, masker_apply's output is the naive one: every
 *     occurrence of every form found by memcmp, regions that share a byte
 *     hidden as one "[hidden]", regions that only touch apart. The forms are
 *     computed here from the header's description, not from masker.c: each
 *     secret and (for one with newlines) each of its lines of at least
 *     MASKER_MIN_SECRET bytes with a letter or digit (leading and trailing
 *     blanks and a '\r' dropped, as masker.h says), each with
 *     its base64 (padded, unpadded), base64url (both) and JSON-escaped forms
 *     as jansson writes them (four flag sets, and \u escapes in lower case);
 *   - no form (in config mode: of the string values of '#' keys) is left in
 *     the output, except where an occurrence overlaps a "[hidden]" token the
 *     masker wrote (the token's bytes and the text around it can spell one);
 *   - the scanner, fed in other chunk sizes, and masker_contains say found
 *     exactly when some form occurs in the text, which is exactly when the
 *     stream wrote a "[hidden]"; outside config mode first_end and first_len
 *     are the end and the longest form of the occurrence that ends first;
 *   - a masker used after each registration masks like one built at once. */
#include "job/masker.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SECRETS 8

/* ---- output with the positions of the tokens ----------------------------- */

typedef struct out_buf {
  char *buf;
  size_t len;
  size_t cap;
  size_t *tokens; /* output offsets of the "[hidden]" tokens */
  size_t n_tokens;
  size_t cap_tokens;
} out_buf;

static void out_sink(void *ctx, const char *bytes, size_t len, bool hidden) {
  out_buf *o = ctx;
  if (hidden) {
    if (len != MASKER_HIDDEN_LEN || memcmp(bytes, MASKER_HIDDEN, len) != 0)
      abort();
    if (o->n_tokens == o->cap_tokens) {
      o->cap_tokens = o->cap_tokens * 2 + 8;
      o->tokens = realloc(o->tokens, o->cap_tokens * sizeof(size_t));
      if (!o->tokens)
        abort();
    }
    o->tokens[o->n_tokens++] = o->len;
  }
  if (o->len + len > o->cap) {
    o->cap = (o->len + len) * 2 + 16;
    o->buf = realloc(o->buf, o->cap);
    if (!o->buf)
      abort();
  }
  memcpy(o->buf + o->len, bytes, len);
  o->len += len;
}

/* ---- the forms, from the header's description ---------------------------- */

typedef struct form_set {
  uint8_t **forms;
  size_t *lens;
  size_t n;
  size_t cap;
} form_set;

static void forms_add(form_set *fs, const void *bytes, size_t len) {
  if (len < MASKER_MIN_SECRET)
    return;
  if (fs->n == fs->cap) {
    fs->cap = fs->cap * 2 + 16;
    fs->forms = realloc(fs->forms, fs->cap * sizeof(uint8_t *));
    fs->lens = realloc(fs->lens, fs->cap * sizeof(size_t));
    if (!fs->forms || !fs->lens)
      abort();
  }
  fs->forms[fs->n] = malloc(len);
  if (!fs->forms[fs->n])
    abort();
  memcpy(fs->forms[fs->n], bytes, len);
  fs->lens[fs->n++] = len;
}

static void forms_free(form_set *fs) {
  for (size_t i = 0; i < fs->n; i++)
    free(fs->forms[i]);
  free(fs->forms);
  free(fs->lens);
}

static void value_forms(form_set *fs, const uint8_t *v, size_t len) {
  forms_add(fs, v, len);
  char *b64 = malloc(4 * ((len + 2) / 3) + 1);
  if (!b64)
    abort();
  size_t n = (size_t)EVP_EncodeBlock((unsigned char *)b64, v, (int)len);
  size_t unpadded = n;
  while (unpadded > 0 && b64[unpadded - 1] == '=')
    unpadded--;
  forms_add(fs, b64, n);
  forms_add(fs, b64, unpadded);
  for (size_t i = 0; i < n; i++)
    b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
  forms_add(fs, b64, n);
  forms_add(fs, b64, unpadded);
  free(b64);
  json_t *js = json_stringn((const char *)v, len);
  if (!js)
    return; /* not UTF-8: no JSON form */
  static const size_t flag_sets[] = {0, JSON_ENSURE_ASCII, JSON_ESCAPE_SLASH,
                                     JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH};
  for (size_t f = 0; f < 4; f++) {
    char *d = json_dumps(js, JSON_ENCODE_ANY | flag_sets[f]);
    size_t dn = strlen(d);
    forms_add(fs, d + 1, dn - 2);
    for (size_t i = 1; i + 1 < dn - 1; i++) {
      if (d[i] != '\\')
        continue;
      if (d[i + 1] == 'u') {
        for (size_t k = i + 2; k < i + 6 && k < dn - 1; k++) {
          if (d[k] >= 'A' && d[k] <= 'F')
            d[k] = (char)(d[k] - 'A' + 'a');
        }
      }
      i++;
    }
    forms_add(fs, d + 1, dn - 2);
    free(d);
  }
  json_decref(js);
}

static void secret_forms(form_set *fs, const uint8_t *v, size_t len) {
  if (len < MASKER_MIN_SECRET)
    return;
  value_forms(fs, v, len);
  if (!memchr(v, '\n', len))
    return;
  const uint8_t *end = v + len;
  for (const uint8_t *line = v; line <= end;) {
    const uint8_t *eol = memchr(line, '\n', (size_t)(end - line));
    const uint8_t *start = line, *stop = eol ? eol : end;
    /* masker.h: without leading and trailing blanks, and only with a letter
     * or a digit in it */
    while (start < stop && (*start == ' ' || *start == '\t'))
      start++;
    while (stop > start && (stop[-1] == '\r' || stop[-1] == ' ' || stop[-1] == '\t'))
      stop--;
    size_t n = (size_t)(stop - start);
    bool alnum = false;
    for (size_t i = 0; i < n && !alnum; i++)
      alnum = (start[i] >= '0' && start[i] <= '9') ||
              ((start[i] | 0x20) >= 'a' && (start[i] | 0x20) <= 'z');
    if (n >= MASKER_MIN_SECRET && alnum)
      value_forms(fs, start, n);
    if (!eol)
      break;
    line = eol + 1;
  }
}

/* The '#' string values of a config, as masker_add_config finds them. */
static void config_forms(form_set *fs, const json_t *v, bool secret) {
  if (json_is_object(v)) {
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)v, key, value) {
      config_forms(fs, value, secret || key[0] == '#');
    }
  } else if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++)
      config_forms(fs, json_array_get(v, i), secret);
  } else if (json_is_string(v) && secret) {
    secret_forms(fs, (const uint8_t *)json_string_value(v), json_string_length(v));
  }
}

/* ---- the checks ---------------------------------------------------------- */

/* For each text position the end of the longest form that starts there. */
static size_t *form_ends(const form_set *fs, const uint8_t *text, size_t len) {
  size_t *ends = calloc(len + 1, sizeof(size_t));
  if (!ends)
    abort();
  for (size_t f = 0; f < fs->n; f++) {
    size_t fl = fs->lens[f];
    for (size_t i = 0; fl <= len && i <= len - fl; i++) {
      if (memcmp(text + i, fs->forms[f], fl) == 0 && ends[i] < i + fl)
        ends[i] = i + fl;
    }
  }
  return ends;
}

static void naive_check(const size_t *ends, const uint8_t *text, size_t len, const char *got,
                        size_t got_len) {
  char *want = malloc(len * MASKER_HIDDEN_LEN + 1);
  if (!want)
    abort();
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    if (ends[i] == 0) {
      want[o++] = (char)text[i++];
      continue;
    }
    size_t end = ends[i];
    for (size_t k = i; k < end; k++) {
      if (ends[k] > end)
        end = ends[k];
    }
    memcpy(want + o, MASKER_HIDDEN, MASKER_HIDDEN_LEN);
    o += MASKER_HIDDEN_LEN;
    i = end;
  }
  if (o != got_len || (o && memcmp(want, got, o) != 0))
    abort();
  free(want);
}

/* No occurrence of a form lies in the output's plain bytes alone. */
static void survivor_check(const form_set *fs, const out_buf *o) {
  for (size_t f = 0; f < fs->n; f++) {
    size_t fl = fs->lens[f];
    for (const char *p = o->buf;
         o->len && (p = memmem(p, o->len - (size_t)(p - o->buf), fs->forms[f], fl)); p++) {
      size_t at = (size_t)(p - o->buf);
      bool overlaps = false;
      for (size_t t = 0; t < o->n_tokens && !overlaps; t++)
        overlaps = o->tokens[t] < at + fl && at < o->tokens[t] + MASKER_HIDDEN_LEN;
      if (!overlaps)
        abort();
    }
  }
}

static uint32_t rng_next(uint32_t *r) {
  *r = *r * 1103515245u + 12345u;
  return *r >> 16;
}

static void stream_in_chunks(const masker *m, const uint8_t *text, size_t len, uint32_t rng,
                             out_buf *o) {
  masker_stream *s = masker_stream_new(m, out_sink, o);
  /* held bytes, regions and the output batch: bounded by the longest form */
  size_t longest = masker_longest(m);
  size_t bound = 4096 + 4 * longest + 64 * (longest + 16);
  for (int pass = 0; pass < 2; pass++) { /* the text twice: memory must not grow */
    for (size_t at = 0; at < len;) {
      size_t take = 1 + rng_next(&rng) % 64;
      if (take > len - at)
        take = len - at;
      masker_stream_feed(s, (const char *)text + at, take);
      at += take;
      if (masker_stream_footprint(s) > bound)
        abort();
    }
    if (pass == 0) {
      masker_stream_flush(s);
      o->len = 0;
      o->n_tokens = 0;
    }
  }
  masker_stream_flush(s);
  masker_stream_free(s);
}

static void scan_check(const masker *m, const uint8_t *text, size_t len, uint32_t rng,
                       bool found_want, const form_set *fs, const size_t *ends) {
  masker_scan s;
  masker_scan_init(&s, m);
  for (size_t at = 0; at < len;) {
    size_t take = rng_next(&rng) % 50; /* 0 too */
    if (take > len - at)
      take = len - at;
    masker_scan_feed(&s, text + at, take);
    at += take;
  }
  if (masker_scan_found(&s) != found_want || s.pos != len)
    abort();
  if (masker_contains(m, (const char *)text, len) != found_want)
    abort();
  if (!ends)
    return;
  bool any = false;
  for (size_t i = 0; i < len && !any; i++)
    any = ends[i] != 0;
  if (any != found_want)
    abort();
  /* the occurrence that ends first, and the longest form that ends there */
  size_t first_end = SIZE_MAX;
  for (size_t f = 0; f < fs->n; f++) {
    const uint8_t *at = memmem(text, len, fs->forms[f], fs->lens[f]);
    if (at && (size_t)(at - text) + fs->lens[f] < first_end)
      first_end = (size_t)(at - text) + fs->lens[f];
  }
  if (!found_want)
    return;
  size_t longest = 0;
  for (size_t f = 0; f < fs->n; f++) {
    size_t fl = fs->lens[f];
    if (fl <= first_end && fl > longest && memcmp(text + first_end - fl, fs->forms[f], fl) == 0)
      longest = fl;
  }
  if (s.first_end != first_end || s.first_len != longest)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  uint8_t mode = data[0];
  uint32_t rng = data[1] * 2654435761u + mode;
  data += 2;
  size -= 2;
  masker *m = masker_new();
  form_set fs = {0};
  bool naive = !(mode & 0x80);
  uint8_t secrets[MAX_SECRETS][64];
  size_t secret_lens[MAX_SECRETS];
  size_t n_secrets = 0;
  if (mode & 0x80) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t jlen = nul ? (size_t)(nul - data) : size;
    json_t *config = json_loadb((const char *)data, jlen, JSON_DECODE_ANY, NULL);
    masker_add_config(m, config);
    if (config)
      config_forms(&fs, config, false);
    json_decref(config);
    data += nul ? jlen + 1 : jlen;
    size -= nul ? jlen + 1 : jlen;
  } else {
    while (n_secrets < (size_t)(mode & 7) + 1 && size > 0) {
      size_t len = data[0] % 64;
      if (len > size - 1)
        len = size - 1;
      memcpy(secrets[n_secrets], data + 1, len);
      for (size_t i = 0; (mode & 0x20) && i < len; i++) {
        if (secrets[n_secrets][i] == '|')
          secrets[n_secrets][i] = '\n';
        else if (secrets[n_secrets][i] == '~')
          secrets[n_secrets][i] = '\r';
      }
      secret_lens[n_secrets++] = len;
      data += 1 + len;
      size -= 1 + len;
    }
    json_t *config = json_object();
    for (size_t i = 0; i < n_secrets; i++) {
      const char *v = (const char *)secrets[i];
      if (mode & 0x40) {
        masker_add_exact(m, v, secret_lens[i]);
        forms_add(&fs, v, secret_lens[i]);
      } else if (mode & 0x10) {
        json_t *js = json_stringn(v, secret_lens[i]);
        if (!js)
          continue; /* a config holds UTF-8 only */
        char key[8] = {'#', (char)('a' + i), 0};
        json_object_set_new(config, key, js);
        secret_forms(&fs, secrets[i], secret_lens[i]);
      } else {
        masker_add_secret_len(m, v, secret_lens[i]);
        secret_forms(&fs, secrets[i], secret_lens[i]);
      }
      if (mode & 0x08) /* use it: the next registration links again */
        free(masker_apply(m, (const char *)data, size, NULL));
    }
    if (mode & 0x10)
      masker_add_config(m, config);
    json_decref(config);
  }

  size_t want_len;
  char *want = masker_apply(m, (const char *)data, size, &want_len);
  if (want[want_len] != '\0')
    abort();

  out_buf o = {0};
  stream_in_chunks(m, data, size, rng, &o);
  if (o.len != want_len || (want_len && memcmp(o.buf, want, want_len) != 0))
    abort();

  size_t *ends = naive ? form_ends(&fs, data, size) : NULL;
  if (naive)
    naive_check(ends, data, size, want, want_len);
  survivor_check(&fs, &o);
  scan_check(m, data, size, rng ^ 0x5bd1e995u, o.n_tokens > 0, &fs, ends);

  /* registered at once, never used before: the same masking */
  if (naive && (mode & 0x08) && !(mode & 0x10)) {
    masker *fresh = masker_new();
    for (size_t i = 0; i < n_secrets; i++) {
      if (mode & 0x40)
        masker_add_exact(fresh, (const char *)secrets[i], secret_lens[i]);
      else
        masker_add_secret_len(fresh, (const char *)secrets[i], secret_lens[i]);
    }
    size_t fresh_len;
    char *again = masker_apply(fresh, (const char *)data, size, &fresh_len);
    if (fresh_len != want_len || memcmp(again, want, want_len) != 0)
      abort();
    free(again);
    masker_free(fresh);
  }

  free(ends);
  forms_free(&fs);
  free(o.buf);
  free(o.tokens);
  free(want);
  masker_free(m);
  return 0;
}

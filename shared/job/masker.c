#include "job/masker.h"

#include "job/masker_internal.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_form(masker *m, const char *bytes, size_t len) {
  if (len < MASKER_MIN_SECRET)
    return 0;
  return masker_trie_insert(m, (const unsigned char *)bytes, len);
}

static void add_base64_forms(masker *m, const char *value, size_t len) {
  if (len > INT_MAX / 2)
    return; /* EVP_EncodeBlock takes an int; no real secret is this big */
  size_t cap = 4 * ((len + 2) / 3) + 1;
  char stack_buf[256];
  char *b64 = cap <= sizeof(stack_buf) ? stack_buf : bw_xmalloc(cap);
  size_t n = (size_t)EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)value, (int)len);
  size_t unpadded = n;
  while (unpadded > 0 && b64[unpadded - 1] == '=')
    unpadded--;
  add_form(m, b64, n);
  if (unpadded < n)
    add_form(m, b64, unpadded);
  bool url_differs = false;
  for (size_t i = 0; i < n; i++) {
    if (b64[i] == '+') {
      b64[i] = '-';
      url_differs = true;
    } else if (b64[i] == '/') {
      b64[i] = '_';
      url_differs = true;
    }
  }
  if (url_differs) {
    add_form(m, b64, n);
    if (unpadded < n)
      add_form(m, b64, unpadded);
  }
  explicit_bzero(b64, cap);
  if (b64 != stack_buf)
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

/* jansson's escaping (dump.c) of an ASCII string: '"', '\\' and the control
 * characters always (\b \f \n \r \t, the others as \u00XX), '/' with
 * JSON_ESCAPE_SLASH; JSON_ENSURE_ASCII changes nothing. Done here because
 * json_dumps costs more than all the rest of a secret's registration, and
 * unit tests compare it with jansson's, byte for byte. Returns the length;
 * out has room for 6 bytes per byte. */
static size_t json_escape_ascii(const char *value, size_t len, bool escape_slash, char *out) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)value[i];
    char short_form = 0;
    switch (c) {
    case '"':
    case '\\':
      short_form = (char)c;
      break;
    case '\b':
      short_form = 'b';
      break;
    case '\f':
      short_form = 'f';
      break;
    case '\n':
      short_form = 'n';
      break;
    case '\r':
      short_form = 'r';
      break;
    case '\t':
      short_form = 't';
      break;
    case '/':
      short_form = escape_slash ? '/' : 0;
      break;
    default:
      break;
    }
    if (short_form) {
      out[n++] = '\\';
      out[n++] = short_form;
    } else if (c < 0x20) {
      memcpy(out + n, "\\u00", 4);
      out[n + 4] = hex[c >> 4];
      out[n + 5] = hex[c & 15];
      n += 6;
    } else {
      out[n++] = (char)c;
    }
  }
  return n;
}

static void add_escaped_forms(masker *m, char *escaped, size_t n) {
  add_form(m, escaped, n);
  if (lowercase_unicode_escapes(escaped, n))
    add_form(m, escaped, n);
}

static void add_json_forms(masker *m, const char *value, size_t len) {
  /* jansson escapes '"', '\\' and control characters always, '/' with
   * JSON_ESCAPE_SLASH and non-ASCII with JSON_ENSURE_ASCII, and copies
   * everything else: a flag set whose escapes the value does not contain
   * writes the plain value (registered already), so it is skipped. */
  bool special = false, slash = false, high = false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)value[i];
    if (c >= 0x80)
      high = true;
    else if (c < 0x20 || c == '"' || c == '\\')
      special = true;
    else if (c == '/')
      slash = true;
  }
  if (!special && !slash && !high)
    return;
  if (!high) {
    char stack_buf[6 * 64];
    char *out = len <= 64 ? stack_buf : bw_xmalloc(6 * len);
    if (special)
      add_escaped_forms(m, out, json_escape_ascii(value, len, false, out));
    if (slash)
      add_escaped_forms(m, out, json_escape_ascii(value, len, true, out));
    explicit_bzero(out, len <= 64 ? sizeof(stack_buf) : 6 * len);
    if (out != stack_buf)
      free(out);
    return;
  }
  /* jansson refuses invalid UTF-8; such a value has no JSON form to mask. */
  json_t *js = json_stringn(value, len);
  if (!js)
    return;
  static const size_t flag_sets[] = {0, JSON_ENSURE_ASCII, JSON_ESCAPE_SLASH,
                                     JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH};
  for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
    size_t flags = flag_sets[f];
    bool escapes =
        special || ((flags & JSON_ESCAPE_SLASH) && slash) || ((flags & JSON_ENSURE_ASCII) && high);
    if (!escapes)
      continue;
    char *dumped = json_dumps(js, JSON_ENCODE_ANY | flags);
    if (!dumped)
      abort();
    size_t n = strlen(dumped);
    if (n >= 2) /* without the quotes */
      add_escaped_forms(m, dumped + 1, n - 2);
    explicit_bzero(dumped, n);
    free(dumped);
  }
  json_decref(js);
}

static void add_value_forms(masker *m, const char *value, size_t len) {
  add_form(m, value, len);
  add_base64_forms(m, value, len);
  add_json_forms(m, value, len);
}

static bool has_alnum(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
        (s[i] >= 'A' && s[i] <= 'Z'))
      return true;
  return false;
}

/* The whole value, and each of its lines when it has several: the worker
 * masks container output line by line, so a printed PEM key arrives as lines
 * that each must be hidden on their own. */
static int add_secret_forms(masker *m, const char *value, size_t len) {
  if (len < MASKER_MIN_SECRET)
    return 0;
  add_value_forms(m, value, len);
  if (!memchr(value, '\n', len))
    return 1;
  const char *end = value + len;
  for (const char *line = value;;) {
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    const char *start = line;
    const char *stop = eol ? eol : end;
    /* A line counts without its indentation and trailing blanks (a component
     * may print it indented otherwise), and only when something of it is
     * more than punctuation: the "  }," of a multi-line JSON secret would
     * otherwise hide every "}," of the logs. */
    while (start < stop && (*start == ' ' || *start == '\t'))
      start++;
    while (stop > start && (stop[-1] == '\r' || stop[-1] == ' ' || stop[-1] == '\t'))
      stop--;
    size_t n = (size_t)(stop - start);
    if (n >= MASKER_MIN_SECRET && has_alnum(start, n))
      add_value_forms(m, start, n);
    if (!eol)
      break;
    line = eol + 1;
  }
  return 1;
}

int masker_add_secret_len(masker *m, const char *value, size_t len) {
  return add_secret_forms(m, value, len);
}

int masker_add_secret(masker *m, const char *value) {
  return masker_add_secret_len(m, value, strlen(value));
}

int masker_add_exact(masker *m, const char *bytes, size_t len) {
  if (len < MASKER_MIN_SECRET)
    return 0;
  add_form(m, bytes, len);
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
  return walk_config(m, config, false);
}

void masker_scan_init(masker_scan *s, const masker *m) {
  *s = (masker_scan){.m = m};
  if (m)
    masker_link_ready(m);
}

void masker_scan_feed(masker_scan *s, const void *bytes, size_t len) {
  const masker *m = s->m;
  if (s->found || !m || m->longest == 0) {
    s->pos += len;
    return;
  }
  masker_link_ready(m);
  const unsigned char *p = bytes;
  uint32_t state = s->state;
  for (size_t i = 0; i < len; i++) {
    if (state == 0) {
      /* the same fast path as masker_stream_feed */
      while (i < len && m->root_next[p[i]] == 0)
        i++;
      if (i == len)
        break;
    }
    state = ac_step(m, state, p[i]);
    uint32_t match = ac_match(m, state);
    if (match) {
      s->found = true;
      s->first_end = s->pos + i + 1;
      s->first_len = match;
      break;
    }
  }
  s->state = state;
  s->pos += len;
}

bool masker_scan_found(const masker_scan *s) {
  return s->found;
}

bool masker_contains(const masker *m, const char *text, size_t len) {
  masker_scan s;
  masker_scan_init(&s, m);
  masker_scan_feed(&s, text, len);
  return s.found;
}

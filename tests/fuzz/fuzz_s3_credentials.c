/* libFuzzer: the AWS credentials file parser (s3_credentials_parse,
 * clients/s3_credentials.h). The first byte picks one of two uses of the rest.
 *
 * Even: any bytes. The first line (up to 64 bytes, any other byte mapped
 *   onto [a-z0-9 ._-]) is the profile, the rest the file. On success both keys are non-empty
 *   (and trimmed), the token is NULL or non-empty, the source is "NAME
 *   [PROFILE]"; on failure a printable BW_ERR_INVALID message under 600 bytes
 *   that starts with the file's name, and nothing left in the struct. Then
 *   the same file again with every value of an aws_access_key_id,
 *   aws_secret_access_key or aws_session_token line (what follows the '=',
 *   in any section) overwritten byte for byte: the outcome and the message
 *   must be the same, so that no message can depend on (hence show) a key.
 *
 * Odd: a file built line by line from fuzz choices (sections in their forms,
 *   key lines with odd spacing and CRLF, comments, blank lines, unknown keys,
 *   decoy key names, now and then a bad line, a NUL or a section without
 *   ']') whose keys carry markers (AKIA..., SECRET..., TOKEN...). A model
 *   says what must come back: the exact values, or the failure and its line.
 *   No message may ever hold a marker.
 *
 * Either way s3_credentials_free leaves the struct empty (twice is fine). */
#include "clients/s3_credentials.h"

#include "core/buffer.h"
#include "core/error.h"
#include "fuzz_choices.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz-credentials"

static void fail(const char *what) {
  fprintf(stderr, "fuzz_s3_credentials: %s\n", what);
  abort();
}

static bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

static void check_value(const char *v, bool may_be_null) {
  if (!v) {
    if (!may_be_null)
      fail("a key is missing after a success");
    return;
  }
  size_t n = strlen(v);
  if (n == 0)
    fail("an empty key or token after a success");
  if (v[0] == ' ' || v[0] == '\t' || blank(v[n - 1]) || strchr(v, '\n'))
    fail("a key that is not trimmed, or holds a newline");
}

static void check_outcome(int rc, const s3_credentials *c, const bw_error_t *err,
                          const char *profile) {
  if (rc == 0) {
    if (*err)
      fail("success with an error set");
    check_value(c->access_key_id, false);
    check_value(c->secret_key, false);
    check_value(c->session_token, true);
    char *want = bw_strdup_printf("%s [%s]", NAME, profile);
    if (!c->source || strcmp(c->source, want) != 0)
      fail("the source is not \"NAME [PROFILE]\"");
    free(want);
    return;
  }
  if (rc != -1 || !*err || !(*err)->msg || (*err)->kind != BW_ERR_INVALID)
    fail("a failure without -1, a message or BW_ERR_INVALID");
  if (c->access_key_id || c->secret_key || c->session_token || c->source)
    fail("a failure left something in the struct");
  const char *m = (*err)->msg;
  if (strncmp(m, NAME ":", strlen(NAME ":")) != 0)
    fail("a message that does not start with the file's name");
  size_t n = strnlen(m, 600);
  if (n >= 600)
    fail("a message of 600 bytes or more");
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)m[i] < 0x20 || (unsigned char)m[i] > 0x7e)
      fail("a message with a byte that is not printable");
}

static void free_and_check(s3_credentials *c) {
  s3_credentials_free(c);
  if (c->access_key_id || c->secret_key || c->session_token || c->source)
    fail("s3_credentials_free left something behind");
  s3_credentials_free(c);
}

/* ---- any bytes -------------------------------------------------------------------------- */

static bool is_key_name(const char *k, size_t n) {
  static const char *const names[] = {"aws_access_key_id", "aws_secret_access_key",
                                      "aws_session_token"};
  for (size_t i = 0; i < 3; i++)
    if (strlen(names[i]) == n && memcmp(names[i], k, n) == 0)
      return true;
  return false;
}

/* Overwrites the value of every key line, leaving NUL, blanks and the line
 * structure as they were: what the parser sees as lines, sections, comments
 * and keys does not change, only what the keys say. */
static void mask_values(char *text, size_t len) {
  for (size_t start = 0; start < len;) {
    char *nl = memchr(text + start, '\n', len - start);
    size_t end = nl ? (size_t)(nl - text) : len;
    size_t i = start;
    while (i < end && (text[i] == ' ' || text[i] == '\t'))
      i++;
    char *eq = memchr(text + i, '=', end - i);
    if (i < end && text[i] != '#' && text[i] != ';' && text[i] != '[' && eq) {
      size_t k_end = (size_t)(eq - text);
      while (k_end > i && blank(text[k_end - 1]))
        k_end--;
      if (is_key_name(text + i, k_end - i))
        for (size_t v = (size_t)(eq - text) + 1; v < end; v++)
          if (text[v] != '\0' && !blank(text[v]))
            text[v] = text[v] == 'Z' ? 'Q' : 'Z';
    }
    start = end + 1;
  }
}

static void fuzz_any_bytes(const uint8_t *data, size_t size) {
  static const char charset[] = "abcdefghijklmnopqrstuvwxyz0123456789 ._-";
  const uint8_t *nl = memchr(data, '\n', size);
  size_t plen = nl ? (size_t)(nl - data) : 0;
  if (plen > 64)
    plen = 64;
  char profile[65];
  for (size_t i = 0; i < plen; i++)
    profile[i] = data[i] && strchr(charset, data[i]) ? (char)data[i]
                                                     : charset[data[i] % (sizeof(charset) - 1)];
  profile[plen] = '\0';
  if (!plen)
    snprintf(profile, sizeof(profile), "default");
  size_t skip = nl ? (size_t)(nl - data) + 1 : 0;
  const char *text = (const char *)data + skip;
  size_t len = size - skip;

  s3_credentials c, masked;
  bw_error_t err = NULL, masked_err = NULL;
  int rc = s3_credentials_parse(text, len, profile, NAME, &c, &err);
  check_outcome(rc, &c, &err, profile);

  char *copy = bw_strdup_bytes(text, len);
  mask_values(copy, len);
  int masked_rc = s3_credentials_parse(copy, len, profile, NAME, &masked, &masked_err);
  if (masked_rc != rc)
    fail("the outcome depends on what a key says");
  if (rc < 0 && strcmp(err->msg, masked_err->msg) != 0) {
    fprintf(stderr, "fuzz_s3_credentials: \"%s\" became \"%s\"\n", err->msg, masked_err->msg);
    fail("the message depends on what a key says");
  }
  if (rc == 0 &&
      (strlen(c.access_key_id) != strlen(masked.access_key_id) ||
       strlen(c.secret_key) != strlen(masked.secret_key) ||
       !c.session_token != !masked.session_token || strcmp(c.source, masked.source) != 0))
    fail("the masked file gave other keys than the file");
  free(copy);
  free_and_check(&c);
  free_and_check(&masked);
  bw_error_release(&err);
  bw_error_release(&masked_err);
}

/* ---- files with known keys -------------------------------------------------------------- */

static const char *pick(src *s, const char *const *list, size_t n) {
  return list[take(s) % n];
}
#define PICK(s, ...)                                                                               \
  pick(s, (const char *const[]){__VA_ARGS__},                                                      \
       sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* What the model expects. */
typedef struct model {
  bool in_profile, found;
  char *vals[3];   /* id, secret, token: the last ones of the profile's sections */
  size_t bad_line; /* 0: none */
  const char *bad; /* what the message says of it */
} model;

static const char *const key_names[] = {"aws_access_key_id", "aws_secret_access_key",
                                        "aws_session_token"};
static const char *const markers[] = {"AKIA", "SECRET", "TOKEN"};

/* A marker and a few of [A-Za-z0-9/+=], or "" now and then. */
static char *take_key_value(src *s, int which) {
  static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+=";
  unsigned n = take(s) % 24;
  if (n == 23)
    return bw_strdup("");
  char v[64];
  size_t len = (size_t)snprintf(v, sizeof(v), "%s", markers[which]);
  for (unsigned i = 0; i < n; i++)
    v[len++] = chars[take(s) % (sizeof(chars) - 1)];
  v[len] = '\0';
  return bw_strdup(v);
}

static void put(bw_buffer *b, const char *text) {
  bw_buffer_append(b, text, strlen(text));
}

/* Appends one line (without its end) and tells the model what it means. */
static void put_line(src *s, bw_buffer *b, const char *profile, model *m, size_t line_no) {
  unsigned op = take(s) % 14;
  char *text = NULL;
  if (op == 0) {
    static const char *const forms[][2] = {{"[", "]"},     {"[profile ", "]"},
                                           {"[ ", " ]"},   {"[profile   ", "]"},
                                           {"  [", "]\t"}, {"[ profile ", "]"}};
    const char *const *f = forms[take(s) % 6];
    text = bw_strdup_printf("%s%s%s", f[0], profile, f[1]);
    m->in_profile = m->found = true;
  } else if (op == 1) {
    static const char *const forms[][2] = {
        {"[other", "]"}, {"[profile other", "]"}, {"[", "-x]"}, {"[profile", "]"},
        {"[x ", "]"},    {"[default", "]"},       {"[", "]"},   {"[profile", "]"}};
    unsigned k = take(s) % 8;
    /* the first two and the last three do not hold the profile's name */
    text = bw_strdup_printf("%s%s%s", forms[k][0], k == 2 || k == 3 || k == 4 ? profile : "",
                            forms[k][1]);
    m->in_profile = false;
  } else if (op <= 6) {
    int which = (int)(take(s) % 3);
    bool decoy = take(s) % 6 == 0;
    const char *key = decoy ? PICK(s, "AWS_SECRET_ACCESS_KEY", "aws_secret_access_key_x",
                                   "x aws_access_key_id", "aws_session_token2")
                            : key_names[which];
    static const char *const forms[][3] = {
        {"", "=", ""}, {"", " = ", ""}, {"  ", "\t=\t", "  "}, {"", " =", "\t"}, {"\t", "= ", ""}};
    const char *const *f = forms[take(s) % 5];
    char *value = take_key_value(s, which);
    text = bw_strdup_printf("%s%s%s%s%s", f[0], key, f[1], value, f[2]);
    if (!decoy && m->in_profile) {
      free(m->vals[which]);
      m->vals[which] = value;
      value = NULL;
    }
    free(value);
  } else if (op == 7) {
    text = bw_strdup(PICK(s, "# comment", "; comment = x", "   # [default]", "#", ";[profile x"));
  } else if (op == 8) {
    text = bw_strdup(PICK(s, "", "   ", "\t", "region = us-east-1", "output=json", "x ="));
  } else if (op == 9 && take(s) % 4 == 0) {
    text = bw_strdup(PICK(s, "garbage", "aws_secret_access_key SECRETnoequals", "[p"));
    m->bad = strchr(text, '[') ? "a section without ']'" : "expected key = value or [profile]";
  } else if (op == 10 && take(s) % 4 == 0) {
    put(b, "aws_secret_access_key = SECRET");
    bw_buffer_append(b, "\0", 1);
    text = bw_strdup("tail");
    m->bad = "a NUL byte";
  } else {
    text = bw_strdup("");
  }
  put(b, text);
  free(text);
  if (m->bad && !m->bad_line)
    m->bad_line = line_no;
}

static void check_no_marker(const char *msg) {
  for (size_t i = 0; i < 3; i++)
    if (strstr(msg, markers[i]))
      fail("a message holds a key (its marker)");
}

static void expect_key(const char *got, const char *want, const char *what) {
  if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0)) {
    fprintf(stderr, "fuzz_s3_credentials: %s: got %s, want %s\n", what, got ? got : "NULL",
            want ? want : "NULL");
    abort();
  }
}

static void fuzz_known_keys(const uint8_t *data, size_t size) {
  src s = {data, size};
  static const char pchars[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
  char profile[16] = "p-";
  size_t plen = 2 + take(&s) % 8;
  for (size_t i = 2; i < plen; i++)
    profile[i] = pchars[take(&s) % (sizeof(pchars) - 1)];
  profile[plen] = '\0';

  bw_buffer b;
  bw_buffer_init(&b, 0);
  put(&b, "");
  model m = {0};
  unsigned lines = take(&s) % 24;
  for (size_t i = 1; i <= lines && !m.bad; i++) {
    put_line(&s, &b, profile, &m, i);
    if (i < lines || take(&s) % 2)
      put(&b, take(&s) % 3 ? "\n" : "\r\n");
  }

  s3_credentials c;
  bw_error_t err = NULL;
  int rc = s3_credentials_parse(b.data, b.len, profile, NAME, &c, &err);
  check_outcome(rc, &c, &err, profile);
  char *want = NULL;
  if (m.bad)
    want = bw_strdup_printf("%s:%zu: %s", NAME, m.bad_line, m.bad);
  else if (!m.found)
    want = bw_strdup_printf("%s: no profile [%s]", NAME, profile);
  else if (!m.vals[0] || !*m.vals[0] || !m.vals[1] || !*m.vals[1])
    want = bw_strdup_printf("%s: profile [%s] needs", NAME, profile);
  if (want) {
    if (rc == 0 || strncmp(err->msg, want, strlen(want)) != 0) {
      fprintf(stderr, "fuzz_s3_credentials: got \"%s\", want \"%s...\"\n",
              rc == 0 ? "success" : err->msg, want);
      abort();
    }
    check_no_marker(err->msg);
  } else {
    if (rc != 0) {
      fprintf(stderr, "fuzz_s3_credentials: a good file failed: %s\n", err->msg);
      abort();
    }
    expect_key(c.access_key_id, m.vals[0], "aws_access_key_id");
    expect_key(c.secret_key, m.vals[1], "aws_secret_access_key");
    expect_key(c.session_token, m.vals[2] && *m.vals[2] ? m.vals[2] : NULL, "aws_session_token");
  }
  free(want);
  for (size_t i = 0; i < 3; i++)
    free(m.vals[i]);
  free_and_check(&c);
  bw_error_release(&err);
  bw_buffer_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  if (data[0] % 2)
    fuzz_known_keys(data + 1, size - 1);
  else
    fuzz_any_bytes(data + 1, size - 1);
  return 0;
}

/* shared/job/masker.h: secret forms, config walk, overlap rules, streaming. */
#include "job/masker.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <pthread.h>

/* Masks a C string and compares with the expected C string. */
static void expect_masked(const masker *m, const char *text, const char *want) {
  size_t n = 0;
  char *got = masker_apply(m, text, strlen(text), &n);
  if (n != strlen(want) || memcmp(got, want, n) != 0)
    fail_msg("masking \"%s\": got \"%s\", want \"%s\"", text, got, want);
  assert_int_equal(got[n], '\0');
  free(got);
}

static json_t *json_from(const char *text) {
  json_error_t jerr;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
  if (!v)
    fail_msg("test JSON %s: %s", text, jerr.text);
  return v;
}

static void test_free_accepts_null(void **state) {
  masker_free(NULL);
  masker_stream_free(NULL);
}

static void test_empty_and_null_masker_copy(void **state) {
  masker *m = masker_new();
  assert_int_equal(masker_longest(m), 0);
  assert_int_equal(masker_forms(m), 0);
  expect_masked(m, "nothing to hide", "nothing to hide");
  expect_masked(NULL, "nothing to hide", "nothing to hide");
  size_t n = 99;
  char *got = masker_apply(m, "", 0, &n);
  assert_int_equal(n, 0);
  assert_string_equal(got, "");
  free(got);
  masker_free(m);
}

static void test_plain_secret(void **state) {
  masker *m = masker_new();
  assert_int_equal(masker_add_secret(m, "s3cr3t-value"), 1);
  expect_masked(m, "token=s3cr3t-value; again s3cr3t-value.", "token=[hidden]; again [hidden].");
  expect_masked(m, "s3cr3t-valu", "s3cr3t-valu"); /* a prefix is not the secret */
  expect_masked(m, "s3cr3t-value", "[hidden]");
  masker_free(m);
}

static void test_short_values_ignored(void **state) {
  masker *m = masker_new();
  assert_int_equal(masker_add_secret(m, ""), 0);
  assert_int_equal(masker_add_secret(m, "a"), 0);
  assert_int_equal(masker_add_secret(m, "ab"), 0);
  assert_int_equal(masker_add_exact(m, "ab", 2), 0);
  assert_int_equal(masker_forms(m), 0);
  expect_masked(m, "a ab abc", "a ab abc");
  assert_int_equal(masker_add_secret(m, "abc"), 1);
  /* "abc" is its own JSON form; base64 "YWJj" has no padding to strip */
  assert_int_equal(masker_forms(m), 2);
  assert_int_equal(masker_longest(m), 4);
  expect_masked(m, "a ab abc YWJj", "a ab [hidden] [hidden]");
  masker_free(m);
}

static void test_adjacent_and_repeated(void **state) {
  masker *m = masker_new();
  masker_add_exact(m, "abc", 3);
  expect_masked(m, "abcabc", "[hidden][hidden]");
  expect_masked(m, "ababcab", "ab[hidden]ab");
  masker_free(m);
  m = masker_new();
  masker_add_exact(m, "aaa", 3);
  /* overlapping occurrences of one secret are one region */
  expect_masked(m, "aaaa", "[hidden]");
  expect_masked(m, "aaaaaaa", "[hidden]");
  expect_masked(m, "aa", "aa");
  masker_free(m);
}

static void test_base64_forms(void **state) {
  masker *m = masker_new();
  masker_add_secret(m, "hunter2>>?");
  expect_masked(m, "raw hunter2>>? end", "raw [hidden] end");
  expect_masked(m, "Basic aHVudGVyMj4+Pw== end", "Basic [hidden] end");
  expect_masked(m, "nopad aHVudGVyMj4+Pw end", "nopad [hidden] end");
  expect_masked(m, "url aHVudGVyMj4-Pw== end", "url [hidden] end");
  expect_masked(m, "url-nopad aHVudGVyMj4-Pw.", "url-nopad [hidden].");
  expect_masked(m, "other aHVudGVyMj4", "other aHVudGVyMj4");
  masker_free(m);
}

static void test_base64_matches_openssl(void **state) {
  /* every length mod 3, so each padding case is covered */
  const char *values[] = {"abc", "abcd", "abcde", "abcdef", "\xff\xfe\xfd\xfc"};
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    masker *m = masker_new();
    masker_add_secret(m, values[i]);
    static const char *const b64[] = {"YWJj", "YWJjZA==", "YWJjZGU=", "YWJjZGVm", "//79/A=="};
    char text[64];
    snprintf(text, sizeof(text), "<%s>", b64[i]);
    expect_masked(m, text, "<[hidden]>");
    masker_free(m);
  }
}

static void test_json_escaped_forms(void **state) {
  masker *m = masker_new();
  const char *value = "s\xc3\xa9\"c\\r/t\n";
  masker_add_secret(m, value);
  expect_masked(m, "plain s\xc3\xa9\"c\\r/t\n!", "plain [hidden]!");
  /* jansson default, JSON_ENSURE_ASCII, lower-case escapes, JSON_ESCAPE_SLASH */
  expect_masked(m, "{\"p\":\"s\xc3\xa9\\\"c\\\\r/t\\n\"}", "{\"p\":\"[hidden]\"}");
  expect_masked(m, "{\"p\":\"s\\u00E9\\\"c\\\\r/t\\n\"}", "{\"p\":\"[hidden]\"}");
  expect_masked(m, "{\"p\":\"s\\u00e9\\\"c\\\\r/t\\n\"}", "{\"p\":\"[hidden]\"}");
  expect_masked(m, "{\"p\":\"s\\u00e9\\\"c\\\\r\\/t\\n\"}", "{\"p\":\"[hidden]\"}");

  /* and whatever jansson itself writes for a document holding the value */
  json_t *doc = json_pack("{s:s}", "#password", value);
  for (size_t flags = 0; flags <= (JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH); flags++) {
    if (flags & ~(size_t)(JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH))
      continue;
    char *text = json_dumps(doc, JSON_COMPACT | flags);
    expect_masked(m, text, "{\"#password\":\"[hidden]\"}");
    free(text);
  }
  json_decref(doc);
  masker_free(m);
}

/* The JSON forms of ASCII values are escaped by masker.c itself: every one
 * jansson writes must be masked, for every ASCII byte in a value. */
static void test_json_forms_match_jansson_for_ascii(void **state) {
  static const size_t flag_sets[] = {0, JSON_ENSURE_ASCII, JSON_ESCAPE_SLASH,
                                     JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH};
  unsigned seed = 3;
  for (int c = 0; c < 128 + 200; c++) {
    char value[16];
    size_t len;
    if (c < 128) {
      len = 5;
      memcpy(value, "ab?cd", 5);
      value[2] = (char)c;
    } else { /* random ASCII, controls and specials included */
      len = 3 + (size_t)(rand_r(&seed) % 12);
      for (size_t k = 0; k < len; k++)
        value[k] = (char)(rand_r(&seed) % 128);
    }
    masker *m = masker_new();
    masker_add_secret_len(m, value, len);
    json_t *js = json_stringn(value, len);
    assert_non_null(js);
    for (size_t f = 0; f < 4; f++) {
      char *dumped = json_dumps(js, JSON_ENCODE_ANY | flag_sets[f]);
      size_t n = strlen(dumped);
      for (int lower = 0; lower < 2; lower++) {
        if (lower) {
          for (size_t k = 0; k + 5 < n; k++) {
            if (dumped[k] == '\\' && dumped[k + 1] == 'u') {
              for (size_t h = k + 2; h < k + 6; h++)
                dumped[h] =
                    (char)(dumped[h] >= 'A' && dumped[h] <= 'F' ? dumped[h] + 32 : dumped[h]);
            } else if (dumped[k] == '\\') {
              k++;
            }
          }
        }
        size_t got_len;
        char *got = masker_apply(m, dumped, n, &got_len);
        if (got_len != 2 + MASKER_HIDDEN_LEN || memcmp(got, "\"[hidden]\"", got_len) != 0)
          fail_msg("value %d (len %zu), flags %zu, lower %d: %s masked as %s", c, len, flag_sets[f],
                   lower, dumped, got);
        free(got);
      }
      free(dumped);
    }
    json_decref(js);
    masker_free(m);
  }
}

static void test_json_form_outside_bmp_and_control(void **state) {
  masker *m = masker_new();
  masker_add_secret(m, "k\x01\xf0\x9f\x98\x80y");
  expect_masked(m, "[k\\u0001\\uD83D\\uDE00y]", "[[hidden]]");
  expect_masked(m, "[k\\u0001\\ud83d\\ude00y]", "[[hidden]]");
  expect_masked(m, "[k\\u0001\xf0\x9f\x98\x80y]", "[[hidden]]");
  masker_free(m);
}

static void test_invalid_utf8_has_no_json_form(void **state) {
  masker *m = masker_new();
  assert_int_equal(masker_add_secret(m, "ab\xff\"cd"), 1);
  expect_masked(m, "x ab\xff\"cd y", "x [hidden] y");
  masker_free(m);
}

static void test_nul_bytes(void **state) {
  masker *m = masker_new();
  masker_add_secret_len(m, "a\0bc", 4);
  size_t n;
  char *got = masker_apply(m, "1a\0bc2", 6, &n);
  assert_int_equal(n, 2 + MASKER_HIDDEN_LEN);
  assert_memory_equal(got, "1[hidden]2", n);
  free(got);
  /* JSON form of a NUL byte */
  expect_masked(m, "a\\u0000bc", "[hidden]");
  masker_free(m);
}

static void test_config_walk(void **state) {
  json_t *config = json_from("{"
                             " \"parameters\": {"
                             "   \"#api_key\": \"key-in-object\","
                             "   \"user\": \"not-a-secret\","
                             "   \"nested\": {\"deeper\": [{\"#token\": \"tok-in-array\"}]},"
                             "   \"list\": [\"plain-item\", {\"x\": {\"#pin\": 98765}}],"
                             "   \"#ratio\": 3.14159,"
                             "   \"#flag\": true,"
                             "   \"#none\": null,"
                             "   \"#short\": \"ab\","
                             "   \"#bundle\": {\"a\": \"bundle-a\", \"b\": [\"bundle-b\", 4242]}"
                             " },"
                             " \"authorization\": {\"oauth_api\": {\"credentials\": "
                             "   {\"#data\": \"{\\\"refresh\\\":\\\"r3fr3sh\\\"}\"}}}"
                             "}");
  masker *m = masker_new();
  /* api_key, token, pin, ratio, bundle-a, bundle-b, 4242, #data */
  assert_int_equal(masker_add_config(m, config), 8);
  expect_masked(m, "key-in-object tok-in-array 98765 3.14159 not-a-secret plain-item",
                "[hidden] [hidden] [hidden] [hidden] not-a-secret plain-item");
  expect_masked(m, "bundle-a bundle-b 4242 true ab", "[hidden] [hidden] [hidden] true ab");
  expect_masked(m, "{\"refresh\":\"r3fr3sh\"}", "[hidden]");
  expect_masked(m, "{\\\"refresh\\\":\\\"r3fr3sh\\\"}", "[hidden]");
  /* jansson writes the real as 17 digits in config.json */
  expect_masked(m, "3.1415899999999999", "[hidden]");
  assert_int_equal(masker_add_config(m, NULL), 0);
  json_decref(config);
  masker_free(m);
}

static void test_config_top_level_array_and_scalar(void **state) {
  masker *m = masker_new();
  json_t *config = json_from("[[{\"#a\": \"deep-secret\"}], \"#notakey\", 5]");
  assert_int_equal(masker_add_config(m, config), 1);
  json_decref(config);
  config = json_from("\"just a string\"");
  assert_int_equal(masker_add_config(m, config), 0);
  json_decref(config);
  expect_masked(m, "deep-secret #notakey", "[hidden] #notakey");
  masker_free(m);
}

static void test_overlapping_secrets(void **state) {
  masker *m = masker_new();
  masker_add_exact(m, "abcdef", 6);
  masker_add_exact(m, "cdefgh", 6);
  /* no byte of either match is shown */
  expect_masked(m, "xxabcdefghyy", "xx[hidden]yy");
  expect_masked(m, "abcdef cdefgh", "[hidden] [hidden]");
  masker_free(m);

  m = masker_new();
  masker_add_exact(m, "abc", 3);
  masker_add_exact(m, "abcdef", 6);
  masker_add_exact(m, "bcd", 3);
  /* the longer form wins over the one inside it */
  expect_masked(m, "abcdefabcx", "[hidden][hidden]x");
  expect_masked(m, "abcde", "[hidden]e"); /* abc and bcd overlap: one region */
  masker_free(m);
}

static void test_failure_links(void **state) {
  masker *m = masker_new();
  masker_add_exact(m, "aab", 3);
  masker_add_exact(m, "abcd", 4);
  masker_add_exact(m, "bcx", 3);
  expect_masked(m, "aaab", "a[hidden]");
  expect_masked(m, "aabcd", "[hidden]");   /* aab and abcd overlap */
  expect_masked(m, "xabcx", "xa[hidden]"); /* abcd fails at x, bcx found by fail link */
  expect_masked(m, "aaabcx", "a[hidden]"); /* aab + bcx overlap at b */
  masker_free(m);
}

/* ---- streaming ---------------------------------------------------------- */

typedef struct collect {
  char *buf;
  size_t len;
  size_t cap;
} collect;

static void collect_sink(void *ctx, const char *bytes, size_t len, bool hidden) {
  collect *c = ctx;
  if (hidden)
    assert_memory_equal(bytes, MASKER_HIDDEN, MASKER_HIDDEN_LEN);
  if (c->len + len > c->cap) {
    c->cap = (c->len + len) * 2;
    c->buf = realloc(c->buf, c->cap);
    assert_non_null(c->buf);
  }
  memcpy(c->buf + c->len, bytes, len);
  c->len += len;
}

static masker *sample_masker(void) {
  masker *m = masker_new();
  masker_add_secret(m, "p4ssw0rd!");
  masker_add_secret(m, "tok\"en\\x");
  masker_add_exact(m, "abab", 4);
  masker_add_exact(m, "babx", 4);
  return m;
}

static void test_stream_equals_apply_at_every_split(void **state) {
  masker *m = sample_masker();
  const char *text = "ababab p4ssw0rd! cDRzc3cwcmQh tok\\\"en\\\\x babx abababx p4ssw0rd";
  size_t len = strlen(text);
  size_t want_len;
  char *want = masker_apply(m, text, len, &want_len);
  for (size_t a = 0; a <= len; a++) {
    for (size_t b = a; b <= len; b++) {
      collect c = {0};
      masker_stream *s = masker_stream_new(m, collect_sink, &c);
      masker_stream_feed(s, text, a);
      masker_stream_feed(s, text + a, b - a);
      masker_stream_feed(s, text + b, len - b);
      masker_stream_flush(s);
      if (c.len != want_len || memcmp(c.buf, want, want_len) != 0)
        fail_msg("split %zu/%zu: got %.*s", a, b, (int)c.len, c.buf);
      masker_stream_free(s);
      free(c.buf);
    }
  }
  free(want);
  masker_free(m);
}

static void test_stream_holds_back_at_most_longest(void **state) {
  masker *m = sample_masker();
  collect c = {0};
  masker_stream *s = masker_stream_new(m, collect_sink, &c);
  char chunk[1000];
  memset(chunk, 'z', sizeof(chunk));
  masker_stream_feed(s, chunk, sizeof(chunk));
  assert_int_equal(c.len, sizeof(chunk)); /* 'z' starts no secret: nothing held */
  masker_stream_feed(s, "xxp4ssw0r", 9);
  assert_int_equal(c.len, sizeof(chunk) + 2); /* the start of a secret is held */
  masker_stream_feed(s, "d!", 2);
  masker_stream_feed(s, "abababababab", 12); /* overlapping "abab": held to the end */
  assert_true(c.len >= sizeof(chunk) + 2 + MASKER_HIDDEN_LEN);
  masker_stream_flush(s);
  assert_int_equal(c.len, sizeof(chunk) + 2 + 2 * MASKER_HIDDEN_LEN);
  assert_memory_equal(c.buf + sizeof(chunk), "xx[hidden][hidden]", c.len - sizeof(chunk));
  c.len = sizeof(chunk);
  /* reusable after a flush; a secret cut by the flush is not joined up */
  masker_stream_feed(s, "p4ss", 4);
  masker_stream_flush(s);
  masker_stream_feed(s, "w0rd!", 5);
  masker_stream_flush(s);
  assert_memory_equal(c.buf + sizeof(chunk), "p4ssw0rd!", 9);
  masker_stream_feed(s, "ababababab", 10);
  size_t before = masker_stream_footprint(s);
  for (int i = 0; i < 1000; i++)
    masker_stream_feed(s, "ababababab", 10);
  masker_stream_flush(s);
  assert_int_equal(masker_stream_footprint(s), before);
  masker_stream_free(s);
  free(c.buf);
  masker_free(m);
}

/* The naive reference: every occurrence of every form, regions that share a
 * byte merged, touching ones kept apart. */
static char *naive_mask(char **forms, size_t n_forms, const char *text, size_t len,
                        size_t *out_len) {
  size_t *ends = calloc(len + 1, sizeof(size_t));
  for (size_t i = 0; i < len; i++) {
    for (size_t f = 0; f < n_forms; f++) {
      size_t fl = strlen(forms[f]);
      if (fl <= len - i && memcmp(text + i, forms[f], fl) == 0 && ends[i] < i + fl)
        ends[i] = i + fl;
    }
  }
  char *out = malloc(len * 8 + 1);
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    if (ends[i] == 0) {
      out[o++] = text[i++];
      continue;
    }
    size_t end = ends[i];
    for (size_t k = i; k < end; k++) {
      if (ends[k] > end)
        end = ends[k];
    }
    memcpy(out + o, MASKER_HIDDEN, MASKER_HIDDEN_LEN);
    o += MASKER_HIDDEN_LEN;
    i = end;
  }
  free(ends);
  out[o] = '\0';
  *out_len = o;
  return out;
}

static void test_differential_against_naive(void **state) {
  unsigned seed = 12345;
  for (int round = 0; round < 300; round++) {
    masker *m = masker_new();
    char *forms[8];
    size_t n_forms = 1 + (size_t)(rand_r(&seed) % 8);
    for (size_t f = 0; f < n_forms; f++) {
      size_t fl = 3 + (size_t)(rand_r(&seed) % 5);
      forms[f] = calloc(fl + 1, 1);
      for (size_t k = 0; k < fl; k++)
        forms[f][k] = (char)('a' + rand_r(&seed) % 3);
      masker_add_exact(m, forms[f], fl);
    }
    char text[300];
    size_t len = (size_t)(rand_r(&seed) % sizeof(text));
    for (size_t k = 0; k < len; k++)
      text[k] = (char)('a' + rand_r(&seed) % 3);
    size_t got_len, want_len;
    char *got = masker_apply(m, text, len, &got_len);
    char *want = naive_mask(forms, n_forms, text, len, &want_len);
    if (got_len != want_len || memcmp(got, want, got_len) != 0)
      fail_msg("round %d: text %.*s\n got  %s\n want %s", round, (int)len, text, got, want);
    free(got);
    free(want);
    for (size_t f = 0; f < n_forms; f++)
      free(forms[f]);
    masker_free(m);
  }
}

/* ---- multi-line secrets ------------------------------------------------- */

static char *base64_of(const char *bytes, size_t len, bool url) {
  char *out = malloc(4 * ((len + 2) / 3) + 1);
  int n = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)bytes, (int)len);
  for (int i = 0; url && i < n; i++) {
    if (out[i] == '+')
      out[i] = '-';
    else if (out[i] == '/')
      out[i] = '_';
  }
  out[n] = '\0';
  return out;
}

/* A PEM block: BEGIN and END lines around 64-character base64 lines. */
static char *pem_block(const char *line_end) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *pem = malloc(4096);
  size_t n = (size_t)sprintf(pem, "-----BEGIN PRIVATE KEY-----%s", line_end);
  unsigned seed = 7;
  for (int line = 0; line < 6; line++) {
    for (int k = 0; k < 64; k++)
      pem[n++] = alphabet[rand_r(&seed) % 64];
    n += (size_t)sprintf(pem + n, "%s", line_end);
  }
  sprintf(pem + n, "-----END PRIVATE KEY-----%s", line_end);
  return pem;
}

/* Masks each line of text (split on '\n') on its own, as the worker does with
 * container output, and expects every line to be entirely hidden. */
static void expect_each_line_hidden(const masker *m, const char *text) {
  for (const char *line = text; *line;) {
    const char *eol = strchr(line, '\n');
    size_t len = eol ? (size_t)(eol - line) : strlen(line);
    size_t n;
    char *got = masker_apply(m, line, len, &n);
    bool cr = len > 0 && line[len - 1] == '\r';
    if (n != MASKER_HIDDEN_LEN + cr || memcmp(got, MASKER_HIDDEN, MASKER_HIDDEN_LEN) != 0)
      fail_msg("line \"%.*s\" masked as \"%s\"", (int)len, line, got);
    free(got);
    line += len + (eol ? 1 : 0);
  }
}

static void test_pem_key_hidden_line_by_line(void **state) {
  char *pem = pem_block("\n");
  masker *m = masker_new();
  assert_int_equal(masker_add_secret(m, pem), 1);
  expect_each_line_hidden(m, pem);
  /* streamed line by line, flushed at each end of line, as log_stream does */
  collect c = {0};
  masker_stream *s = masker_stream_new(m, collect_sink, &c);
  for (const char *line = pem; *line;) {
    size_t len = (size_t)(strchr(line, '\n') - line);
    masker_stream_feed(s, line, len / 2);
    masker_stream_feed(s, line + len / 2, len - len / 2);
    masker_stream_flush(s);
    line += len + 1;
  }
  assert_int_equal(c.len, 8 * MASKER_HIDDEN_LEN);
  masker_stream_free(s);
  free(c.buf);
  masker_free(m);
  free(pem);
}

static void test_pem_key_whole_forms(void **state) {
  char *pem = pem_block("\n");
  json_t *config = json_pack("{s:{s:s}}", "parameters", "#private_key", pem);
  masker *m = masker_new();
  assert_int_equal(masker_add_config(m, config), 1);
  char *b64 = base64_of(pem, strlen(pem), false);
  char *b64url = base64_of(pem, strlen(pem), true);
  char *escaped = json_dumps(json_object_get(json_object_get(config, "parameters"), "#private_key"),
                             JSON_ENCODE_ANY);
  assert_non_null(strstr(escaped, "\\n"));
  char *text = malloc(strlen(pem) + strlen(b64) + strlen(b64url) + strlen(escaped) + 64);
  sprintf(text, "raw=%s| b64=%s b64url=%s json=%s.", pem, b64, b64url, escaped);
  expect_masked(m, text, "raw=[hidden]| b64=[hidden] b64url=[hidden] json=\"[hidden]\".");
  /* and the config as jansson writes it (config.json, an event) */
  char *doc = json_dumps(config, JSON_COMPACT);
  expect_masked(m, doc, "{\"parameters\":{\"#private_key\":\"[hidden]\"}}");
  /* one line, base64-encoded on its own, is hidden too */
  const char *line2 = strchr(pem, '\n') + 1;
  char *line_b64 = base64_of(line2, 64, false);
  expect_masked(m, line_b64, "[hidden]");
  free(line_b64);
  free(doc);
  free(text);
  free(escaped);
  free(b64url);
  free(b64);
  json_decref(config);
  masker_free(m);
  free(pem);
}

static void test_crlf_line_ends(void **state) {
  char *pem = pem_block("\r\n");
  masker *m = masker_new();
  masker_add_secret(m, pem);
  expect_each_line_hidden(m, pem); /* each "line\r" becomes "[hidden]\r" */
  expect_masked(m, "-----END PRIVATE KEY-----", "[hidden]");
  /* the whole value, and its JSON form with \r\n escaped */
  expect_masked(m, pem, "[hidden]");
  json_t *js = json_string(pem);
  char *escaped = json_dumps(js, JSON_ENCODE_ANY);
  assert_non_null(strstr(escaped, "\\r\\n"));
  expect_masked(m, escaped, "\"[hidden]\"");
  free(escaped);
  json_decref(js);
  masker_free(m);
  free(pem);

  m = masker_new();
  masker_add_secret(m, "first-line\r\nsecond-line\r\n");
  expect_masked(m, "a first-line b", "a [hidden] b");
  expect_masked(m, "second-line\r", "[hidden]\r");
  expect_masked(m, "first-line\r\nsecond-line\r\n", "[hidden]");
  masker_free(m);
}

static void test_multiline_json_document(void **state) {
  const char *doc = "{\n"
                    "  \"type\": \"service_account\",\n"
                    "  \"private_key_id\": \"4f1c2b9e8d7a\",\n"
                    "  \"client_email\": \"bot@example.iam\"\n"
                    "}\n";
  json_t *config = json_pack("{s:{s:s}}", "authorization", "#credentials", doc);
  masker *m = masker_new();
  assert_int_equal(masker_add_config(m, config), 1);
  /* printed line by line, whatever the indentation (the "{" and "}" lines,
   * punctuation only, are not secrets) */
  expect_masked(m, "  \"private_key_id\": \"4f1c2b9e8d7a\",", "  [hidden]");
  expect_masked(m, "\"client_email\": \"bot@example.iam\"", "[hidden]");
  expect_masked(m, "{", "{");
  expect_masked(m, "}", "}");
  expect_masked(m, "  },", "  },");
  /* the whole document, and as a JSON string (a log line of JSON) */
  expect_masked(m, doc, "[hidden]");
  char *dumped = json_dumps(config, JSON_COMPACT);
  expect_masked(m, dumped, "{\"authorization\":{\"#credentials\":\"[hidden]\"}}");
  free(dumped);
  /* a line JSON-escaped on its own: {"msg":"  \"type\": \"service_account\","} */
  expect_masked(m, "{\"msg\":\"  \\\"type\\\": \\\"service_account\\\",\"}",
                "{\"msg\":\"  [hidden]\"}");
  json_decref(config);
  masker_free(m);
}

static void test_short_lines_skipped(void **state) {
  masker *m = masker_new();
  assert_int_equal(masker_add_secret(m, "ab\ncd\r\nefgh\n\n"), 1);
  expect_masked(m, "ab cd efgh", "ab cd [hidden]");
  masker_free(m);
  m = masker_new();
  /* shorter than MASKER_MIN_SECRET as a whole: nothing */
  assert_int_equal(masker_add_secret(m, "a\n"), 0);
  assert_int_equal(masker_forms(m), 0);
  masker_free(m);
}

/* ---- scanning ----------------------------------------------------------- */

static void test_contains(void **state) {
  masker *m = masker_new();
  masker_add_secret(m, "p4ssw0rd!");
  assert_true(masker_contains(m, "p4ssw0rd!", 9));
  assert_true(masker_contains(m, "x cDRzc3cwcmQh y", 16)); /* base64 */
  assert_false(masker_contains(m, "p4ssw0rd", 8));
  assert_false(masker_contains(m, "", 0));
  assert_false(masker_contains(NULL, "p4ssw0rd!", 9));
  masker *empty = masker_new();
  assert_false(masker_contains(empty, "p4ssw0rd!", 9));
  masker_free(empty);
  masker_free(m);
}

static void test_scan_every_split(void **state) {
  masker *m = masker_new();
  masker_add_secret(m, "s3cr3t-value");
  const char *texts[] = {"s3cr3t-value", "start s3cr3t-value", "s3cr3t-value end",
                         "xx s3cr3t-value yy", "s3cr3t-valu s3cr3t-value"};
  for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
    const char *text = texts[t];
    size_t len = strlen(text);
    for (size_t a = 0; a <= len; a++) {
      masker_scan s;
      masker_scan_init(&s, m);
      masker_scan_feed(&s, text, a);
      masker_scan_feed(&s, text + a, len - a);
      if (!masker_scan_found(&s))
        fail_msg("\"%s\" split at %zu: not found", text, a);
      const char *at = strstr(text + (t == 4 ? 1 : 0), "s3cr3t-value");
      assert_int_equal(s.first_end, (uint64_t)(at - text) + 12);
      assert_int_equal(s.first_len, 12);
      assert_int_equal(s.pos, len);
    }
  }
  /* byte by byte, and a prefix split from the rest is not a match */
  masker_scan s;
  masker_scan_init(&s, m);
  const char *text = "s3cr3t-valu";
  for (size_t i = 0; text[i]; i++)
    masker_scan_feed(&s, text + i, 1);
  assert_false(masker_scan_found(&s));
  masker_scan_feed(&s, "e", 1);
  assert_true(masker_scan_found(&s));
  masker_scan_feed(&s, "more", 4); /* found stays, bytes are counted */
  assert_true(masker_scan_found(&s));
  assert_int_equal(s.pos, 16);
  masker_free(m);
}

static void test_scan_agrees_with_apply(void **state) {
  masker *m = sample_masker();
  const char *texts[] = {"nothing here", "ababa",        "xabab",    "babx", "tok\\\"en\\\\x",
                         "p4ssw0rd",     "cDRzc3cwcmQh", "abababab", "bab",  ""};
  for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
    size_t n;
    char *out = masker_apply(m, texts[t], strlen(texts[t]), &n);
    bool changed = n != strlen(texts[t]) || memcmp(out, texts[t], n) != 0;
    if (changed != masker_contains(m, texts[t], strlen(texts[t])))
      fail_msg("\"%s\": masked \"%s\", contains says %d", texts[t], out, !changed);
    free(out);
  }
  masker_free(m);
}

/* ---- large tries ---------------------------------------------------------- */

/* Many forms over a wide alphabet (64 bytes: nodes with dense tables), chains that fail
 * into forms added later, and a relink after more forms came. */
static void test_many_forms_against_naive(void **state) {
  unsigned seed = 99;
  enum { N_FORMS = 1500 };
  char **forms = calloc(2 * N_FORMS, sizeof(char *));
  size_t n_forms = 0;
  masker *m = masker_new();
  for (int phase = 0; phase < 2; phase++) {
    for (int i = 0; i < N_FORMS; i++) {
      size_t fl = 3 + (size_t)(rand_r(&seed) % 6);
      char *f = calloc(fl + 1, 1);
      for (size_t k = 0; k < fl; k++)
        f[k] = (char)('0' + rand_r(&seed) % 64);
      masker_add_exact(m, f, fl);
      forms[n_forms++] = f;
    }
    for (int round = 0; round < 20; round++) {
      char text[400];
      size_t len = (size_t)(rand_r(&seed) % sizeof(text));
      for (size_t k = 0; k < len; k++)
        text[k] = (char)('0' + rand_r(&seed) % 66);
      size_t got_len, want_len;
      char *got = masker_apply(m, text, len, &got_len);
      char *want = naive_mask(forms, n_forms, text, len, &want_len);
      if (got_len != want_len || memcmp(got, want, got_len) != 0)
        fail_msg("phase %d round %d: text %.*s\n got  %s\n want %s", phase, round, (int)len, text,
                 got, want);
      assert_int_equal(masker_contains(m, text, len), strstr(want, MASKER_HIDDEN) != NULL);
      free(got);
      free(want);
    }
  }
  assert_true(masker_footprint(m) > 0);
  for (size_t f = 0; f < n_forms; f++)
    free(forms[f]);
  free(forms);
  masker_free(m);
}

/* Long forms over two letters: branches deep in the trie (chains that start
 * far below the root, whose parents the link reaches late) and fail links to
 * deep nodes of forms registered later. */
static void test_deep_branches_against_naive(void **state) {
  unsigned seed = 2024;
  for (int round = 0; round < 40; round++) {
    enum { N_FORMS = 60 };
    char *forms[N_FORMS];
    masker *m = masker_new();
    for (int i = 0; i < N_FORMS; i++) {
      size_t fl = 8 + (size_t)(rand_r(&seed) % 30);
      forms[i] = calloc(fl + 1, 1);
      /* most forms continue an earlier one for a while */
      size_t shared = i > 0 && rand_r(&seed) % 4 ? (size_t)(rand_r(&seed) % fl) : 0;
      const char *base = forms[i > 0 ? rand_r(&seed) % i : 0];
      for (size_t k = 0; k < fl; k++)
        forms[i][k] = k < shared && k < strlen(base) ? base[k] : (char)('a' + rand_r(&seed) % 2);
      masker_add_exact(m, forms[i], fl);
    }
    char text[600];
    size_t len = (size_t)(rand_r(&seed) % sizeof(text));
    for (size_t k = 0; k < len; k++)
      text[k] = (char)('a' + rand_r(&seed) % 2);
    if (len > 40 && round % 2) /* plant a form */
      memcpy(text + 10, forms[round % N_FORMS], strlen(forms[round % N_FORMS]));
    size_t got_len, want_len;
    char *got = masker_apply(m, text, len, &got_len);
    char *want = naive_mask(forms, N_FORMS, text, len, &want_len);
    if (got_len != want_len || memcmp(got, want, got_len) != 0)
      fail_msg("round %d: text %.*s\n got  %s\n want %s", round, (int)len, text, got, want);
    free(got);
    free(want);
    for (int i = 0; i < N_FORMS; i++)
      free(forms[i]);
    masker_free(m);
  }
}

typedef struct apply_job {
  const masker *m;
  const char *text;
  char *out;
} apply_job;

static void *apply_thread(void *arg) {
  apply_job *job = arg;
  size_t n;
  job->out = masker_apply(job->m, job->text, strlen(job->text), &n);
  return NULL;
}

/* The link happens on the first use, which may be in several threads at once. */
static void test_first_use_from_threads(void **state) {
  masker *m = masker_new();
  char secret[32];
  for (int i = 0; i < 2000; i++) {
    snprintf(secret, sizeof(secret), "tok-%05d-%08x", i, (unsigned)i * 2654435761u);
    masker_add_secret(m, secret);
  }
  snprintf(secret, sizeof(secret), "tok-%05d-%08x", 77, 77u * 2654435761u);
  char text[64];
  snprintf(text, sizeof(text), "a %s b", secret);
  pthread_t threads[4];
  apply_job jobs[4];
  for (int t = 0; t < 4; t++) {
    jobs[t] = (apply_job){.m = m, .text = text};
    assert_int_equal(pthread_create(&threads[t], NULL, apply_thread, &jobs[t]), 0);
  }
  for (int t = 0; t < 4; t++) {
    pthread_join(threads[t], NULL);
    assert_string_equal(jobs[t].out, "a [hidden] b");
    free(jobs[t].out);
  }
  masker_free(m);
}

/* Prints a figure, asserts only the result: time is for benchmarks. */
static void test_ten_megabytes(void **state) {
  masker *m = masker_new();
  char secret[32];
  for (int i = 0; i < 200; i++) {
    snprintf(secret, sizeof(secret), "secret-%03d-%08x", i, (unsigned)i * 2654435761u);
    masker_add_secret(m, secret);
  }
  size_t len = 10u << 20;
  char *text = malloc(len);
  const char *filler = "INFO processing row 123456 of table in.c-main.data, all good; ";
  size_t fl = strlen(filler);
  size_t planted = 0, next_plant = 0;
  for (size_t i = 0; i < len;) {
    if (i >= next_plant && i + 40 < len) {
      next_plant = i + 4096;
      int n = snprintf(text + i, 40, "secret-%03d-%08x", (int)(planted % 200),
                       (unsigned)(planted % 200) * 2654435761u);
      i += (size_t)n;
      planted++;
      continue;
    }
    size_t take = fl < len - i ? fl : len - i;
    memcpy(text + i, filler, take);
    i += take;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t out_len;
  char *out = masker_apply(m, text, len, &out_len);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  size_t hidden = 0;
  for (char *p = out; (p = memmem(p, out_len - (size_t)(p - out), "[hidden]", 8)); p += 8)
    hidden++;
  print_message("masker_apply: 10 MiB, %zu forms, %zu secrets hidden in %.1f ms\n", masker_forms(m),
                hidden, ms);
  assert_int_equal(hidden, planted);
  free(out);
  free(text);
  masker_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_free_accepts_null),
      cmocka_unit_test(test_empty_and_null_masker_copy),
      cmocka_unit_test(test_plain_secret),
      cmocka_unit_test(test_short_values_ignored),
      cmocka_unit_test(test_adjacent_and_repeated),
      cmocka_unit_test(test_base64_forms),
      cmocka_unit_test(test_base64_matches_openssl),
      cmocka_unit_test(test_json_escaped_forms),
      cmocka_unit_test(test_json_forms_match_jansson_for_ascii),
      cmocka_unit_test(test_json_form_outside_bmp_and_control),
      cmocka_unit_test(test_invalid_utf8_has_no_json_form),
      cmocka_unit_test(test_nul_bytes),
      cmocka_unit_test(test_config_walk),
      cmocka_unit_test(test_config_top_level_array_and_scalar),
      cmocka_unit_test(test_overlapping_secrets),
      cmocka_unit_test(test_failure_links),
      cmocka_unit_test(test_stream_equals_apply_at_every_split),
      cmocka_unit_test(test_stream_holds_back_at_most_longest),
      cmocka_unit_test(test_differential_against_naive),
      cmocka_unit_test(test_pem_key_hidden_line_by_line),
      cmocka_unit_test(test_pem_key_whole_forms),
      cmocka_unit_test(test_crlf_line_ends),
      cmocka_unit_test(test_multiline_json_document),
      cmocka_unit_test(test_short_lines_skipped),
      cmocka_unit_test(test_contains),
      cmocka_unit_test(test_scan_every_split),
      cmocka_unit_test(test_scan_agrees_with_apply),
      cmocka_unit_test(test_many_forms_against_naive),
      cmocka_unit_test(test_deep_branches_against_naive),
      cmocka_unit_test(test_first_use_from_threads),
      cmocka_unit_test(test_ten_megabytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

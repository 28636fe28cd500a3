/* shared/job/masker.h: masking a stream cut anywhere, and secrets that span
 * lines (PEM keys), whole and line by line. */
#include "masker_fixture.h"

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
    char what[32];
    snprintf(what, sizeof(what), "round %d", round);
    expect_like_naive(m, forms, n_forms, text, len, what);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stream_equals_apply_at_every_split),
      cmocka_unit_test(test_stream_holds_back_at_most_longest),
      cmocka_unit_test(test_differential_against_naive),
      cmocka_unit_test(test_pem_key_hidden_line_by_line),
      cmocka_unit_test(test_pem_key_whole_forms),
      cmocka_unit_test(test_crlf_line_ends),
      cmocka_unit_test(test_multiline_json_document),
      cmocka_unit_test(test_short_lines_skipped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* shared/job/masker.h: secret forms, the config walk, overlap rules,
 * scanning. */
#include "masker_fixture.h"

/* ---- forms, the config walk, overlaps ---- */

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
      cmocka_unit_test(test_contains),
      cmocka_unit_test(test_scan_every_split),
      cmocka_unit_test(test_scan_agrees_with_apply),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

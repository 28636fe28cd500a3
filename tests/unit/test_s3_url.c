/* What the S3 client reads from a person and writes to a server:
 * s3_url_parse (clients/s3_client.h), with the bucket names at the lengths
 * 2/3/63/64, S3's reserved names and the key at 1024/1025 bytes; http_escape
 * for every byte with and without keep_slash, against a reference;
 * s3_xml_escape_append (the CompleteMultipartUpload body) for every control
 * character; and what the clients make of an answer, always UTF-8
 * (http_answer_excerpt, and the S3 client's summary against a stub server)
 * and of a retry (http_retry_wait). */
#include "clients/http_transfer.h"
#include "clients/s3_client.h"
#include "clients/s3_xml.h"

#include "core/buffer.h"
#include "core/cleanup.h"
#include "core/config.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "core/utf8.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_stub.h" /* after cmocka.h and core/error.h, which it needs */

/* ---- s3_url_parse ---- */

static void expect_url(const char *url, const char *want_bucket, const char *want_key) {
  char *bucket = (char *)"x", *key = (char *)"x";
  cleanup_error bw_error_t err = NULL;
  if (s3_url_parse(url, &bucket, &key, &err) != 0)
    fail_msg("%s: %s", url, bw_error_msg(&err));
  assert_string_equal(bucket, want_bucket);
  assert_string_equal(key, want_key);
  free(bucket);
  free(key);
}

static void expect_url_refused(const char *url, const char *want) {
  char *bucket = (char *)"x", *key = (char *)"x";
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(s3_url_parse(url, &bucket, &key, &err), -1);
  assert_null(bucket);
  assert_null(key);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  if (strcmp(err->msg, want) != 0)
    fail_msg("%s: got \"%s\", want \"%s\"", url, err->msg, want);
}

static char *repeat(char c, size_t n) {
  char *s = bw_xmalloc(n + 1);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

#define BUCKET_RULES                                                                               \
  "not an S3 bucket name (3 to 63 of a-z 0-9 . -, not like an IP address, none of the prefixes "   \
  "and suffixes S3 keeps)"

/* Refused; the message quotes the name only when it is printable ASCII of
 * at most 63 bytes, else leaves it out. */
static void expect_bucket_refused(const char *name, bool quoted) {
  cleanup_free char *url = bw_strdup_printf("s3://%s/k", name);
  cleanup_free char *want =
      quoted ? bw_strdup_printf("'%s' is " BUCKET_RULES, name) : bw_strdup(BUCKET_RULES);
  expect_url_refused(url, want);
}

static void test_url_bucket_and_key(void **state) {
  expect_url("s3://bucket/key", "bucket", "key");
  expect_url("s3://bucket/jobs/j-1/out/a b.txt", "bucket", "jobs/j-1/out/a b.txt");
  expect_url("s3://bucket", "bucket", "");
  expect_url("s3://bucket/", "bucket", "");
  expect_url("s3://bucket/prefix/", "bucket", "prefix/"); /* a prefix: the '/' is kept */
  expect_url("s3://bucket//x", "bucket", "/x");
  expect_url("s3://bucket/caf\xC3\xA9", "bucket", "caf\xC3\xA9");
}

static void test_url_bucket_lengths(void **state) {
  for (size_t n = 1; n <= 65; n++) {
    cleanup_free char *name = repeat('a', n);
    if (n >= 3 && n <= 63) {
      cleanup_free char *url = bw_strdup_printf("s3://%s/k", name);
      expect_url(url, name, "k");
    } else {
      expect_bucket_refused(name, n <= 63); /* a longer name is not quoted */
    }
  }
  expect_url_refused("s3:///key", "'' is " BUCKET_RULES);
  expect_url_refused("s3://", "'' is " BUCKET_RULES);
  /* Quoted up to 63 bytes, whatever makes the name wrong. */
  for (size_t n = 62; n <= 64; n++) {
    cleanup_free char *name = repeat('a', n);
    name[0] = 'A';
    expect_bucket_refused(name, n <= 63);
  }
}

static void test_url_bucket_characters(void **state) {
  static const char *const good[] = {"a.b", "my.bucket-1", "a-b", "0ab", "ab9", "a.b.c.d", "123"};
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    cleanup_free char *url = bw_strdup_printf("s3://%s/k", good[i]);
    expect_url(url, good[i], "k");
  }
  static const char *const bad[] = {"a..b", ".ab", "ab.", "-ab",  "ab-", "Abc", "aBc", "abC",
                                    "a_b",  "a b", "a~b", "a%62", "a:b", "a@b", "a'b"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    expect_bucket_refused(bad[i], true);
  /* Not quoted (each byte alone: below): UTF-8, a newline and an escape sequence. */
  expect_bucket_refused("ab\xC3\xA9", false);
  expect_bucket_refused("ab\ncd\x1b[31m", false);
}

/* Every byte in a bucket's name: a refusal never puts a control character
 * or a byte >= 0x7f into the message (nor into the log line). */
static void test_url_bucket_every_byte(void **state) {
  for (int c = 1; c < 256; c++) {
    cleanup_free char *url = bw_strdup_printf("s3://abc%cde/k", c);
    char name[] = {'a', 'b', 'c', (char)c, 'd', 'e', '\0'};
    if (c == '?' || c == '#')
      expect_url_refused(url, "an s3:// URL has no query or fragment");
    else if (c == '/')
      expect_url(url, "abc", "de/k");
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')
      expect_url(url, name, "k");
    else
      expect_bucket_refused(name, c >= 0x20 && c < 0x7f);
  }
}

/* What S3 itself refuses: a name like an IP address, the prefixes xn--,
 * sthree- and amzn-s3-demo-, the suffixes -s3alias, --ol-s3, .mrap and --x-s3; each next to names
 * that are one step from them and pass. */
static void test_url_reserved_bucket_names(void **state) {
  static const char *const reserved[] = {
      "192.168.5.4", "0.0.0.0",        "255.255.255.255",  "999.1.1.1",
      "01.2.3.4",    "xn--abc",        "xn--p1ai.example", "sthree-abc",
      "sthree-1",    "abc-s3alias",    "a.b-s3alias",      "abc--ol-s3",
      "a--ol-s3",    "amzn-s3-demo-x", "abc.mrap",         "abc--x-s3"};
  for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
    expect_bucket_refused(reserved[i], true);
  static const char *const allowed[] = {"1.2.3",       "1.2.3.4.5",   "1.2.3.a",      "a.1.2.3",
                                        "1.2.3.4a",    "1.2.3.4-5",   "xn-abc",       "xnn--abc",
                                        "axn--abc",    "sthree",      "sthreeabc",    "sthree.abc",
                                        "asthree-abc", "abc-s3alia",  "abc-s3aliasx", "abcs3alias",
                                        "abc-ol-s3",   "abc--ol-s3x", "abc--ol-s"};
  for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
    cleanup_free char *url = bw_strdup_printf("s3://%s/k", allowed[i]);
    expect_url(url, allowed[i], "k");
  }
}

static void test_url_scheme_query_fragment(void **state) {
  static const char *const schemes[] = {"",
                                        "bucket/key",
                                        "S3://bucket/key",
                                        "s3:/b",
                                        "http://bucket/key",
                                        "s3:bucket/key",
                                        " s3://bucket/key"};
  for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
    expect_url_refused(schemes[i], "not an s3://BUCKET/KEY URL");
  static const char *const queries[] = {"s3://bucket/key?versionId=1",
                                        "s3://bucket?list-type=2",
                                        "s3://bucket/key#part",
                                        "s3://bucket#x",
                                        "s3://bu?ck/key",
                                        "s3://bucket/a/b/c?"};
  for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
    expect_url_refused(queries[i], "an s3:// URL has no query or fragment");
}

static void test_url_key_length(void **state) {
  for (size_t n = 1022; n <= 1026; n++) {
    cleanup_free char *key = repeat('k', n);
    cleanup_free char *url = bw_strdup_printf("s3://bucket/%s", key);
    if (n <= 1024)
      expect_url(url, "bucket", key);
    else
      expect_url_refused(url, "an S3 key is at most 1024 bytes");
  }
  /* Bytes, not characters: 512 two-byte characters are 1024 bytes. */
  bw_buffer b;
  bw_buffer_init(&b, 0);
  bw_buffer_append(&b, "s3://bucket/", 12);
  for (int i = 0; i < 512; i++)
    bw_buffer_append(&b, "\xC3\xA9", 2);
  expect_url(b.data, "bucket", b.data + 12);
  bw_buffer_append(&b, "x", 1);
  expect_url_refused(b.data, "an S3 key is at most 1024 bytes");
  bw_buffer_free(&b);
}

static void test_url_key_control_chars(void **state) {
  for (int c = 1; c < 256; c++) {
    cleanup_free char *url = bw_strdup_printf("s3://bucket/a%cb", c);
    if (c == '?' || c == '#')
      expect_url_refused(url, "an s3:// URL has no query or fragment");
    else if (c < 0x20 || c == 0x7f)
      expect_url_refused(url, "the S3 key has a control character");
    else {
      char key[4] = {'a', (char)c, 'b', '\0'};
      expect_url(url, "bucket", key); /* bytes >= 0x80 as they are (UTF-8 is not checked) */
    }
  }
}

/* ---- http_escape ---- */

/* RFC 3986's unreserved characters, written out. */
static const char unreserved[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

static void reference_escape(unsigned c, bool keep_slash, char out[4]) {
  if (strchr(unreserved, (int)c) || (keep_slash && c == '/'))
    snprintf(out, 4, "%c", (char)c);
  else
    snprintf(out, 4, "%%%02X", c);
}

static void test_escape_every_byte(void **state) {
  for (int keep = 0; keep < 2; keep++) {
    bw_buffer all, want;
    bw_buffer_init(&all, 0);
    bw_buffer_init(&want, 0);
    for (unsigned c = 1; c < 256; c++) {
      char in[2] = {(char)c, '\0'}, ref[4];
      reference_escape(c, keep, ref);
      cleanup_free char *got = http_escape(in, keep);
      if (strcmp(got, ref) != 0)
        fail_msg("byte 0x%02X (keep_slash %d): got \"%s\", want \"%s\"", c, keep, got, ref);
      bw_buffer_append(&all, in, 1);
      bw_buffer_append(&want, ref, strlen(ref));
    }
    /* All of them in one string: the same, one after the other. */
    cleanup_free char *got = http_escape(all.data, keep);
    assert_string_equal(got, want.data);
    bw_buffer_free(&all);
    bw_buffer_free(&want);
  }
}

static void test_escape_strings(void **state) {
  static const struct {
    const char *in, *keep, *no_keep;
  } cases[] = {
      {"", "", ""},
      {"jobs/j-1/out/a b.txt", "jobs/j-1/out/a%20b.txt", "jobs%2Fj-1%2Fout%2Fa%20b.txt"},
      {"caf\xC3\xA9", "caf%C3%A9", "caf%C3%A9"},
      {"a+b=c&d", "a%2Bb%3Dc%26d", "a%2Bb%3Dc%26d"},
      {"//", "//", "%2F%2F"},
      {"~user.name_1-2", "~user.name_1-2", "~user.name_1-2"},
      {"%41", "%2541", "%2541"},
      {"a\0b", "a", "a"}, /* a C string: it ends at the NUL */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    cleanup_free char *keep = http_escape(cases[i].in, true);
    cleanup_free char *no_keep = http_escape(cases[i].in, false);
    assert_string_equal(keep, cases[i].keep);
    assert_string_equal(no_keep, cases[i].no_keep);
  }
  cleanup_free char *worst = repeat('\xff', 4096);
  cleanup_free char *escaped = http_escape(worst, true);
  assert_int_equal(strlen(escaped), 3 * 4096); /* three bytes for one at most */
}

/* ---- s3_xml_escape_append ---- */

/* Appends text's escape after what is there, then reads the body back. */
static void expect_xml_escape(const char *text, const char *want, const char *back) {
  bw_buffer b;
  bw_buffer_init(&b, 0);
  bw_buffer_append(&b, "<Error><Code>", 13);
  s3_xml_escape_append(&b, text);
  cleanup_free char *written = bw_strdup_printf("<Error><Code>%s", want);
  assert_string_equal(b.data, written);
  bw_buffer_append(&b, "</Code></Error>", 15);
  s3_xml_answer a;
  cleanup_error bw_error_t err = NULL;
  if (s3_xml_parse(b.data, b.len, &a, &err) != 0)
    fail_msg("%s: %s", b.data, bw_error_msg(&err));
  assert_string_equal(a.error_code, back);
  s3_xml_answer_free(&a);
  bw_buffer_free(&b);
}

static void test_xml_escape_append(void **state) {
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"", ""},
      {"plain-1.txt", "plain-1.txt"},
      {"&<>\"'", "&amp;&lt;&gt;&quot;&apos;"},
      {"\"3858f62230ac3c915f300c664312c11f\"", "&quot;3858f62230ac3c915f300c664312c11f&quot;"},
      {"a]]>b", "a]]&gt;b"},
      {"caf\xC3\xA9 \xF0\x9F\x98\x80\x7f", "caf\xC3\xA9 \xF0\x9F\x98\x80\x7f"},
      {"&amp;", "&amp;amp;"},
      /* References: XML would read a raw CR, or CR LF, as LF. */
      {"a\tb\nc\rd\r\n", "a&#9;b&#10;c&#13;d&#13;&#10;"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    expect_xml_escape(cases[i].text, cases[i].want, cases[i].text); /* back as it was */
}

/* Every control character: TAB, LF and CR as references, the others (which
 * XML 1.0 cannot write at all) dropped, so the body stays well-formed. */
static void test_xml_escape_control_chars(void **state) {
  for (int c = 1; c <= 0x20; c++) {
    char text[4] = {'a', (char)c, 'b', '\0'};
    bool kept = c == '\t' || c == '\n' || c == '\r' || c == ' ';
    cleanup_free char *want = c == ' ' ? bw_strdup("a b")
                              : kept   ? bw_strdup_printf("a&#%d;b", c)
                                       : bw_strdup("ab");
    expect_xml_escape(text, want, kept ? text : "ab");
  }
  expect_xml_escape("\001\002\037", "", "");
}

/* ---- what the clients make of an answer ---- */

static char *excerpt_of(const char *bytes, size_t len) {
  bw_buffer b;
  bw_buffer_init(&b, 0);
  if (len)
    bw_buffer_append(&b, bytes, len);
  char *out = http_answer_excerpt(&b);
  bw_buffer_free(&b);
  return out;
}

static void test_answer_excerpt(void **state) {
  cleanup_free char *none = excerpt_of(NULL, 0);
  assert_string_equal(none, "");
  cleanup_free char *blank = excerpt_of(" \r\n\t", 4);
  assert_string_equal(blank, "");
  cleanup_free char *line = excerpt_of("Bad Gateway\r\n", 13);
  assert_string_equal(line, ": Bad Gateway");
  cleanup_free char *controls = excerpt_of("a\nb\x1b[0m\x7f"
                                           "c\0d",
                                           11);
  assert_string_equal(controls, ": a b [0m c"); /* one line; it ends at a NUL */
  cleanup_free char *long_answer = repeat('x', 5000);
  cleanup_free char *cut = excerpt_of(long_answer, 5000);
  assert_int_equal(strlen(cut), 2 + 200);
}

/* `before` bytes of 'a', then `tail`: the excerpt of that is ": ", 'a' as far
 * as it goes, then `want` (what is left of the tail in the first 200 bytes). */
static void expect_excerpt_end(size_t before, const char *tail, const char *want) {
  bw_buffer b;
  bw_buffer_init(&b, 0);
  for (size_t i = 0; i < before; i++)
    bw_buffer_append(&b, "a", 1);
  bw_buffer_append(&b, tail, strlen(tail));
  cleanup_free char *got = http_answer_excerpt(&b);
  bw_buffer_free(&b);
  assert_true(bw_utf8_valid(got, strlen(got)));
  cleanup_free char *as = repeat('a', before < 200 ? before : 200);
  cleanup_free char *expected = bw_strdup_printf(": %s%s", as, want);
  if (strcmp(got, expected) != 0)
    fail_msg("%zu bytes before \"%s\": got \"%s\"", before, tail, got + 2 + strlen(as));
}

#define FFFD BW_UTF8_REPLACEMENT

/* The excerpt is cut at byte 200 and a server may send any bytes, yet it is
 * always UTF-8 (an event takes nothing else): each byte of a character cut in
 * two, or that is not UTF-8 at all, becomes U+FFFD. */
static void test_answer_excerpt_is_utf8(void **state) {
  /* A two-byte character whole in the 200, cut by the 200th byte, after it. */
  expect_excerpt_end(198, "\xC3\xA9tag", "\xC3\xA9");
  expect_excerpt_end(199, "\xC3\xA9tag", FFFD);
  expect_excerpt_end(200, "\xC3\xA9tag", "");
  /* A four-byte one: whole, then cut after 3, 2 and 1 of its bytes. */
  expect_excerpt_end(196, "\xF0\x9F\x98\x80!", "\xF0\x9F\x98\x80");
  expect_excerpt_end(197, "\xF0\x9F\x98\x80!", FFFD FFFD FFFD);
  expect_excerpt_end(198, "\xF0\x9F\x98\x80!", FFFD FFFD);
  expect_excerpt_end(199, "\xF0\x9F\x98\x80!", FFFD);
  /* Not UTF-8: Latin-1, an overlong '/', a surrogate, a stray continuation. */
  cleanup_free char *latin1 = excerpt_of("<h1>Erreur \xe9tendue</h1>", 23);
  assert_string_equal(latin1, ": <h1>Erreur " FFFD "tendue</h1>");
  expect_excerpt_end(0, "\xC0\xAF \xED\xA0\x80 \x80x", FFFD FFFD " " FFFD FFFD FFFD " " FFFD "x");
  expect_excerpt_end(0, "caf\xC3\xA9 \xE2\x82\xAC",
                     "caf\xC3\xA9 \xE2\x82\xAC"); /* UTF-8 as it is */
}

/* The S3 client's summary of a refusal ("HTTP 400 CODE: MESSAGE", or the
 * excerpt of an answer that is not S3's XML), from a stub server: cut at 100
 * bytes of the code and 300 of the message, and UTF-8 all the same. */
static void test_s3_answer_summary_is_utf8(void **state) {
  cleanup_free char *code = repeat('C', 99), *message = repeat('m', 299);
  cleanup_free char *cut_code =
      bw_strdup_printf("<Error><Code>%s\xC3\xA9</Code><Message>m</Message></Error>", code);
  cleanup_free char *cut_message = bw_strdup_printf(
      "<Error><Code>BadDigest</Code><Message>%s\xC3\xA9</Message></Error>", message);
  const stub_reply replies[] = {{.status = 400, .body = cut_code},
                                {.status = 400, .body = cut_message},
                                {.status = 400, .body = "<h1>Erreur \xe9tendue</h1>"}};
  cleanup_free char *code_want = bw_strdup_printf("HTTP 400 %s" FFFD ": m", code);
  cleanup_free char *message_want = bw_strdup_printf("HTTP 400 BadDigest: %s" FFFD, message);
  const char *const wants[] = {code_want, message_want, "HTTP 400: <h1>Erreur " FFFD "tendue</h1>"};
  http_stub stub;
  stub_start(&stub, replies, 3);
  bw_config cfg;
  bw_config_init(&cfg);
  free(cfg.s3_endpoint);
  cfg.s3_endpoint = bw_strdup_printf("http://127.0.0.1:%d", stub.port);
  free(cfg.s3_access_key_env);
  cfg.s3_access_key_env = bw_strdup("BW_TEST_S3_URL_ID");
  free(cfg.s3_secret_key_env);
  cfg.s3_secret_key_env = bw_strdup("BW_TEST_S3_URL_SECRET");
  setenv("BW_TEST_S3_URL_ID", "id", 1);
  setenv("BW_TEST_S3_URL_SECRET", "secret", 1);
  cleanup_s3_client s3_client *c = NULL;
  cleanup_error bw_error_t err = NULL;
  if (s3_client_new(&cfg, NULL, &c, &err) != 0)
    fail_msg("%s", bw_error_msg(&err));
  for (size_t i = 0; i < 3; i++) {
    s3_xml_answer page;
    assert_int_equal(s3_list_page(c, "bucket", "", NULL, &page, &err), -1);
    s3_xml_answer_free(&page);
    assert_true(bw_utf8_valid(err->msg, strlen(err->msg)));
    const char *summary = strstr(err->msg, ": HTTP 400");
    if (!summary || strcmp(summary + 2, wants[i]) != 0)
      fail_msg("got \"%s\", want \"...: %s\"", err->msg, wants[i]);
    bw_error_release(&err);
  }
  stub_stop(&stub);
  assert_int_equal(atomic_load(&stub.n_requests), 3); /* a 400 is not retried */
  stub_free(&stub);
  unsetenv("BW_TEST_S3_URL_ID");
  unsetenv("BW_TEST_S3_URL_SECRET");
  bw_config_free(&cfg);
}

/* ---- http_retry_wait ---- */

static void test_retry_wait(void **state) {
  http_retry one = {.max_attempts = 1, .backoff_ms = 60000, .backoff_max_ms = 60000, .attempt = 1};
  assert_false(http_retry_wait(&one)); /* the last attempt: no wait */
  assert_int_equal(one.attempt, 1);

  http_retry r = {.max_attempts = 4, .backoff_ms = 4, .backoff_max_ms = 10, .attempt = 1};
  int64_t start = bw_time_monotonic_ms();
  static const long backoffs[] = {8, 10, 10};
  for (int i = 0; i < 3; i++) {
    assert_true(http_retry_wait(&r));
    assert_int_equal(r.attempt, i + 2);
    assert_int_equal(r.backoff_ms, backoffs[i]); /* doubles up to the cap */
  }
  assert_false(http_retry_wait(&r));
  assert_int_equal(r.attempt, 4);
  int64_t took = bw_time_monotonic_ms() - start;
  assert_true(took >= 2 + 4 + 5); /* at least half of each wait */
  assert_true(took < 5000);

  bw_cancel cancel = 0;
  bw_cancel_raise(&cancel, 1);
  http_retry c = {.max_attempts = 5,
                  .backoff_ms = 60000,
                  .backoff_max_ms = 60000,
                  .attempt = 1,
                  .cancel = &cancel};
  start = bw_time_monotonic_ms();
  assert_false(http_retry_wait(&c)); /* cancelled: no wait, no attempt */
  assert_int_equal(c.attempt, 1);
  assert_true(bw_time_monotonic_ms() - start < 1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_url_bucket_and_key),
      cmocka_unit_test(test_url_bucket_lengths),
      cmocka_unit_test(test_url_bucket_characters),
      cmocka_unit_test(test_url_bucket_every_byte),
      cmocka_unit_test(test_url_reserved_bucket_names),
      cmocka_unit_test(test_url_scheme_query_fragment),
      cmocka_unit_test(test_url_key_length),
      cmocka_unit_test(test_url_key_control_chars),
      cmocka_unit_test(test_escape_every_byte),
      cmocka_unit_test(test_escape_strings),
      cmocka_unit_test(test_xml_escape_append),
      cmocka_unit_test(test_xml_escape_control_chars),
      cmocka_unit_test(test_answer_excerpt),
      cmocka_unit_test(test_answer_excerpt_is_utf8),
      cmocka_unit_test(test_s3_answer_summary_is_utf8),
      cmocka_unit_test(test_retry_wait),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

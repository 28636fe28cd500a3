/* shared/clients/s3_xml.h: the few fields the S3 client keeps from S3's XML
 * answers, each field of each root; the caps at N - 1, N and N + 1
 * (S3_XML_TEXT_MAX bytes of text, S3_XML_OBJECTS_MAX objects); names with a
 * namespace or a prefix; blanks before the document; a DOCTYPE refused; the
 * messages of a bad answer (with the answer's line, and none of its text).
 * s3_xml_escape_append is tested with the other escapes of what the client
 * writes, in test_s3_url.c. */
#include "clients/s3_xml.h"

#include "core/buffer.h"
#include "core/cleanup.h"
#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define NS " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static void parse_ok(const char *doc, s3_xml_answer *a) {
  bw_error_t err = NULL;
  if (s3_xml_parse(doc, strlen(doc), a, &err) != 0)
    fail_msg("%s: %s", doc, bw_error_msg(&err));
  assert_null(err);
  assert_non_null(a->root);
}

/* The parse fails with exactly `want`. */
static void parse_fails(const char *doc, size_t len, const char *want) {
  s3_xml_answer a;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(s3_xml_parse(doc, len, &a, &err), -1);
  assert_non_null(err);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_string_equal(err->msg, want);
  s3_xml_answer_free(&a);
}

static void expect_text(const char *got, const char *want) {
  if (want)
    assert_string_equal(got, want);
  else
    assert_null(got);
}

/* What an answer holds besides its objects: a field left out must be NULL. */
typedef struct want {
  const char *root, *code, *message, *upload_id, *etag, *token;
  bool truncated;
  size_t objects;
} want;

static void expect(const s3_xml_answer *a, want w) {
  expect_text(a->root, w.root);
  expect_text(a->error_code, w.code);
  expect_text(a->error_message, w.message);
  expect_text(a->upload_id, w.upload_id);
  expect_text(a->etag, w.etag);
  expect_text(a->next_token, w.token);
  assert_int_equal(a->truncated, w.truncated);
  assert_int_equal(a->object_count, w.objects);
  if (!w.objects)
    assert_null(a->objects);
}

/* doc parses to exactly w (an answer without objects). */
static void expect_doc(const char *doc, want w) {
  s3_xml_answer a;
  parse_ok(doc, &a);
  expect(&a, w);
  s3_xml_answer_free(&a);
}

/* ---- the fields of each root ---- */

static void test_error_signature_does_not_match(void **state) {
  expect_doc(DECL
             "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we "
             "calculated does not match the signature you provided. Check your key and signing "
             "method.</Message><AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId>"
             "<StringToSign>AWS4-HMAC-SHA256\n20130524T000000Z</StringToSign>"
             "<RequestId>4442587FB7D0A2F9</RequestId><HostId>abc=</HostId></Error>",
             (want){.root = "Error",
                    .code = "SignatureDoesNotMatch",
                    .message = "The request signature we calculated does not match the signature "
                               "you provided. Check your key and signing method."});
}

static void test_listing_with_contents_and_token(void **state) {
  s3_xml_answer a;
  parse_ok(
      DECL
      "<ListBucketResult" NS "><Name>b</Name><Prefix>jobs/</Prefix>"
      "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
      "<KeyCount>3</KeyCount><MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>"
      "<Contents><Key>jobs/a.txt</Key><LastModified>2026-11-30T10:15:02.000Z</LastModified>"
      "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1048576</Size>"
      "<StorageClass>STANDARD</StorageClass></Contents>"
      "<Contents><Key>jobs/b &amp; c</Key><Size>0</Size></Contents>"
      "<Contents><ETag>\"x-2\"</ETag><Size>12a</Size></Contents></ListBucketResult>",
      &a);
  expect(&a, (want){.root = "ListBucketResult",
                    .token = "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=",
                    .truncated = true,
                    .objects = 3});
  assert_string_equal(a.objects[0].key, "jobs/a.txt");
  assert_int_equal(a.objects[0].size, 1048576);
  assert_string_equal(a.objects[0].etag, "\"9b2cf535f27731c974343645a3985328\"");
  assert_string_equal(a.objects[1].key, "jobs/b & c");
  assert_int_equal(a.objects[1].size, 0);
  assert_null(a.objects[1].etag); /* absent */
  assert_null(a.objects[2].key);
  assert_int_equal(a.objects[2].size, -1); /* not a number */
  assert_string_equal(a.objects[2].etag, "\"x-2\"");
  s3_xml_answer_free(&a);
}

static void test_listing_last_page(void **state) {
  static const char *const forms[] = {"", "<IsTruncated>false</IsTruncated>",
                                      "<IsTruncated>True</IsTruncated>",
                                      "<IsTruncated> true</IsTruncated>", "<IsTruncated/>"};
  for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
    cleanup_free char *doc =
        bw_strdup_printf("<ListBucketResult" NS "><Name>b</Name>%s<KeyCount>0</KeyCount>"
                         "<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes></ListBucketResult>",
                         forms[i]);
    expect_doc(doc, (want){.root = "ListBucketResult"});
  }
}

static void expect_size(const char *text, int64_t size) {
  cleanup_free char *doc = bw_strdup_printf(
      "<ListBucketResult><Contents><Size>%s</Size></Contents></ListBucketResult>", text);
  s3_xml_answer a;
  parse_ok(doc, &a);
  assert_int_equal(a.object_count, 1);
  if (a.objects[0].size != size)
    fail_msg("Size '%s': got %lld", text, (long long)a.objects[0].size);
  s3_xml_answer_free(&a);
}

/* 5497558138880 is 5 TiB, S3's largest object; any size up to INT64_MAX is
 * taken, and one more is not a size (-1). */
static void test_sizes(void **state) {
  cleanup_free char *texts = bw_strdup("0|007|5497558138880|922337203685477580|9223372036854775799|"
                                       "9223372036854775806|9223372036854775807|"
                                       "0009223372036854775807");
  static const int64_t sizes[] = {
      0, 7, 5497558138880LL, INT64_MAX / 10, INT64_MAX - 8, INT64_MAX - 1, INT64_MAX, INT64_MAX};
  char *rest = texts;
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
    expect_size(strsep(&rest, "|"), sizes[i]);
  assert_null(rest); /* as many texts as sizes; '|' between them */
  cleanup_free char *not_sizes = bw_strdup("9223372036854775808|9223372036854775809|"
                                           "9223372036854775810|92233720368547758070|"
                                           "99999999999999999999||-1|-9223372036854775808|+1| 1|"
                                           "1 |1.0|0x10");
  for (rest = not_sizes; rest;)
    expect_size(strsep(&rest, "|"), -1);
}

/* The answers of a multipart upload; a CompleteMultipartUpload that fails
 * late answers 200, sends blanks while S3 works, then the Error. */
static void test_multipart_answers(void **state) {
  expect_doc(DECL "<InitiateMultipartUploadResult" NS "><Bucket>b</Bucket><Key>k</Key>"
                  "<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
                  "</InitiateMultipartUploadResult>",
             (want){.root = "InitiateMultipartUploadResult",
                    .upload_id = "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA"});
  expect_doc(DECL
             "<CompleteMultipartUploadResult" NS "><Location>https://b.s3.amazonaws.com/k"
             "</Location><Bucket>b</Bucket><Key>k</Key><ETag>\"3858f62230ac3c915f300c664312c11f"
             "-9\"</ETag></CompleteMultipartUploadResult>",
             (want){.root = "CompleteMultipartUploadResult",
                    .etag = "\"3858f62230ac3c915f300c664312c11f-9\""});
  expect_doc(DECL "\n        \n<Error>\n<Code>InternalError</Code>\n<Message>We encountered an "
                  "internal error. Please try again.</Message>\n<RequestId>656c76696e67</RequestId>"
                  "\n</Error>\n",
             (want){.root = "Error",
                    .code = "InternalError",
                    .message = "We encountered an internal error. Please try again."});
  /* MinIO's answer has blanks before the declaration: any of XML's four. */
  static const char *const blanks[] = {" ", "\t", "\r", "\n", "\r\n", "\n\r\n \t\n"};
  for (size_t i = 0; i < sizeof(blanks) / sizeof(blanks[0]); i++) {
    cleanup_free char *doc = bw_strdup_printf(
        "%s" DECL "<CompleteMultipartUploadResult><ETag>e</ETag></CompleteMultipartUploadResult>",
        blanks[i]);
    expect_doc(doc, (want){.root = "CompleteMultipartUploadResult", .etag = "e"});
  }
}

/* A field counts under its own root and at its own depth only. */
static void test_fields_of_other_roots_and_depths(void **state) {
  static const struct {
    const char *doc, *root;
  } cases[] = {
      {"<Error><UploadId>u</UploadId><ETag>e</ETag><NextContinuationToken>t"
       "</NextContinuationToken><IsTruncated>true</IsTruncated><Contents><Key>k</Key></Contents>"
       "</Error>",
       "Error"},
      {"<ListBucketResult><Code>c</Code><Message>m</Message><UploadId>u</UploadId><ETag>e</ETag>"
       "<Key>k</Key><Size>1</Size><CommonPrefixes><Key>k</Key></CommonPrefixes></ListBucketResult>",
       "ListBucketResult"},
      {"<InitiateMultipartUploadResult><Code>c</Code><ETag>e</ETag><Result><UploadId>u</UploadId>"
       "</Result></InitiateMultipartUploadResult>",
       "InitiateMultipartUploadResult"},
      {"<CompleteMultipartUploadResult><UploadId>u</UploadId><Code>c</Code><Part><ETag>e</ETag>"
       "</Part></CompleteMultipartUploadResult>",
       "CompleteMultipartUploadResult"},
      {"<Other><Error><Code>c</Code></Error><Code>c</Code><UploadId>u</UploadId></Other>", "Other"},
      {"<Code>c</Code>", "Code"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    expect_doc(cases[i].doc, (want){.root = cases[i].root});
  /* Inside Contents, only its own children: not the Owner's. */
  s3_xml_answer a;
  parse_ok("<ListBucketResult><Contents><Owner><Key>o</Key><ETag>o</ETag><Size>9</Size></Owner>"
           "</Contents></ListBucketResult>",
           &a);
  assert_int_equal(a.object_count, 1);
  assert_null(a.objects[0].key);
  assert_null(a.objects[0].etag);
  assert_int_equal(a.objects[0].size, -1);
  s3_xml_answer_free(&a);
}

static void test_text_forms(void **state) {
  static const struct {
    const char *inner, *want;
  } cases[] = {
      {"", ""},
      {" a b ", " a b "},
      {"&amp;&lt;&gt;&quot;&apos;", "&<>\"'"},
      {"&#65;&#x1F600;", "A\xF0\x9F\x98\x80"},
      {"<![CDATA[<x> & ]]>", "<x> & "},
      {"a<!-- note -->b<?pi x?>c", "abc"},
      {"caf\xC3\xA9", "caf\xC3\xA9"},
      {"a\r\nb", "a\nb"}, /* XML's line ends */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    cleanup_free char *doc = bw_strdup_printf("<Error><Code>%s</Code></Error>", cases[i].inner);
    s3_xml_answer a;
    parse_ok(doc, &a);
    assert_string_equal(a.error_code, cases[i].want);
    s3_xml_answer_free(&a);
  }
  expect_doc("<Error><Code/><Message></Message></Error>",
             (want){.root = "Error", .code = "", .message = ""}); /* present, empty: not NULL */
  expect_doc("<Error><Code>first</Code><Code>second</Code></Error>",
             (want){.root = "Error", .code = "second"}); /* the last one */
}

/* ---- the caps ---- */

static char *repeat(const char *unit, size_t n) {
  size_t len = strlen(unit);
  char *s = bw_xmalloc(len * n + 1);
  for (size_t i = 0; i < n; i++)
    memcpy(s + i * len, unit, len);
  s[len * n] = '\0';
  return s;
}

#define TOO_LONG_AT(line) "S3 answer: line " line ": a field longer than the client takes"
#define FIELD_TOO_LONG TOO_LONG_AT("1")

static void test_text_cap(void **state) {
  static const char *const fields[][2] = {
      {"<Error><Code>", "</Code></Error>"},
      {"<Error><Message>", "</Message></Error>"},
      {"<InitiateMultipartUploadResult><UploadId>", "</UploadId></InitiateMultipartUploadResult>"},
      {"<CompleteMultipartUploadResult><ETag>", "</ETag></CompleteMultipartUploadResult>"},
      {"<ListBucketResult><NextContinuationToken>", "</NextContinuationToken></ListBucketResult>"},
      {"<ListBucketResult><Contents><Key>", "</Key></Contents></ListBucketResult>"},
      {"<ListBucketResult><Contents><ETag>", "</ETag></Contents></ListBucketResult>"},
  };
  /* Bytes after the entities are expanded: "&amp;" is one. */
  static const char *const units[] = {"x", "&amp;"};
  for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
    for (size_t u = 0; u < 2; u++) {
      for (size_t n = S3_XML_TEXT_MAX - 1; n <= S3_XML_TEXT_MAX + 1; n++) {
        cleanup_free char *text = repeat(units[u], n);
        cleanup_free char *doc = bw_strdup_printf("%s%s%s", fields[f][0], text, fields[f][1]);
        if (n > S3_XML_TEXT_MAX) {
          parse_fails(doc, strlen(doc), FIELD_TOO_LONG);
          continue;
        }
        s3_xml_answer a;
        parse_ok(doc, &a);
        const char *got = f == 0   ? a.error_code
                          : f == 1 ? a.error_message
                          : f == 2 ? a.upload_id
                          : f == 3 ? a.etag
                          : f == 4 ? a.next_token
                          : f == 5 ? a.objects[0].key
                                   : a.objects[0].etag;
        assert_int_equal(strlen(got), n);
        s3_xml_answer_free(&a);
      }
    }
  }
  /* In two-byte characters: S3_XML_TEXT_MAX bytes, not characters. */
  cleanup_free char *ok = repeat("\xC3\xA9", S3_XML_TEXT_MAX / 2);
  cleanup_free char *doc = bw_strdup_printf("<Error><Code>%s</Code></Error>", ok);
  expect_doc(doc, (want){.root = "Error", .code = ok});
  cleanup_free char *over = bw_strdup_printf("<Error><Code>%sx</Code></Error>", ok);
  parse_fails(over, strlen(over), FIELD_TOO_LONG);
  /* The line is where the parser stopped. */
  cleanup_free char *text = repeat("x", S3_XML_TEXT_MAX + 1);
  cleanup_free char *third = bw_strdup_printf("<Error>\n\n<Code>%s</Code></Error>", text);
  parse_fails(third, strlen(third), TOO_LONG_AT("3"));
  cleanup_free char *blanks = bw_strdup_printf("\n \r\n%s", third); /* the answer's line */
  parse_fails(blanks, strlen(blanks), TOO_LONG_AT("5"));
  /* A field that is not kept has no cap. */
  cleanup_free char *big = repeat("r", 1 << 20);
  cleanup_free char *unkept = bw_strdup_printf("<Error><RequestId>%s</RequestId></Error>", big);
  expect_doc(unkept, (want){.root = "Error"});
}

static char *listing_of(size_t n, bool empty_elements) {
  bw_buffer b;
  bw_buffer_init(&b, 0);
  const char *head = "<ListBucketResult><IsTruncated>true</IsTruncated>";
  bw_buffer_append(&b, head, strlen(head));
  for (size_t i = 0; i < n; i++) {
    cleanup_free char *c = empty_elements
                               ? bw_strdup("<Contents/>")
                               : bw_strdup_printf("<Contents><Key>k%zu</Key><Size>%zu</Size>"
                                                  "</Contents>",
                                                  i, i);
    bw_buffer_append(&b, c, strlen(c));
  }
  bw_buffer_append(&b, "</ListBucketResult>", 19);
  return b.data;
}

static void test_object_cap(void **state) {
  for (int empty = 0; empty < 2; empty++) {
    for (size_t n = S3_XML_OBJECTS_MAX - 1; n <= S3_XML_OBJECTS_MAX + 1; n++) {
      cleanup_free char *doc = listing_of(n, empty);
      if (n > S3_XML_OBJECTS_MAX) {
        parse_fails(doc, strlen(doc),
                    "S3 answer: line 1: more objects in one listing than the client takes");
        continue;
      }
      s3_xml_answer a;
      parse_ok(doc, &a);
      assert_int_equal(a.object_count, n);
      assert_true(a.truncated);
      for (size_t i = 0; i < n && !empty; i++) {
        char key[32];
        snprintf(key, sizeof(key), "k%zu", i);
        assert_string_equal(a.objects[i].key, key); /* in document order */
        assert_int_equal(a.objects[i].size, (int64_t)i);
      }
      s3_xml_answer_free(&a);
    }
  }
}

/* ---- names ---- */

static void test_namespaces_and_prefixes(void **state) {
  static const char *const docs[] = {
      "<Error" NS "><Code>c</Code><Message>m</Message></Error>",
      "<s3:Error xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"><s3:Code>c</s3:Code>"
      "<s3:Message>m</s3:Message></s3:Error>",
      "<a:Error xmlns:a=\"urn:x\" "
      "xmlns:b=\"urn:y\"><b:Code>c</b:Code><Message>m</Message></a:Error>",
  };
  for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
    expect_doc(docs[i], (want){.root = "Error", .code = "c", .message = "m"}); /* no prefixes */
  s3_xml_answer a;
  parse_ok("<s3:ListBucketResult xmlns:s3=\"urn:s3\"><s3:Contents><s3:Key>k</s3:Key><s3:Size>5"
           "</s3:Size></s3:Contents></s3:ListBucketResult>",
           &a);
  assert_int_equal(a.object_count, 1);
  assert_string_equal(a.objects[0].key, "k");
  assert_int_equal(a.objects[0].size, 5);
  s3_xml_answer_free(&a);
  /* Names are matched as they are spelt. */
  expect_doc("<error><code>c</code></error>", (want){.root = "error"});
}

/* A name is kept up to 40 bytes (its local part). KNOWN GAP (see the
 * report): a document element whose name is longer parses as a success
 * whose root is "", not its name. */
static void test_known_gap_long_root_name_is_empty(void **state) {
  for (size_t n = 39; n <= 41; n++) {
    cleanup_free char *name = repeat("R", n);
    cleanup_free char *doc =
        bw_strdup_printf("<s3:%s xmlns:s3=\"urn:s3\"><s3:Code>c</s3:Code></s3:%s>", name, name);
    s3_xml_answer a;
    parse_ok(doc, &a);
    assert_string_equal(a.root, n <= 40 ? name : "");
    s3_xml_answer_free(&a);
  }
}

/* ---- refused ---- */

#define DOCTYPE_REFUSED "a DOCTYPE (S3 never sends one; not accepted)"

static void test_doctype_refused(void **state) {
  static const char *const laughs =
      "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
      " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
      " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
      "]>\n<Error><Code>&lol2;</Code></Error>";
  parse_fails(laughs, strlen(laughs), "S3 answer: line 2: " DOCTYPE_REFUSED);
  static const char *const others[] = {
      "<!DOCTYPE Error [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><Error>&xxe;</Error>",
      "<!DOCTYPE Error [<!ENTITY % r SYSTEM \"http://169.254.169.254/\"> %r;]><Error/>",
      "<!DOCTYPE Error SYSTEM \"http://x/s3.dtd\"><Error/>", "<!DOCTYPE Error><Error/>"};
  for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
    parse_fails(others[i], strlen(others[i]), "S3 answer: line 1: " DOCTYPE_REFUSED);
}

#define NOT_WF "S3 answer: not well-formed XML: line "

static void test_malformed_messages(void **state) {
  static const struct {
    const char *doc, *want;
  } cases[] = {
      {"", NOT_WF "1: no element found"},
      {"  \n ", NOT_WF "2: no element found"},
      {"<Error>\n<Code>x\n</Error>", NOT_WF "3: mismatched tag"},
      {"<Error/><Error/>", NOT_WF "1: junk after document element"},
      {"<Error><Code>\xff</Code></Error>", NOT_WF "1: not well-formed (invalid token)"},
      {"<Error>\n\n\n<Code>&secret;</Code></Error>", NOT_WF "4: undefined entity"},
      {"<Error><Code>&#0;</Code></Error>", NOT_WF "1: reference to invalid character number"},
      {"not xml at all: AKIAIOSFODNN7EXAMPLE", NOT_WF "1: syntax error"},
      /* Blanks before the document are skipped, their lines counted; nothing else is. */
      {"\n\r\n \t\n" DECL "<Error>\n<Code>x\n</Error>", NOT_WF "7: mismatched tag"},
      {"\n\n\n", NOT_WF "4: no element found"},
      {"\f" DECL "<Error/>", NOT_WF "1: not well-formed (invalid token)"},
      {"<!---->" DECL "<Error/>", NOT_WF "1: XML or text declaration not at start of entity"},
      /* XML ends a line at a lone CR too: this is line 5. */
      {"\r\r<Error>\n<Code>x\n</Error>", NOT_WF "5: mismatched tag"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    parse_fails(cases[i].doc, strlen(cases[i].doc), cases[i].want);
  /* A NUL byte inside the given length. */
  static const char nul[] = "<Error><Code>a\0b</Code></Error>";
  parse_fails(nul, sizeof(nul) - 1, NOT_WF "1: not well-formed (invalid token)");
  /* Longer than expat takes in one call: refused before a byte is read. */
  parse_fails("", (size_t)INT32_MAX + 1, "S3 answer: larger than 2 GiB");
}

/* ---- the answer's life ---- */

static void test_answer_is_zeroed_and_freeable(void **state) {
  s3_xml_answer a;
  memset(&a, 0x5a, sizeof(a));
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(s3_xml_parse("junk", 4, &a, &err), -1);
  assert_null(a.root); /* zeroed first */
  assert_null(a.objects);
  s3_xml_answer_free(&a);
  bw_error_release(&err);
  /* Fields kept before the failure are freed by s3_xml_answer_free. */
  static const char *const partial =
      "<ListBucketResult><NextContinuationToken>t</NextContinuationToken><Contents><Key>k</Key>"
      "<ETag>e</ETag></Contents><Contents><Key>";
  assert_int_equal(s3_xml_parse(partial, strlen(partial), &a, &err), -1);
  s3_xml_answer_free(&a);
  static const s3_xml_answer zero;
  assert_memory_equal(&a, &zero, sizeof(zero));
  s3_xml_answer_free(&a); /* twice */
  s3_xml_answer_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_signature_does_not_match),
      cmocka_unit_test(test_listing_with_contents_and_token),
      cmocka_unit_test(test_listing_last_page),
      cmocka_unit_test(test_sizes),
      cmocka_unit_test(test_multipart_answers),
      cmocka_unit_test(test_fields_of_other_roots_and_depths),
      cmocka_unit_test(test_text_forms),
      cmocka_unit_test(test_text_cap),
      cmocka_unit_test(test_object_cap),
      cmocka_unit_test(test_namespaces_and_prefixes),
      cmocka_unit_test(test_known_gap_long_root_name_is_empty),
      cmocka_unit_test(test_doctype_refused),
      cmocka_unit_test(test_malformed_messages),
      cmocka_unit_test(test_answer_is_zeroed_and_freeable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

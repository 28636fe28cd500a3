/* libFuzzer: S3's XML answers (clients/s3_xml.h). Every input is used twice.
 *
 * (a) As an answer, to s3_xml_parse. On success: a root, every kept string
 *     NUL-terminated, valid UTF-8 and at most S3_XML_TEXT_MAX bytes, at most
 *     S3_XML_OBJECTS_MAX objects, sizes >= -1, and no field of another root
 *     (an Error's Code is never an upload id). On failure: a BW_ERR_UNAVAILABLE
 *     message starting "S3 answer: ", printable and under 600 bytes. Either
 *     way s3_xml_answer_free frees it all (LeakSanitizer) and zeroes it;
 *     blanks before the document change nothing but a message's line.
 *
 * (b) As choices: a ListBucketResult, Error, InitiateMultipartUploadResult or
 *     CompleteMultipartUploadResult is written from fuzz-chosen values (valid
 *     XML 1.0 characters in UTF-8, CR included), escaped with s3_xml_escape_append
 *     (or CDATA when there is no CR, character references, a comment), with a
 *     namespace or a prefix, blanks before the document and between elements,
 *     unknown elements and fields of the other roots as decoys, sizes up to
 *     INT64_MAX and past it. The parse must give exactly those values back;
 *     with a value over S3_XML_TEXT_MAX bytes or more than S3_XML_OBJECTS_MAX
 *     objects it must fail and say which. A field given twice keeps the last. */
#include "clients/s3_xml.h"

#include "core/buffer.h"
#include "core/error.h"
#include "core/utf8.h"
#include "fuzz_choices.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"

static void fail(const char *what) {
  fprintf(stderr, "fuzz_s3_xml: %s\n", what);
  abort();
}

/* ---- (a) any bytes ---------------------------------------------------------------------- */

static void check_text(const char *s) {
  if (!s)
    return;
  size_t n = strnlen(s, S3_XML_TEXT_MAX + 1);
  if (n > S3_XML_TEXT_MAX)
    fail("a kept string is longer than S3_XML_TEXT_MAX");
  if (!bw_utf8_valid(s, n))
    fail("a kept string is not UTF-8");
}

static bool is(const char *root, const char *name) {
  return root && strcmp(root, name) == 0;
}

static void check_answer(const s3_xml_answer *a) {
  if (!a->root)
    fail("a parsed answer without a root");
  check_text(a->root);
  check_text(a->error_code);
  check_text(a->error_message);
  check_text(a->upload_id);
  check_text(a->etag);
  check_text(a->next_token);
  if (a->object_count > S3_XML_OBJECTS_MAX)
    fail("more objects than S3_XML_OBJECTS_MAX");
  if (a->object_count && !a->objects)
    fail("objects counted but not there");
  for (size_t i = 0; i < a->object_count; i++) {
    check_text(a->objects[i].key);
    check_text(a->objects[i].etag);
    if (a->objects[i].size < -1)
      fail("an object size below -1");
  }
  if (!is(a->root, "Error") && (a->error_code || a->error_message))
    fail("an error code or message outside an Error");
  if (!is(a->root, "InitiateMultipartUploadResult") && a->upload_id)
    fail("an upload id outside InitiateMultipartUploadResult");
  if (!is(a->root, "CompleteMultipartUploadResult") && a->etag)
    fail("an ETag outside CompleteMultipartUploadResult");
  if (!is(a->root, "ListBucketResult") && (a->truncated || a->next_token || a->object_count))
    fail("listing fields outside ListBucketResult");
}

static void check_error(const bw_error_t *err) {
  if (!*err || !(*err)->msg)
    fail("a failure without a message");
  if ((*err)->kind != BW_ERR_UNAVAILABLE)
    fail("a failure that is not BW_ERR_UNAVAILABLE");
  const char *m = (*err)->msg;
  if (strncmp(m, "S3 answer: ", 11) != 0)
    fail("a message that does not start with \"S3 answer: \"");
  size_t n = strnlen(m, 600);
  if (n >= 600)
    fail("a message of 600 bytes or more");
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)m[i] < 0x20 || (unsigned char)m[i] > 0x7e)
      fail("a message with a byte that is not printable");
}

static void free_and_check(s3_xml_answer *a) {
  s3_xml_answer_free(a);
  static const s3_xml_answer zero;
  if (memcmp(a, &zero, sizeof(zero)) != 0)
    fail("s3_xml_answer_free left something behind");
  s3_xml_answer_free(a); /* twice is harmless */
}

static void expect_string(const char *got, const char *want, const char *what) {
  if (got == want || (got && want && strcmp(got, want) == 0))
    return;
  fprintf(stderr, "fuzz_s3_xml: %s: got \"%s\", want \"%s\"\n", what, got ? got : "(NULL)",
          want ? want : "(NULL)");
  abort();
}

static void compare(const s3_xml_answer *got, const s3_xml_answer *want) {
  expect_string(got->root, want->root, "root");
  expect_string(got->error_code, want->error_code, "Error/Code");
  expect_string(got->error_message, want->error_message, "Error/Message");
  expect_string(got->upload_id, want->upload_id, "UploadId");
  expect_string(got->etag, want->etag, "CompleteMultipartUploadResult/ETag");
  expect_string(got->next_token, want->next_token, "NextContinuationToken");
  if (got->truncated != want->truncated)
    fail("IsTruncated");
  if (got->object_count != want->object_count)
    fail("the number of objects");
  for (size_t i = 0; i < want->object_count; i++) {
    expect_string(got->objects[i].key, want->objects[i].key, "Contents/Key");
    expect_string(got->objects[i].etag, want->objects[i].etag, "Contents/ETag");
    if (got->objects[i].size != want->objects[i].size)
      fail("Contents/Size");
  }
}

/* msg with its line ("line N", if any) moved down by `lines`. */
static char *moved_down(const char *msg, unsigned long lines) {
  const char *at = strstr(msg, "line ");
  char *end = NULL;
  unsigned long line = at ? strtoul(at + 5, &end, 10) : 0;
  return at ? bw_strdup_printf("%.*sline %lu%s", (int)(at - msg), msg, line + lines, end)
            : bw_strdup(msg);
}

/* The input without its leading blanks: the same outcome and answer, or the
 * same message but for its line. */
static void check_blanks_skipped(const uint8_t *data, size_t size, int rc, const s3_xml_answer *a,
                                 const bw_error_t *err) {
  size_t skip = 0;
  unsigned long lfs = 0; /* line ends: LF, CR LF, a lone CR */
  while (skip < size && data[skip] && strchr(" \t\r\n", data[skip])) {
    lfs +=
        data[skip] == '\n' || (data[skip] == '\r' && (skip + 1 >= size || data[skip + 1] != '\n'));
    skip++;
  }
  if (skip == 0)
    return;
  s3_xml_answer b;
  bw_error_t b_err = NULL;
  if (s3_xml_parse((const char *)data + skip, size - skip, &b, &b_err) != rc)
    fail("blanks before the document changed the outcome");
  if (rc == 0)
    compare(a, &b);
  char *want = rc == 0 ? NULL : moved_down(b_err->msg, lfs);
  if (want && strcmp((*err)->msg, want) != 0) /* more than its line changed */
    fail(bw_strdup_printf("after blanks: \"%s\", want \"%s\"", (*err)->msg, want));
  free(want);
  free_and_check(&b);
  bw_error_release(&b_err);
}

static void fuzz_any_bytes(const uint8_t *data, size_t size) {
  s3_xml_answer a;
  bw_error_t err = NULL;
  int rc = s3_xml_parse((const char *)data, size, &a, &err);
  if (rc == 0) {
    if (err)
      fail("success with an error set");
    check_answer(&a);
  } else {
    if (rc != -1)
      fail("a failure that does not return -1");
    check_error(&err);
  }
  check_blanks_skipped(data, size, rc, &a, &err);
  free_and_check(&a);
  bw_error_release(&err);
}

/* ---- (b) round trips -------------------------------------------------------------------- */

static uint32_t take32(src *s) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v = v << 8 | take(s);
  return v;
}

static void put_utf8(bw_buffer *b, uint32_t cp) {
  static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
  char u[4];
  size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  for (size_t i = n - 1; i > 0; i--, cp >>= 6)
    u[i] = (char)(0x80 | (cp & 0x3F));
  u[0] = (char)(lead[n] | cp);
  bw_buffer_append(b, u, n);
}

/* One character XML 1.0 allows (Char). */
static uint32_t take_char(src *s) {
  unsigned kind = take(s) % 8;
  uint32_t r = take32(s);
  switch (kind) {
  case 4:
    return r % 3 == 0 ? '\t' : r % 3 == 1 ? '\n' : '\r';
  case 5:
    return 0x80 + r % (0x800 - 0x80);
  case 6: {
    uint32_t cp = 0x800 + r % (0xFFFE - 0x800); /* U+FFFE and U+FFFF are not Chars */
    return cp >= 0xD800 && cp <= 0xDFFF ? cp + 0x800 : cp;
  }
  case 7:
    return 0x10000 + r % 0x100000;
  default: /* printable ASCII, & < > " ' included */
    return 0x20 + r % 95;
  }
}

/* A value of a few characters, or (when `long_ok`, now and then) one of
 * S3_XML_TEXT_MAX - 1, S3_XML_TEXT_MAX or S3_XML_TEXT_MAX + 1 bytes. */
static char *take_value(src *s, bool long_ok) {
  bw_buffer v = {0}; /* bw_buffer_init(&v, 0) */
  bw_buffer_append(&v, "", 0);
  unsigned mode = take(s);
  unsigned chars = mode % 24;
  for (unsigned i = 0; i < chars; i++)
    put_utf8(&v, take_char(s));
  if (long_ok && mode >= 250) {
    size_t target = S3_XML_TEXT_MAX - 1 + (mode - 250) % 3;
    char fill = mode >= 253 ? '&' : 'x';
    while (v.len < target)
      bw_buffer_append(&v, &fill, 1);
  }
  return v.data;
}

typedef struct doc {
  bw_buffer xml;
  const char *prefix; /* "" or "s3:" */
  src *s;
} doc;

static void put(doc *d, const char *text) {
  bw_buffer_append(&d->xml, text, strlen(text));
}

/* Whatever may come between two elements without changing the answer. */
static void put_gap(doc *d) {
  static const char *const gaps[] = {"", "", "\n", "\n  ", "\t", "<!-- gap -->", "<?pi x?>"};
  put(d, gaps[take(d->s) % (sizeof(gaps) / sizeof(gaps[0]))]);
}

static void put_open(doc *d, const char *name) {
  put_gap(d);
  put(d, "<");
  put(d, d->prefix);
  put(d, name);
  put(d, ">");
}

static void put_close(doc *d, const char *name) {
  put(d, "</");
  put(d, d->prefix);
  put(d, name);
  put(d, ">");
}

/* The value as character data, in one of the ways XML allows. */
static void put_text(doc *d, const char *value) {
  unsigned how = take(d->s) % 6;
  if (how == 3 && !strstr(value, "]]>") && !strchr(value, '\r')) {
    put(d, "<![CDATA[");
    put(d, value);
    put(d, "]]>");
  } else if (how == 4) {
    size_t len = strlen(value);
    for (size_t i = 0; i < len;) {
      size_t n = bw_utf8_sequence_len((const unsigned char *)value + i, len - i);
      uint32_t cp = n == 1 ? (unsigned char)value[i] : (unsigned char)value[i] & (0x7F >> n);
      for (size_t k = 1; k < n; k++)
        cp = cp << 6 | ((unsigned char)value[i + k] & 0x3F);
      char ref[16];
      snprintf(ref, sizeof(ref), "&#x%" PRIX32 ";", cp);
      put(d, ref);
      i += n ? n : 1;
    }
  } else if (how == 5 && value[0]) {
    /* split by a comment at a character boundary */
    size_t len = strlen(value), cut = 0;
    while (cut < len / 2)
      cut += bw_utf8_sequence_len((const unsigned char *)value + cut, len - cut);
    char *head = bw_strdup_bytes(value, cut);
    s3_xml_escape_append(&d->xml, head);
    free(head);
    put(d, "<!--cut-->");
    s3_xml_escape_append(&d->xml, value + cut);
  } else {
    s3_xml_escape_append(&d->xml, value);
  }
}

static void put_element(doc *d, const char *name, const char *value) {
  put_open(d, name);
  put_text(d, value);
  put_close(d, name);
}

/* Elements the parser must walk past without keeping anything. */
static void put_decoys(doc *d, const char *const *names, size_t count) {
  unsigned n = take(d->s) % 4;
  for (unsigned i = 0; i < n; i++) {
    char *v = take_value(d->s, false);
    put_element(d, names[take(d->s) % count], v);
    free(v);
  }
}

#define DECOYS(d, ...)                                                                             \
  do {                                                                                             \
    static const char *const names_[] = {__VA_ARGS__};                                             \
    put_decoys(d, names_, sizeof(names_) / sizeof(names_[0]));                                     \
  } while (0)

typedef struct expected {
  s3_xml_answer a; /* what must come back */
  bool too_long;   /* a kept value over S3_XML_TEXT_MAX */
  bool too_many;   /* more than S3_XML_OBJECTS_MAX objects */
} expected;

/* A kept field, maybe absent, maybe given twice (the last one counts). */
static void put_field(doc *d, expected *e, const char *name, char **slot) {
  unsigned how = take(d->s) % 5;
  if (how == 0)
    return;
  if (how == 4) {
    char *first = take_value(d->s, false);
    put_element(d, name, first);
    free(first);
  }
  char *v = take_value(d->s, true);
  put_element(d, name, v);
  e->too_long = e->too_long || strlen(v) > S3_XML_TEXT_MAX;
  free(*slot);
  *slot = v;
}

static void put_size(doc *d, s3_xml_object *o) {
  static const char *const bad[] = {"",    "-1",   "+5",  " 7",       "7 ",
                                    "1.5", "0x10", "12a", "\xC3\xA9", "99999999999999999999999"};
  unsigned how = take(d->s) % 4;
  if (how == 0)
    return; /* absent: -1 */
  if (how == 1) {
    put_element(d, "Size", bad[take(d->s) % (sizeof(bad) / sizeof(bad[0]))]);
    return;
  }
  /* S3's objects are at most 5 TiB; any size up to INT64_MAX must come back,
   * now and then it, one of the four below it or of the five above (not sizes). */
  uint64_t high = take32(d->s), low = take32(d->s);
  unsigned shift = take(d->s);
  uint64_t v = shift >= 246 ? (uint64_t)INT64_MAX - 4 + (shift - 246)
                            : (high << 32 | low) >> (shift % 63 + 1);
  char text[32];
  snprintf(text, sizeof(text), how == 3 ? "%05" PRIu64 : "%" PRIu64, v);
  put_element(d, "Size", text);
  o->size = v > INT64_MAX ? -1 : (int64_t)v;
}

static void put_listing(doc *d, expected *e) {
  DECOYS(d, "Name", "Prefix", "KeyCount", "MaxKeys", "Code", "Key", "UploadId", "ETag");
  unsigned t = take(d->s) % 4;
  if (t) {
    static const char *const forms[] = {"true", "false", "True"};
    put_element(d, "IsTruncated", forms[t - 1]);
    e->a.truncated = t == 1;
  }
  put_field(d, e, "NextContinuationToken", &e->a.next_token);
  unsigned c = take(d->s);
  size_t count = c < 250 ? c % 6 : S3_XML_OBJECTS_MAX - 1 + (c - 250) % 3;
  e->too_many = count > S3_XML_OBJECTS_MAX;
  e->a.objects = bw_xcalloc(count, sizeof(*e->a.objects));
  for (size_t i = 0; i < count; i++) {
    s3_xml_object *o = &e->a.objects[i];
    o->size = -1;
    put_open(d, "Contents");
    if (count > 6) { /* the caps: small objects, not read from the input */
      o->key = bw_strdup_printf("k%zu", i);
      put_element(d, "Key", o->key);
    } else {
      put_field(d, e, "Key", &o->key);
      put_size(d, o);
      put_field(d, e, "ETag", &o->etag);
      DECOYS(d, "LastModified", "StorageClass", "ChecksumAlgorithm", "Code");
      if (take(d->s) % 2)
        put(d, "<Owner><Key>decoy</Key><ETag>decoy</ETag><ID>x</ID></Owner>");
    }
    put_close(d, "Contents");
  }
  e->a.object_count = count;
  if (take(d->s) % 2)
    put(d, "<CommonPrefixes><Prefix>p/</Prefix><Key>decoy</Key></CommonPrefixes>");
  DECOYS(d, "ContinuationToken", "StartAfter", "Message");
}

static void put_body(doc *d, expected *e) {
  const char *root = e->a.root;
  if (is(root, "ListBucketResult")) {
    put_listing(d, e);
  } else if (is(root, "Error")) {
    DECOYS(d, "Resource", "RequestId", "UploadId", "ETag", "NextContinuationToken");
    put_field(d, e, "Code", &e->a.error_code);
    put_field(d, e, "Message", &e->a.error_message);
    DECOYS(d, "RequestId", "HostId", "StringToSign", "Key", "IsTruncated");
    if (take(d->s) % 2)
      put(d, "<Contents><Key>decoy</Key></Contents>");
  } else if (is(root, "InitiateMultipartUploadResult")) {
    DECOYS(d, "Bucket", "Key", "Code", "ETag");
    put_field(d, e, "UploadId", &e->a.upload_id);
  } else {
    DECOYS(d, "Location", "Bucket", "Key", "UploadId", "Message", "ChecksumSHA256");
    put_field(d, e, "ETag", &e->a.etag);
    DECOYS(d, "ChecksumCRC32", "Code");
  }
}

static void fuzz_round_trip(const uint8_t *data, size_t size) {
  static const char *const roots[] = {"ListBucketResult", "Error", "InitiateMultipartUploadResult",
                                      "CompleteMultipartUploadResult"};
  src s = {data, size};
  expected e = {0};
  e.a.root = bw_strdup(roots[take(&s) % 4]);
  doc d = {.s = &s};
  unsigned style = take(&s) % 4;
  d.prefix = style == 3 ? "s3:" : "";
  for (unsigned n = take(&s) % 4; n > 0; n--) /* blanks before the document, as MinIO's */
    put(&d, (const char *const[]){" ", "\t", "\r", "\n"}[take(&s) % 4]);
  if (style & 1)
    put(&d, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  put(&d, "<");
  put(&d, d.prefix);
  put(&d, e.a.root);
  put(&d, style == 0 ? ">" : style == 3 ? " xmlns:s3=\"" S3_NS "\">" : " xmlns=\"" S3_NS "\">");
  put_body(&d, &e);
  put_gap(&d);
  put_close(&d, e.a.root);
  put(&d, take(&s) % 2 ? "\n" : "");

  s3_xml_answer got;
  bw_error_t err = NULL;
  int rc = s3_xml_parse(d.xml.data, d.xml.len, &got, &err);
  if (e.too_long || e.too_many) {
    if (rc != -1)
      fail("a value or a listing over the cap was taken");
    check_error(&err);
    const char *m = err->msg;
    bool says = (e.too_long && strstr(m, "a field longer than the client takes")) ||
                (e.too_many && strstr(m, "more objects in one listing than the client takes"));
    if (!says || !strstr(m, "S3 answer: line "))
      fail("the message does not say which cap, or where");
  } else {
    if (rc != 0) {
      fprintf(stderr, "fuzz_s3_xml: a well-formed answer failed: %s\n", bw_error_msg(&err));
      abort();
    }
    compare(&got, &e.a);
  }
  free_and_check(&got);
  bw_error_release(&err);
  s3_xml_answer_free(&e.a);
  bw_buffer_free(&d.xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_any_bytes(data, size);
  fuzz_round_trip(data, size);
  return 0;
}

/* The S3 operations (s3_client.h) over the one request path
 * (s3_client_internal.h). */
#include "clients/s3_client_internal.h"

#include "core/cleanup.h"
#include "core/digest.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* S3 takes at most 10,000 parts. */
#define PARTS_MAX 10000

void s3_stored_free(s3_stored *s) {
  if (!s)
    return;
  free(s->etag);
  free(s->version_id);
  memset(s, 0, sizeof(*s));
}

static void stored_from(s3_stored *out, const s3_call *call, const char *etag, int parts) {
  if (!out)
    return;
  out->etag = bw_strdup(etag);
  out->version_id = call->version_id[0] ? bw_strdup(call->version_id) : NULL;
  out->parts = parts;
}

static void slist_add(struct curl_slist **list, const char *line) {
  *list = curl_slist_append(*list, line);
  if (!*list)
    abort();
}

int s3_head_bucket(s3_client *c, const char *bucket, bw_error_t *err) {
  s3_call call;
  s3_call_init(&call, "HEAD", bucket, NULL);
  int rc = s3_call_perform(c, &call, err);
  s3_call_free(&call);
  return rc;
}

/* The headers that describe a whole object: its sha256 as metadata (and
 * the caller adds S3's own checksum where it applies). */
static struct curl_slist *object_headers(const char *sha256_hex) {
  struct curl_slist *h = NULL;
  cleanup_free char *meta = bw_strdup_printf("x-amz-meta-sha256: %s", sha256_hex);
  slist_add(&h, meta);
  slist_add(&h, "Content-Type: application/octet-stream");
  return h;
}

static char *checksum_header(const unsigned char raw[DIGEST_SHA256_LEN]) {
  cleanup_free char *b64 = digest_base64(raw, DIGEST_SHA256_LEN);
  return bw_strdup_printf("x-amz-checksum-sha256: %s", b64);
}

static int put_single(s3_client *c, const char *bucket, const char *key, int fd, int64_t size,
                      const char *sha256_hex, s3_stored *out, bw_error_t *err) {
  unsigned char raw[DIGEST_SHA256_LEN];
  if (digest_hex_decode(sha256_hex, raw) < 0)
    return bw_error_set(err, BW_ERR_INVALID, "sha256 must be 64 hex digits");
  char lower[DIGEST_SHA256_HEX_LEN + 1];
  digest_hex_encode(raw, sizeof(raw), lower);
  cleanup_slist struct curl_slist *headers = object_headers(lower);
  cleanup_free char *checksum = checksum_header(raw);
  slist_add(&headers, checksum);
  http_body body = {.fd = fd, .size = size};
  s3_call call;
  s3_call_init(&call, "PUT", bucket, key);
  call.payload_sha256 = lower;
  call.headers = headers;
  call.body = &body;
  int rc = s3_call_perform(c, &call, err);
  if (rc == 0)
    stored_from(out, &call, call.etag, 1);
  s3_call_free(&call);
  return rc;
}

/* ---- multipart -------------------------------------------------------------------------- */

typedef struct multipart {
  s3_client *c;
  const char *bucket;
  const char *key;
  char *upload_id;
  char *upload_query; /* "uploadId=..." */
  bw_buffer complete; /* the CompleteMultipartUpload body, growing per part */
} multipart;

static int multipart_create(multipart *m, const char *sha256_hex, bw_error_t *err) {
  cleanup_slist struct curl_slist *headers = object_headers(sha256_hex);
  slist_add(&headers, "x-amz-checksum-algorithm: SHA256");
  s3_call call;
  s3_call_init(&call, "POST", m->bucket, m->key);
  call.query = "uploads=";
  call.headers = headers;
  int rc = s3_call_perform(m->c, &call, err);
  s3_xml_answer xml = {0};
  if (rc == 0 &&
      s3_xml_parse(call.answer.data ? call.answer.data : "", call.answer.len, &xml, err) == 0) {
    if (!xml.upload_id || !*xml.upload_id) {
      rc = bw_error_set(err, BW_ERR_UNAVAILABLE, "S3 CreateMultipartUpload: no UploadId");
    } else {
      m->upload_id = bw_strdup(xml.upload_id);
      cleanup_free char *escaped = http_escape(m->upload_id, false);
      m->upload_query = bw_strdup_printf("uploadId=%s", escaped);
    }
  } else if (rc == 0) {
    rc = -1;
  }
  s3_xml_answer_free(&xml);
  s3_call_free(&call);
  return rc;
}

static int whole_chunk(void *ctx, const void *data, size_t len, bw_error_t *err) {
  return digest_sha256_update(ctx, data, len, err);
}

/* One part: hashed from the file (and into the whole file's hash), then
 * sent from the file, retried on its own. */
static int multipart_part(multipart *m, int fd, int number, int64_t start, int64_t len,
                          digest_sha256 *whole, bw_error_t *err) {
  unsigned char raw[DIGEST_SHA256_LEN];
  char hex[DIGEST_SHA256_HEX_LEN + 1];
  int64_t got = 0;
  if (digest_sha256_pread_range(fd, start, len, raw, hex, &got, whole_chunk, whole, err) < 0)
    return -1;
  if (got != len)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "the file shrank while being stored");
  cleanup_free char *escaped = http_escape(m->upload_id, false);
  cleanup_free char *query = bw_strdup_printf("partNumber=%d&uploadId=%s", number, escaped);
  cleanup_slist struct curl_slist *headers = NULL;
  cleanup_free char *checksum = checksum_header(raw);
  slist_add(&headers, checksum);
  http_body body = {.fd = fd, .start = start, .size = len};
  s3_call call;
  s3_call_init(&call, "PUT", m->bucket, m->key);
  call.query = query;
  call.payload_sha256 = hex;
  call.headers = headers;
  call.body = &body;
  int rc = s3_call_perform(m->c, &call, err);
  if (rc == 0 && !call.etag[0])
    rc = bw_error_set(err, BW_ERR_UNAVAILABLE, "S3 UploadPart %d: no ETag", number);
  if (rc == 0) {
    cleanup_free char *b64 = digest_base64(raw, sizeof(raw));
    cleanup_free char *head = bw_strdup_printf("<Part><PartNumber>%d</PartNumber><ETag>\"", number);
    bw_buffer_append(&m->complete, head, strlen(head));
    s3_xml_escape_append(&m->complete, call.etag);
    cleanup_free char *tail =
        bw_strdup_printf("\"</ETag><ChecksumSHA256>%s</ChecksumSHA256></Part>", b64);
    bw_buffer_append(&m->complete, tail, strlen(tail));
  } else {
    bw_error_prefix(err, "part %d", number);
  }
  s3_call_free(&call);
  return rc;
}

static int multipart_complete(multipart *m, s3_stored *out, int parts, bw_error_t *err) {
  static const char close_tag[] = "</CompleteMultipartUpload>";
  bw_buffer_append(&m->complete, close_tag, strlen(close_tag));
  char hex[DIGEST_SHA256_HEX_LEN + 1];
  if (digest_sha256_buf(m->complete.data, m->complete.len, hex, err) < 0)
    return -1;
  cleanup_slist struct curl_slist *headers = NULL;
  /* Not libcurl's form type for a POST: servers parse that as a form. */
  slist_add(&headers, "Content-Type: application/xml");
  s3_call call;
  s3_call_init(&call, "POST", m->bucket, m->key);
  call.query = m->upload_query;
  call.headers = headers;
  call.payload_sha256 = hex;
  call.post = m->complete.data;
  call.post_len = m->complete.len;
  int rc = s3_call_perform(m->c, &call, err);
  s3_xml_answer xml = {0};
  /* S3 may answer 200 and still fail: the error is in the body. */
  if (rc == 0 &&
      s3_xml_parse(call.answer.data ? call.answer.data : "", call.answer.len, &xml, err) < 0) {
    rc = bw_error_prefix(err, "S3 CompleteMultipartUpload");
  } else if (rc == 0 && xml.error_code) {
    rc = bw_error_set(err, BW_ERR_UNAVAILABLE, "S3 CompleteMultipartUpload: %.100s: %.300s",
                      xml.error_code, xml.error_message ? xml.error_message : "");
  } else if (rc == 0) {
    const char *etag = xml.etag ? xml.etag : "";
    size_t len = strlen(etag);
    if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"') {
      cleanup_free char *bare = bw_strdup_bytes(etag + 1, len - 2);
      stored_from(out, &call, bare, parts);
    } else {
      stored_from(out, &call, etag, parts);
    }
  }
  s3_xml_answer_free(&xml);
  s3_call_free(&call);
  return rc;
}

/* After a failure: no part is left behind. */
static int multipart_abort(multipart *m, bw_error_t *err) {
  s3_call call;
  s3_call_init(&call, "DELETE", m->bucket, m->key);
  call.query = m->upload_query;
  int rc = s3_call_perform(m->c, &call, err);
  s3_call_free(&call);
  return rc;
}

static int put_multipart(s3_client *c, const char *bucket, const char *key, int fd, int64_t size,
                         const char *sha256_hex, s3_stored *out, bw_error_t *err) {
  int64_t part = c->part_size;
  if ((size + part - 1) / part > PARTS_MAX)
    part = (size + PARTS_MAX - 1) / PARTS_MAX; /* S3's limit wins over the setting */
  multipart m = {.c = c, .bucket = bucket, .key = key};
  bw_buffer_init(&m.complete, 0);
  static const char open_tag[] =
      "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  bw_buffer_append(&m.complete, open_tag, strlen(open_tag));
  cleanup_digest digest_sha256 whole = {0};
  int rc = digest_sha256_init(&whole, err);
  if (rc == 0)
    rc = multipart_create(&m, sha256_hex, err);
  if (rc < 0) {
    bw_buffer_free(&m.complete);
    return -1;
  }
  int number = 0;
  for (int64_t start = 0; rc == 0 && start < size; start += part)
    rc = multipart_part(&m, fd, ++number, start, size - start < part ? size - start : part, &whole,
                        err);
  char got[DIGEST_SHA256_HEX_LEN + 1];
  if (rc == 0 && digest_sha256_final(&whole, NULL, got, err) < 0)
    rc = -1;
  if (rc == 0 && strcasecmp(got, sha256_hex) != 0)
    rc = bw_error_set(err, BW_ERR_UNAVAILABLE,
                      "the file changed while being stored (sha256 %s, expected %s)", got,
                      sha256_hex);
  if (rc == 0)
    rc = multipart_complete(&m, out, number, err);
  if (rc < 0) {
    cleanup_error bw_error_t abort_err = NULL;
    if (multipart_abort(&m, &abort_err) < 0)
      bw_error_prefix(err,
                      "upload %s not aborted (%s); the bucket's lifecycle rule must remove "
                      "its parts",
                      m.upload_id, bw_error_msg(&abort_err));
    else
      bw_error_prefix(err, "upload aborted");
  }
  bw_buffer_free(&m.complete);
  free(m.upload_id);
  free(m.upload_query);
  return rc;
}

int s3_put_file(s3_client *c, const char *bucket, const char *key, int fd, int64_t size,
                const char *sha256_hex, s3_stored *out, bw_error_t *err) {
  if (out)
    memset(out, 0, sizeof(*out));
  if (!digest_sha256_hex_valid(sha256_hex))
    return bw_error_set(err, BW_ERR_INVALID, "sha256 must be 64 hex digits");
  if (size <= c->part_size)
    return put_single(c, bucket, key, fd, size, sha256_hex, out, err);
  return put_multipart(c, bucket, key, fd, size, sha256_hex, out, err);
}

/* ---- reading ---------------------------------------------------------------------------- */

int s3_get_object(s3_client *c, const char *bucket, const char *key, int out_fd, int64_t max_bytes,
                  int64_t *size_out, char sha256_out[DIGEST_SHA256_HEX_LEN + 1], bw_error_t *err) {
  s3_call call;
  s3_call_init(&call, "GET", bucket, key);
  call.download_fd = out_fd;
  call.download_max = max_bytes;
  call.hash_download = sha256_out != NULL;
  int rc = s3_call_perform(c, &call, err);
  if (rc == 0 && sha256_out && digest_sha256_final(&call.digest, NULL, sha256_out, err) < 0)
    rc = -1;
  if (rc < 0 && (*err)->kind == BW_ERR_UNAVAILABLE &&
      (call.status == 403 || call.status == 404 || call.status == 400))
    (*err)->kind = BW_ERR_USER; /* the request named it: the job's fault */
  if (rc == 0 && size_out)
    *size_out = call.downloaded;
  s3_call_free(&call);
  return rc;
}

int s3_list_page(s3_client *c, const char *bucket, const char *prefix, const char *token,
                 s3_xml_answer *page, bw_error_t *err) {
  memset(page, 0, sizeof(*page));
  /* The canonical order: continuation-token, list-type, prefix. */
  cleanup_free char *p = http_escape(prefix, false);
  cleanup_free char *t = token ? http_escape(token, false) : NULL;
  cleanup_free char *query =
      t ? bw_strdup_printf("continuation-token=%s&list-type=2&prefix=%s", t, p)
        : bw_strdup_printf("list-type=2&prefix=%s", p);
  s3_call call;
  s3_call_init(&call, "GET", bucket, NULL);
  call.query = query;
  int rc = s3_call_perform(c, &call, err);
  if (rc < 0 && (*err)->kind == BW_ERR_UNAVAILABLE && (call.status == 403 || call.status == 404))
    (*err)->kind = BW_ERR_USER;
  if (rc == 0 &&
      s3_xml_parse(call.answer.data ? call.answer.data : "", call.answer.len, page, err) < 0)
    rc = -1;
  if (rc == 0 && page->root && strcmp(page->root, "ListBucketResult") != 0)
    rc = bw_error_set(err, BW_ERR_UNAVAILABLE, "S3 ListObjectsV2: answered <%.40s>", page->root);
  if (call.answer.overflowed && rc == 0)
    rc = bw_error_set(err, BW_ERR_UNAVAILABLE, "S3 ListObjectsV2: the answer is over 2 MiB");
  s3_call_free(&call);
  return rc;
}

/* The S3 client's settings and its one request path (s3_client_internal.h). */
#include "clients/s3_client_internal.h"

#include "core/cleanup.h"
#include "core/digest.h"
#include "core/utf8.h"
#include "core/fdio.h"
#include "core/version.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define REGION_MAX 32

/* ---- names ------------------------------------------------------------------------------ */

static bool ends_with(const char *s, size_t len, const char *suffix) {
  size_t n = strlen(suffix);
  return len >= n && strcmp(s + len - n, suffix) == 0;
}

/* Four dot-separated numbers: S3 refuses a bucket named like an IP address. */
static bool looks_like_ipv4(const char *b) {
  int parts = 0;
  for (const char *p = b;; p++) {
    if (!isdigit((unsigned char)*p))
      return false;
    while (isdigit((unsigned char)*p))
      p++;
    parts++;
    if (*p == '\0')
      return parts == 4;
    if (*p != '.')
      return false;
  }
}

/* S3's rules for a bucket name: 3 to 63 of [a-z0-9.-], a letter or digit
 * at each end, no "..", not like an IP address, none of the prefixes and
 * suffixes S3 keeps for itself. */
static bool bucket_name_valid(const char *b) {
  size_t len = strlen(b);
  if (len < 3 || len > 63 || !isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[len - 1]))
    return false;
  if (looks_like_ipv4(b) || strncmp(b, "xn--", 4) == 0 || strncmp(b, "sthree-", 7) == 0 ||
      strncmp(b, "amzn-s3-demo-", 13) == 0 || ends_with(b, len, "-s3alias") ||
      ends_with(b, len, "--ol-s3") || ends_with(b, len, ".mrap") || ends_with(b, len, "--x-s3"))
    return false;
  for (const char *p = b; *p; p++)
    if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '.' || *p == '-') ||
        (p[0] == '.' && p[1] == '.'))
      return false;
  return true;
}

int s3_url_parse(const char *url, char **bucket, char **key, bw_error_t *err) {
  *bucket = *key = NULL;
  if (strncmp(url, "s3://", 5) != 0)
    return bw_error_set(err, BW_ERR_INVALID, "not an s3://BUCKET/KEY URL");
  const char *b = url + 5;
  size_t blen = strcspn(b, "/?#");
  if (b[blen] == '?' || b[blen] == '#' || strpbrk(b, "?#"))
    return bw_error_set(err, BW_ERR_INVALID, "an s3:// URL has no query or fragment");
  cleanup_free char *name = bw_strdup_bytes(b, blen);
  if (!bucket_name_valid(name)) {
    bool printable = true;
    for (const char *p = name; *p; p++)
      printable = printable && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f;
    if (!printable || strlen(name) > 63)
      return bw_error_set(err, BW_ERR_INVALID,
                          "not an S3 bucket name (3 to 63 of a-z 0-9 . -, not like an IP "
                          "address, none of the prefixes and suffixes S3 keeps)");
    return bw_error_set(err, BW_ERR_INVALID,
                        "'%s' is not an S3 bucket name (3 to 63 of a-z 0-9 . -, not like an IP "
                        "address, none of the prefixes and suffixes S3 keeps)",
                        name);
  }
  const char *k = b[blen] == '/' ? b + blen + 1 : "";
  if (strlen(k) > 1024)
    return bw_error_set(err, BW_ERR_INVALID, "an S3 key is at most 1024 bytes");
  for (const char *p = k; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return bw_error_set(err, BW_ERR_INVALID, "the S3 key has a control character");
  *bucket = steal_pointer(&name);
  *key = bw_strdup(k);
  return 0;
}

char *s3_display_url(const char *bucket, const char *key) {
  return bw_strdup_printf("s3://%s/%s", bucket, key ? key : "");
}

/* ---- the client ------------------------------------------------------------------------- */

void s3_client_free(s3_client *c) {
  if (!c)
    return;
  free(c->scheme);
  free(c->host);
  free(c->sigv4);
  s3_credentials_free(&c->creds);
  free(c);
}

const char *s3_client_credentials_source(const s3_client *c) {
  return c->creds.source;
}

static bool region_valid(const char *r) {
  size_t len = strlen(r);
  if (len == 0 || len > REGION_MAX)
    return false;
  for (const char *p = r; *p; p++)
    if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
      return false;
  return true;
}

/* "http(s)://HOST[:PORT]" with nothing after but an optional '/'. */
static int parse_endpoint(s3_client *c, const char *endpoint, bw_error_t *err) {
  const char *rest = NULL;
  if (strncmp(endpoint, "http://", 7) == 0) {
    c->scheme = bw_strdup("http");
    rest = endpoint + 7;
  } else if (strncmp(endpoint, "https://", 8) == 0) {
    c->scheme = bw_strdup("https");
    rest = endpoint + 8;
  } else {
    return bw_error_set(err, BW_ERR_INVALID,
                        "artifacts.s3.endpoint: expected http(s)://HOST[:PORT]");
  }
  size_t len = strcspn(rest, "/?#@");
  if (len == 0 || (rest[len] && strcmp(rest + len, "/") != 0))
    return bw_error_set(err, BW_ERR_INVALID,
                        "artifacts.s3.endpoint: expected http(s)://HOST[:PORT] and nothing after "
                        "(no path, query or user)");
  c->host = bw_strdup_bytes(rest, len);
  return 0;
}

int s3_client_new(const bw_config *cfg, const http_transfer_opts *opts, s3_client **out,
                  bw_error_t *err) {
  *out = NULL;
  cleanup_s3_client s3_client *c = bw_xcalloc(1, sizeof(*c));
  if (opts)
    c->opts = *opts;
  http_transfer_opts_defaults(&c->opts);
  if (!region_valid(cfg->s3_region))
    return bw_error_set(err, BW_ERR_INVALID,
                        "artifacts.s3.region: expected a region name such as us-east-1");
  bool aws = !*cfg->s3_endpoint;
  cleanup_free char *endpoint =
      aws ? bw_strdup_printf("https://s3.%s.amazonaws.com", cfg->s3_region)
          : bw_strdup(cfg->s3_endpoint);
  if (parse_endpoint(c, endpoint, err) < 0)
    return -1;
  c->path_style =
      strcmp(cfg->s3_addressing, "path") == 0 || (strcmp(cfg->s3_addressing, "auto") == 0 && !aws);
  c->sigv4 = bw_strdup_printf("aws:amz:%s:s3", cfg->s3_region);
  c->part_size = cfg->s3_part_size;
  if (s3_credentials_resolve(cfg, &c->creds, err) < 0)
    return -1;
  *out = steal_pointer(&c);
  return 0;
}

/* ---- one call --------------------------------------------------------------------------- */

void s3_call_init(s3_call *call, const char *method, const char *bucket, const char *key) {
  memset(call, 0, sizeof(*call));
  call->method = method;
  call->bucket = bucket;
  call->key = key;
  call->download_fd = -1;
  bw_buffer_init(&call->answer, S3_ANSWER_CAP);
}

void s3_call_free(s3_call *call) {
  bw_buffer_free(&call->answer);
  digest_sha256_free(&call->digest);
}

static char *request_url(const s3_client *c, const s3_call *call) {
  cleanup_free char *key = http_escape(call->key ? call->key : "", true);
  const char *q = call->query ? "?" : "";
  const char *query = call->query ? call->query : "";
  if (c->path_style)
    return call->key
               ? bw_strdup_printf("%s://%s/%s/%s%s%s", c->scheme, c->host, call->bucket, key, q,
                                  query)
               : bw_strdup_printf("%s://%s/%s%s%s", c->scheme, c->host, call->bucket, q, query);
  return bw_strdup_printf("%s://%s.%s/%s%s%s", c->scheme, call->bucket, c->host, key, q, query);
}

/* Keeps "ETag" and "x-amz-version-id" of the answer. */
static size_t on_header(char *line, size_t size, size_t nitems, void *userdata) {
  s3_call *call = userdata;
  size_t len = size * nitems;
  static const struct {
    const char *name;
    size_t offset;
  } kept[] = {{"etag:", offsetof(s3_call, etag)},
              {"x-amz-version-id:", offsetof(s3_call, version_id)}};
  for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
    size_t n = strlen(kept[i].name);
    if (len < n || strncasecmp(line, kept[i].name, n) != 0)
      continue;
    const char *v = line + n;
    size_t vlen = len - n;
    while (vlen && (*v == ' ' || *v == '\t' || *v == '"')) {
      v++;
      vlen--;
    }
    while (vlen &&
           (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' || v[vlen - 1] == '"'))
      vlen--;
    char *slot = (char *)call + kept[i].offset;
    if (vlen > S3_HEADER_VALUE_MAX)
      vlen = 0; /* not an ETag S3 would send: kept as none */
    memcpy(slot, v, vlen);
    slot[vlen] = '\0';
  }
  return len;
}

/* A 2xx answer of a download goes to the file, anything else to the answer
 * buffer (an error to read). */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
  s3_call *call = userdata;
  size_t len = size * nmemb;
  long status = 0;
  if (call->download_fd < 0)
    return bw_buffer_curl_write(data, size, nmemb, &call->answer);
  curl_easy_getinfo(call->handle, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status >= 300)
    return bw_buffer_curl_write(data, size, nmemb, &call->answer);
  if (call->downloaded + (int64_t)len > call->download_max) {
    call->download_too_large = true;
    return 0;
  }
  if (call->hash_download && digest_sha256_update(&call->digest, data, len, NULL) < 0) {
    call->download_errno = ENOMEM;
    return 0;
  }
  if (bw_write_all(call->download_fd, data, len) < 0) {
    call->download_errno = errno;
    return 0;
  }
  call->downloaded += (int64_t)len;
  return len;
}

static struct curl_slist *call_headers(const s3_client *c, const s3_call *call) {
  cleanup_free char *content = bw_strdup_printf(
      "x-amz-content-sha256: %s", call->payload_sha256 ? call->payload_sha256 : EMPTY_SHA256);
  struct curl_slist *h = curl_slist_append(NULL, content);
  /* No "Expect:" to turn off 100-continue: libcurl 7.88 would sign the empty
   * header it never sends. 100-continue also lets S3 refuse before the body. */
  if (c->creds.session_token) {
    cleanup_free char *token = bw_strdup_printf("x-amz-security-token: %s", c->creds.session_token);
    h = curl_slist_append(h, token);
    explicit_bzero(token, strlen(token));
  }
  for (const struct curl_slist *e = call->headers; e; e = e->next)
    h = curl_slist_append(h, e->data);
  if (!h)
    abort();
  return h;
}

static void set_method(CURL *h, s3_call *call) {
  if (call->body) {
    http_body_attach(h, call->body);
  } else if (strcmp(call->method, "HEAD") == 0) {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (strcmp(call->method, "POST") == 0) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, call->post ? call->post : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->post_len);
  } else if (strcmp(call->method, "GET") != 0) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, call->method);
  }
}

static CURL *call_handle(const s3_client *c, s3_call *call, const char *url,
                         struct curl_slist *headers) {
  CURL *h = http_handle_new(url);
  curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
  curl_easy_setopt(h, CURLOPT_USERNAME, c->creds.access_key_id);
  curl_easy_setopt(h, CURLOPT_PASSWORD, c->creds.secret_key);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, call);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, call);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->opts.low_speed_time_s);
  set_method(h, call);
  return h;
}

typedef enum attempt_result { ATTEMPT_OK, ATTEMPT_RETRY, ATTEMPT_FAIL } attempt_result;

/* S3's answers that a later attempt may not get. */
static bool retryable(long status, const char *code) {
  if (status >= 500 || status == 429 || status == 408)
    return true;
  return code && (strcmp(code, "RequestTimeout") == 0 || strcmp(code, "SlowDown") == 0 ||
                  strcmp(code, "InternalError") == 0);
}

/* "HTTP 403 SignatureDoesNotMatch: The request signature ..." */
static char *answer_summary(long status, const bw_buffer *answer) {
  s3_xml_answer xml = {0};
  cleanup_error bw_error_t ignored = NULL;
  char *out;
  if (answer->len && s3_xml_parse(answer->data, answer->len, &xml, &ignored) == 0 &&
      xml.error_code) {
    out = bw_strdup_printf("HTTP %ld %.100s: %.300s", status, xml.error_code,
                           xml.error_message ? xml.error_message : "");
  } else if (answer->len == 0 && (status == 403 || status == 404)) {
    /* A HEAD's answer has no body to say why. */
    out = bw_strdup_printf("HTTP %ld (%s)", status,
                           status == 403 ? "forbidden: a wrong key or secret, or no permission"
                                         : "no such bucket or key");
  } else {
    cleanup_free char *excerpt = http_answer_excerpt(answer);
    out = bw_strdup_printf("HTTP %ld%s", status, excerpt);
  }
  s3_xml_answer_free(&xml);
  for (char *p = out; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = ' ';
  /* The cuts above may split a character: events take UTF-8 only. */
  char *clean = bw_utf8_sanitize(out, strlen(out), true, NULL);
  free(out);
  return clean;
}

static void rewind_attempt(s3_call *call, off_t download_start) {
  if (call->body)
    http_body_rewind(call->body);
  bw_buffer_reset(&call->answer);
  call->etag[0] = call->version_id[0] = '\0';
  call->status = 0;
  if (call->download_fd >= 0 && call->downloaded) {
    /* Start the file again: a retried GET sends the whole object. */
    if (ftruncate(call->download_fd, download_start) == 0)
      lseek(call->download_fd, download_start, SEEK_SET);
  }
  call->downloaded = 0;
  if (call->hash_download) {
    digest_sha256_free(&call->digest);
    if (digest_sha256_init(&call->digest, NULL) < 0)
      abort(); /* libcrypto without SHA-256: nothing can go on */
  }
}

static attempt_result attempt(s3_call *call, const char *what, bw_error_t *err) {
  CURLcode rc = curl_easy_perform(call->handle);
  curl_easy_getinfo(call->handle, CURLINFO_RESPONSE_CODE, &call->status);
  if (call->body && call->body->read_errno) {
    bw_error_set_errno(err, BW_ERR_UNAVAILABLE, call->body->read_errno, "%s: read", what);
    return ATTEMPT_FAIL;
  }
  if (call->body && call->body->short_file) {
    bw_error_set(err, BW_ERR_UNAVAILABLE, "%s: the file shrank while being sent", what);
    return ATTEMPT_FAIL;
  }
  if (call->download_too_large) {
    bw_error_set(err, BW_ERR_USER, "%s: larger than %lld bytes", what,
                 (long long)call->download_max);
    return ATTEMPT_FAIL;
  }
  if (call->download_errno) {
    bw_error_set_errno(err, BW_ERR_UNAVAILABLE, call->download_errno, "%s: write", what);
    return ATTEMPT_FAIL;
  }
  if (rc != CURLE_OK) {
    bw_error_set(err, BW_ERR_UNAVAILABLE, "%s: %s", what, curl_easy_strerror(rc));
    return ATTEMPT_RETRY;
  }
  if (call->status >= 200 && call->status < 300)
    return ATTEMPT_OK;
  cleanup_free char *summary = answer_summary(call->status, &call->answer);
  bw_error_set(err, BW_ERR_UNAVAILABLE, "%s: %s", what, summary);
  s3_xml_answer xml = {0};
  cleanup_error bw_error_t ignored = NULL;
  bool again = retryable(call->status, NULL);
  if (!again && call->answer.len &&
      s3_xml_parse(call->answer.data, call->answer.len, &xml, &ignored) == 0)
    again = retryable(call->status, xml.error_code);
  s3_xml_answer_free(&xml);
  return again ? ATTEMPT_RETRY : ATTEMPT_FAIL;
}

int s3_call_perform(s3_client *c, s3_call *call, bw_error_t *err) {
  cleanup_free char *url = request_url(c, call);
  cleanup_free char *shown = s3_display_url(call->bucket, call->key);
  cleanup_free char *what = bw_strdup_printf("S3 %s %s", call->method, shown);
  cleanup_slist struct curl_slist *headers = call_headers(c, call);
  cleanup_curl CURL *h = call_handle(c, call, url, headers);
  call->handle = h;
  off_t download_start = call->download_fd >= 0 ? lseek(call->download_fd, 0, SEEK_CUR) : 0;
  http_retry retry = http_retry_of(&c->opts);
  cleanup_error bw_error_t last = NULL;
  attempt_result r;
  for (;;) {
    rewind_attempt(call, download_start);
    r = attempt(call, what, &last);
    if (r != ATTEMPT_RETRY || !http_retry_wait(&retry))
      break;
  }
  call->handle = NULL;
  if (r == ATTEMPT_OK)
    return 0;
  if (bw_cancel_level(c->opts.cancel))
    return bw_error_set(err, BW_ERR_CANCELLED, "%s: cancelled", what);
  if (r == ATTEMPT_FAIL)
    return bw_error_set(err, last->kind, "%s", last->msg);
  return bw_error_set(err, last->kind, "%s (attempt %d of %d)", last->msg, retry.attempt,
                      c->opts.max_attempts);
}

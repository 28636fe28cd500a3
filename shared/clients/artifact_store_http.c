/* http(s):// artifact stores: one PUT per file, with retries
 * (artifact_store_internal.h). */
#include "clients/artifact_store_internal.h"

#include "clients/http_transfer.h"

#include "core/buffer.h"
#include "core/cleanup.h"
#include "core/digest.h"
#include "core/timeutil.h"
#include "core/version.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct curl_slist *upload_headers(const char *sha256_hex, bw_error_t *err) {
  unsigned char raw[DIGEST_SHA256_LEN];
  if (digest_hex_decode(sha256_hex, raw) < 0) {
    bw_error_set(err, BW_ERR_INVALID, "sha256 must be 64 hex digits");
    return NULL;
  }
  cleanup_free char *b64 = digest_base64(raw, sizeof(raw));
  cleanup_free char *checksum = bw_strdup_printf("X-Checksum-Sha256: %s", sha256_hex);
  cleanup_free char *digest = bw_strdup_printf("Digest: sha-256=%s", b64);
  struct curl_slist *h = NULL;
  h = curl_slist_append(h, checksum);
  h = curl_slist_append(h, digest);
  h = curl_slist_append(h, "Content-Type: application/octet-stream");
  /* No "Expect: 100-continue" round trip: one request, one answer. */
  h = curl_slist_append(h, "Expect:");
  if (!h)
    abort();
  return h;
}

typedef enum attempt_result { ATTEMPT_OK, ATTEMPT_RETRY, ATTEMPT_FAIL } attempt_result;

static attempt_result put_http_once(CURL *h, http_body *src, bw_buffer *body, const char *url,
                                    bw_error_t *err) {
  http_body_rewind(src);
  bw_buffer_reset(body);
  CURLcode rc = curl_easy_perform(h);
  if (src->read_errno) {
    bw_error_set_errno(err, BW_ERR_UNAVAILABLE, src->read_errno, "PUT %s: read", url);
    return ATTEMPT_FAIL;
  }
  if (src->short_file) {
    bw_error_set(err, BW_ERR_UNAVAILABLE, "PUT %s: the file shrank while being sent", url);
    return ATTEMPT_FAIL;
  }
  if (rc != CURLE_OK) {
    bw_error_set(err, BW_ERR_UNAVAILABLE, "PUT %s: %s", url, curl_easy_strerror(rc));
    return ATTEMPT_RETRY;
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300)
    return ATTEMPT_OK;
  cleanup_free char *excerpt = http_answer_excerpt(body);
  bw_error_set(err, BW_ERR_UNAVAILABLE, "PUT %s: HTTP %ld%s", url, status, excerpt);
  return status >= 500 ? ATTEMPT_RETRY : ATTEMPT_FAIL;
}

int artifact_store_http_put(artifact_store *s, const char *url, int fd, const char *sha256_hex,
                            int64_t size, bw_error_t *err) {
  cleanup_slist struct curl_slist *headers = upload_headers(sha256_hex, err);
  if (!headers)
    return -1;
  cleanup_buffer bw_buffer body;
  bw_buffer_init(&body, ERROR_BODY_CAP);
  http_body src = {.fd = fd, .size = size};
  cleanup_curl CURL *h = http_handle_new(url);
  http_body_attach(h, &src);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bw_buffer_curl_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s->opts.connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->opts.low_speed_time_s);
  if (s->user) {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERNAME, s->user);
    curl_easy_setopt(h, CURLOPT_PASSWORD, s->password ? s->password : "");
  }
  http_retry retry = http_retry_of(&s->opts);
  cleanup_error bw_error_t last = NULL;
  for (;;) {
    attempt_result r = put_http_once(h, &src, &body, url, &last);
    if (r == ATTEMPT_OK)
      return 0;
    if (r == ATTEMPT_FAIL || !http_retry_wait(&retry))
      break;
  }
  if (bw_cancel_level(s->opts.cancel))
    return bw_error_set(err, BW_ERR_CANCELLED, "PUT %s: cancelled while waiting to retry", url);
  return bw_error_set(err, last->kind, "%s (attempt %d of %d)", last->msg, retry.attempt,
                      s->opts.max_attempts);
}

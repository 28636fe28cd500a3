#include "clients/http_transfer.h"

#include "core/cleanup.h"
#include "core/error.h"
#include "core/utf8.h"
#include "core/timeutil.h"
#include "core/version.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define EXCERPT_SHOWN 200

void http_transfer_opts_defaults(http_transfer_opts *o) {
  if (o->connect_timeout_ms <= 0)
    o->connect_timeout_ms = 10000;
  if (o->low_speed_time_s <= 0)
    o->low_speed_time_s = 60;
  if (o->max_attempts <= 0)
    o->max_attempts = 5;
  if (o->backoff_initial_ms <= 0)
    o->backoff_initial_ms = 500;
  if (o->backoff_max_ms <= 0)
    o->backoff_max_ms = 30000;
}

static size_t body_read(char *buffer, size_t size, size_t nitems, void *userdata) {
  http_body *b = userdata;
  size_t want = size * nitems;
  int64_t left = b->size - b->sent;
  if (left <= 0)
    return 0;
  if ((int64_t)want > left)
    want = (size_t)left;
  ssize_t n;
  do
    n = pread(b->fd, buffer, want, b->start + b->sent);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    b->read_errno = errno;
    return CURL_READFUNC_ABORT;
  }
  if (n == 0) {
    b->short_file = true;
    return CURL_READFUNC_ABORT;
  }
  b->sent += n;
  return (size_t)n;
}

/* libcurl rewinds the body when it must send it again on the same request. */
static int body_seek(void *userdata, curl_off_t offset, int origin) {
  http_body *b = userdata;
  if (origin != SEEK_SET || offset < 0 || offset > b->size)
    return CURL_SEEKFUNC_CANTSEEK;
  b->sent = offset;
  return CURL_SEEKFUNC_OK;
}

void http_body_attach(CURL *h, http_body *b) {
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->size);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, body_read);
  curl_easy_setopt(h, CURLOPT_READDATA, b);
  curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, body_seek);
  curl_easy_setopt(h, CURLOPT_SEEKDATA, b);
}

void http_body_rewind(http_body *b) {
  b->sent = 0;
  b->read_errno = 0;
  b->short_file = false;
}

char *http_escape(const char *text, bool keep_slash) {
  static const char hex[] = "0123456789ABCDEF";
  size_t len = strlen(text);
  char *out = bw_xmalloc(len * 3 + 1);
  char *o = out;
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    unsigned char c = *p;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || (c == '/' && keep_slash)) {
      *o++ = (char)c;
    } else {
      *o++ = '%';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 0x0f];
    }
  }
  *o = '\0';
  return out;
}

CURL *http_handle_new(const char *url) {
  CURL *h = curl_easy_init();
  if (!h)
    abort();
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "bundle-worker/" BW_VERSION);
  http_restrict_protocols(h);
  return h;
}

void http_restrict_protocols(CURL *h) {
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0: the _STR forms; the others are deprecated */
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}

char *http_answer_excerpt(const bw_buffer *b) {
  if (!b->data || b->len == 0)
    return bw_strdup("");
  size_t n = b->len < EXCERPT_SHOWN ? b->len : EXCERPT_SHOWN;
  while (n > 0 && (unsigned char)b->data[n - 1] <= ' ')
    n--;
  if (n == 0)
    return bw_strdup("");
  cleanup_free char *raw = bw_strdup_printf(": %.*s", (int)n, b->data);
  for (char *c = raw; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      *c = ' ';
  /* A cut inside a character, or a server's Latin-1: events take UTF-8 only. */
  return bw_utf8_sanitize(raw, strlen(raw), true, NULL);
}

http_retry http_retry_of(const http_transfer_opts *o) {
  return (http_retry){.max_attempts = o->max_attempts,
                      .backoff_ms = o->backoff_initial_ms,
                      .backoff_max_ms = o->backoff_max_ms,
                      .cancel = o->cancel,
                      .attempt = 1};
}

bool http_retry_wait(http_retry *r) {
  if (r->attempt >= r->max_attempts || bw_cancel_level(r->cancel))
    return false;
  /* Full jitter over the upper half: workers that failed together do not
   * come back together. */
  unsigned int noise = 0;
  if (getrandom(&noise, sizeof(noise), GRND_NONBLOCK) != sizeof(noise))
    noise = (unsigned int)r->attempt * 2654435761u;
  long wait = r->backoff_ms / 2 + (long)(noise % (unsigned long)(r->backoff_ms / 2 + 1));
  bw_time_sleep_ms(wait, r->cancel);
  r->backoff_ms = r->backoff_ms * 2 > r->backoff_max_ms ? r->backoff_max_ms : r->backoff_ms * 2;
  if (bw_cancel_level(r->cancel))
    return false;
  r->attempt++;
  return true;
}

#include "pipeline/inputs.h"
#include "pipeline/inputs_internal.h"

#include "core/safe_fs.h"
#include "core/fdio.h"

#include "core/cleanup.h"
#include "core/digest.h"
#include "core/timeutil.h"
#include "core/version.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the network: which connections an input may make ----------------------------------- */

/* Asked by curl for every socket it is about to connect (the first hop's and
 * each redirect's, every address it tries): the address curl resolved and
 * will connect is the one judged, so a name resolving to 127.0.0.1 cannot
 * slip past a check made on the name. */
typedef struct conn_guard {
  const net_policy *policy;
  const char *host; /* the current hop's host name, from its URL */
  bool refused;
  net_verdict verdict; /* the first refusal */
} conn_guard;

static curl_socket_t guard_open_socket(void *clientp, curlsocktype purpose,
                                       struct curl_sockaddr *address) {
  conn_guard *g = clientp;
  net_verdict v;
  net_policy_decide(g->policy, &address->addr, address->addrlen, g->host, &v);
  if (!v.allowed) {
    if (!g->refused) {
      g->refused = true;
      g->verdict = v;
    }
    return CURL_SOCKET_BAD; /* curl tries its next address, if any, else fails */
  }
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* The host of an http(s) URL as curl sees it ("localhost", "[::1]"), or NULL. */
static char *url_host(const char *url) {
  CURLU *u = curl_url();
  if (!u)
    abort();
  char *host = NULL;
  char *out = NULL;
  if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
    out = bw_strdup(host);
  curl_free(host);
  curl_url_cleanup(u);
  return out;
}

static bool url_is_http(const char *url) {
  CURLU *u = curl_url();
  if (!u)
    abort();
  char *scheme = NULL;
  bool http = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
  curl_free(scheme);
  curl_url_cleanup(u);
  return http;
}

/* ---- the destination, inside in/ ------------------------------------------------------- */

/* ---- the transfer ---------------------------------------------------------------------- */

typedef struct fetch_sink {
  CURL *h;
  int fd;
  digest_sha256 digest;
  int64_t written;
  int64_t max_bytes; /* 0: no bound */
  bool too_big;
  int write_errno;
  bool digest_failed;
  const bw_cancel *cancel;
  int64_t deadline_ms; /* 0: none */
} fetch_sink;

/* curl's own timers fire at the deadline or a few ms after it; a timeout
 * this close to the deadline is the deadline's. */
#define DEADLINE_SLACK_MS 100

static bool deadline_passed(int64_t deadline_ms, int64_t slack_ms) {
  return deadline_ms > 0 && bw_time_monotonic_ms() + slack_ms >= deadline_ms;
}

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  fetch_sink *s = userdata;
  size_t len = size * nmemb;
  long code = 0;
  curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
  if (code >= 300 && code < 400)
    return len; /* a redirect's own body: not the input */
  if (s->max_bytes > 0 && s->written + (int64_t)len > s->max_bytes) {
    s->too_big = true;
    return 0; /* stops the transfer before a byte over the bound reaches disk */
  }
  if (digest_sha256_update(&s->digest, ptr, len, NULL) < 0) {
    s->digest_failed = true;
    return 0;
  }
  if (bw_write_all(s->fd, ptr, len) < 0) {
    s->write_errno = errno;
    return 0;
  }
  s->written += (int64_t)len;
  return len;
}

/* Also what stops a file:// read at the deadline (curl's timeouts are for
 * network transfers). */
static int sink_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                         curl_off_t ulnow) {
  const fetch_sink *s = userdata;
  if (bw_cancel_level(s->cancel))
    return 1;
  return deadline_passed(s->deadline_ms, 0) ? 1 : 0;
}

static void restrict_protocols(CURL *h, bool first_hop) {
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0: the _STR forms; the others are deprecated */
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, first_hop ? "http,https,file" : "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS,
                   first_hop ? (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE)
                             : (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}

static int timeout_error(const char *where, bw_error_t *err) {
  return bw_error_set(err, BW_ERR_TIMEOUT,
                      "%s: the inputs took longer than the job's time limit "
                      "(limits.timeout_seconds)",
                      where);
}

static int refused_error(const conn_guard *g, const char *where, bw_error_t *err) {
  return bw_error_set(err, BW_ERR_USER, "%s: the address %s is %s, not allowed (jobs.inputs.allow)",
                      where, g->verdict.address, g->verdict.range);
}

/* Maps a failed transfer to an error with the right kind; `where` names the
 * URL (and the redirect) without secrets. */
static int transfer_error(CURL *h, CURLcode rc, const fetch_sink *s, const conn_guard *g,
                          const char *where, bw_error_t *err) {
  if (rc == CURLE_ABORTED_BY_CALLBACK && bw_cancel_level(s->cancel))
    return bw_error_set(err, BW_ERR_CANCELLED, "cancelled");
  if ((rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_ABORTED_BY_CALLBACK) &&
      deadline_passed(s->deadline_ms, DEADLINE_SLACK_MS))
    return timeout_error(where, err);
  if (g->refused)
    return refused_error(g, where, err);
  if (s->too_big || rc == CURLE_FILESIZE_EXCEEDED)
    return bw_error_set(err, BW_ERR_USER, "body larger than %" PRId64 " bytes", s->max_bytes);
  if (s->write_errno)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, s->write_errno, "write");
  if (s->digest_failed)
    return bw_error_set(err, BW_ERR_INTERNAL, "sha256 failed");
  long status = 0;
  switch (rc) {
  case CURLE_HTTP_RETURNED_ERROR:
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    /* A 5xx may pass: let the job be retried. A 4xx is what the job asked for. */
    return bw_error_set(err, status >= 500 ? BW_ERR_UNAVAILABLE : BW_ERR_USER, "%s: HTTP %ld",
                        where, status);
  case CURLE_FILE_COULDNT_READ_FILE:
    return bw_error_set(err, BW_ERR_USER, "%s: not found or not readable", where);
  case CURLE_UNSUPPORTED_PROTOCOL:
    return bw_error_set(err, BW_ERR_USER,
                        "%s: protocol not allowed (only http, https, file; redirects only to "
                        "http and https)",
                        where);
  case CURLE_URL_MALFORMAT:
    return bw_error_set(err, BW_ERR_USER, "%s: %s", where, curl_easy_strerror(rc));
  default:
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "%s: %s", where, curl_easy_strerror(rc));
  }
}

/* curl would happily stream /dev/zero or wait on a fifo named by a file://
 * URL: only regular files (after symlinks, as curl opens them) are sources. */
static int check_file_source(const char *url, const char *shown_url, bw_error_t *err) {
  CURLU *u = curl_url();
  if (!u)
    abort();
  char *scheme = NULL;
  char *path = NULL;
  int rc = 0;
  if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK && strcmp(scheme, "file") == 0 &&
      curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) == CURLUE_OK) {
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
      rc = bw_error_set(err, BW_ERR_USER, "%s: not a regular file", shown_url);
  }
  curl_free(path);
  curl_free(scheme);
  curl_url_cleanup(u);
  return rc;
}

static CURL *transfer_new(fetch_sink *s, conn_guard *g) {
  CURL *h = curl_easy_init();
  if (!h)
    abort();
  s->h = h;
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "bundle-worker/" BW_VERSION);
  /* A proxy would be the address connected, and it would resolve and reach
   * the input's host itself, out of the policy's sight: no proxy, not even
   * one from http_proxy / HTTPS_PROXY in the worker's environment. */
  curl_easy_setopt(h, CURLOPT_PROXY, "");
  /* Redirects are followed in download(), where each hop's host is known. */
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, guard_open_socket);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, g);
  curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, INPUTS_LOW_SPEED_TIME_S);
  if (s->max_bytes > 0) /* refuses early when the server announces a larger body */
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->max_bytes);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, sink_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
  return h;
}

/* Bounds the next transfer by what is left until the deadline. */
static int set_time_left(CURL *h, int64_t deadline_ms, const char *where, bw_error_t *err) {
  long connect_ms = INPUTS_CONNECT_TIMEOUT_S * 1000;
  long total_ms = 0; /* none */
  if (deadline_ms > 0) {
    int64_t left = deadline_ms - bw_time_monotonic_ms();
    if (left <= 0)
      return timeout_error(where, err);
    total_ms = left > LONG_MAX ? LONG_MAX : (long)left;
    if (connect_ms > total_ms)
      connect_ms = total_ms;
  }
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  return 0;
}

/* Performs one hop; on a redirect sets *next (free() it) to where it leads. */
static int transfer_hop(CURL *h, fetch_sink *s, conn_guard *g, const char *url, bool first_hop,
                        const char *where, char **next, bw_error_t *err) {
  *next = NULL;
  cleanup_free char *host = url_host(url);
  *g = (conn_guard){.policy = g->policy, .host = host};
  curl_easy_setopt(h, CURLOPT_URL, url);
  restrict_protocols(h, first_hop);
  if (set_time_left(h, s->deadline_ms, where, err) < 0)
    return -1;
  CURLcode rc = curl_easy_perform(h);
  g->host = NULL;
  if (rc != CURLE_OK)
    return transfer_error(h, rc, s, g, where, err);
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  if (code < 300 || code >= 400)
    return 0;
  char *location = NULL;
  curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &location);
  if (!location)
    return bw_error_set(err, BW_ERR_USER, "%s: HTTP %ld without a Location to follow", where, code);
  *next = bw_strdup(location);
  return 0;
}

/* Streams url into the open temporary file, following up to
 * INPUTS_MAX_REDIRECTS redirects; checks the size bound and the checksum. */
static int download(const job_input *in, int64_t max_bytes, int fd, const inputs_options *o,
                    const net_policy *policy, bw_error_t *err) {
  cleanup_free char *shown_url = inputs_url_redact(in->url);
  if (check_file_source(in->url, shown_url, err) < 0)
    return -1;
  fetch_sink s = {
      .fd = fd, .max_bytes = max_bytes, .cancel = o->cancel, .deadline_ms = o->deadline_ms};
  if (digest_sha256_init(&s.digest, err) < 0)
    return -1;
  conn_guard g = {.policy = policy};
  cleanup_curl CURL *h = transfer_new(&s, &g);
  cleanup_free char *url = bw_strdup(in->url);
  cleanup_free char *where = bw_strdup(shown_url);
  for (int hop = 0;; hop++) {
    cleanup_free char *next = NULL;
    if (transfer_hop(h, &s, &g, url, hop == 0, where, &next, err) < 0) {
      digest_sha256_free(&s.digest);
      return -1;
    }
    if (!next)
      break;
    free(where);
    cleanup_free char *shown_next = inputs_url_redact(next);
    where = bw_strdup_printf("%s: redirected to %s", shown_url, shown_next);
    if (hop == INPUTS_MAX_REDIRECTS || !url_is_http(next)) {
      digest_sha256_free(&s.digest);
      if (hop == INPUTS_MAX_REDIRECTS)
        return bw_error_set(err, BW_ERR_USER, "%s: more than %d redirects", where,
                            INPUTS_MAX_REDIRECTS);
      return bw_error_set(err, BW_ERR_USER,
                          "%s: protocol not allowed (only http, https, file; redirects only to "
                          "http and https)",
                          where);
    }
    free(url);
    url = steal_pointer(&next);
  }
  char got[DIGEST_SHA256_HEX_LEN + 1];
  if (digest_sha256_final(&s.digest, NULL, got, err) < 0)
    return -1;
  if (in->sha256 && strcasecmp(in->sha256, got) != 0)
    return bw_error_set(err, BW_ERR_USER, "sha256 mismatch: expected %s, got %s", in->sha256, got);
  return 0;
}

int inputs_store_at(int in_fd, const char *path, inputs_fill_fn fill, void *ctx, bw_error_t *err) {
  const char *problem = inputs_path_problem(path, strlen(path));
  if (problem)
    return bw_error_set(err, BW_ERR_USER, "path: %s", problem);
  cleanup_close int dir_fd = -1;
  const char *base = NULL;
  int bad_errno = 0;
  cleanup_free char *bad = NULL;
  if (safe_fs_open_parent(in_fd, path, &dir_fd, &base, &bad_errno, &bad) < 0) {
    if (bad_errno == ELOOP || bad_errno == ENOTDIR)
      return bw_error_set(err, BW_ERR_USER, "in/%s: a symlink or not a folder (not followed)", bad);
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, bad_errno, "in/%s", bad);
  }
  char temp[64];
  cleanup_close int fd = safe_fs_open_temp(dir_fd, "input", temp, err);
  if (fd < 0)
    return -1;
  if (fill(ctx, fd, err) < 0) {
    unlinkat(dir_fd, temp, 0);
    return -1;
  }
  /* rename() replaces a planted symlink itself, never what it points to. */
  if (renameat(dir_fd, temp, dir_fd, base) < 0) {
    int e = errno;
    unlinkat(dir_fd, temp, 0);
    if (e == EISDIR || e == ENOTEMPTY || e == EEXIST)
      return bw_error_set(err, BW_ERR_USER, "in/%s: a folder is in the way", path);
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, e, "in/%s: rename", path);
  }
  return 0;
}

typedef struct url_fill {
  const job_input *in;
  int64_t max_bytes;
  const inputs_options *o;
  const net_policy *policy;
} url_fill;

static int fill_from_url(void *ctx, int fd, bw_error_t *err) {
  url_fill *f = ctx;
  return download(f->in, f->max_bytes, fd, f->o, f->policy, err);
}

static int fetch_one(int in_fd, const job_input *in, const inputs_options *o,
                     const net_policy *policy, bw_error_t *err) {
  int64_t max_bytes = in->max_bytes > 0 ? in->max_bytes : o->default_max_bytes;
  if (strncmp(in->url, "s3://", 5) == 0)
    return inputs_fetch_s3(in_fd, in, max_bytes, o, err);
  url_fill f = {.in = in, .max_bytes = max_bytes, .o = o, .policy = policy};
  return inputs_store_at(in_fd, in->path, fill_from_url, &f, err);
}

static void net_policy_cleanup(net_policy *p) {
  net_policy_free(p);
}

int inputs_fetch(const char *in_dir, const job_input *inputs, size_t count,
                 const inputs_options *opts, bw_error_t *err) {
  if (count == 0)
    return 0;
  const inputs_options none = {0};
  const inputs_options *o = opts ? opts : &none;
  __attribute__((cleanup(net_policy_cleanup))) net_policy parsed = {0};
  const net_policy *policy = o->policy;
  if (!policy) {
    /* jobs.inputs.allow was checked when the configuration was loaded: a
     * failure here is the worker's, not the job's. */
    cleanup_error bw_error_t bad = NULL;
    if (net_policy_parse(o->allow, &parsed, &bad) < 0)
      return bw_error_set(err, BW_ERR_INTERNAL, "jobs.inputs.allow: %s", bad->msg);
    policy = &parsed;
  }
  cleanup_close int in_fd = open(in_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (in_fd < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "inputs: open %s", in_dir);
  for (size_t i = 0; i < count; i++) {
    if (bw_cancel_level(o->cancel))
      return bw_error_set(err, BW_ERR_CANCELLED, "inputs[%zu]: cancelled", i);
    if (fetch_one(in_fd, &inputs[i], o, policy, err) < 0)
      return bw_error_prefix(err, "inputs[%zu]", i);
  }
  return 0;
}

#include "artifact_store.h"

#include "safe_fs.h"

#include "buffer.h"
#include "cleanup.h"
#include "digest.h"
#include "timeutil.h"
#include "version.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARTIFACT_KEY_MAX 1024
#define COPY_CHUNK (64u * 1024u)
/* Enough of an error body to say what the server disliked. */
#define ERROR_BODY_CAP 4096u
#define ERROR_BODY_SHOWN 200

typedef enum store_kind { STORE_FILE, STORE_HTTP } store_kind;

struct artifact_store {
  store_kind kind;
  char *public_url; /* no credentials, no trailing '/': locations start with it */
  int dir_fd;       /* file: the store's folder */
  char *user;       /* http: from the URL's userinfo, or NULL */
  char *password;
  artifact_store_opts opts;
};

/* ---- names ------------------------------------------------------------------------------ */

const char *artifact_store_key_problem(const char *key) {
  size_t len = strlen(key);
  if (len == 0)
    return "empty key";
  if (len > ARTIFACT_KEY_MAX)
    return "key longer than 1024 bytes";
  if (key[0] == '/')
    return "key must be relative";
  for (const char *p = key; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return "key has a control character";
  for (const char *p = key;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
      return "key has an empty, '.' or '..' component";
    if (!slash)
      return NULL;
    p = slash + 1;
  }
}

/* Percent-encodes all but RFC 3986 unreserved characters, keeping '/' as the
 * separator; written here because curl_easy_escape needs a handle before
 * libcurl 7.82. free() the result. */
static char *escape_path(const char *path) {
  static const char hex[] = "0123456789ABCDEF";
  size_t len = strlen(path);
  char *out = malloc(len * 3 + 1);
  if (!out)
    abort();
  char *o = out;
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    unsigned char c = *p;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || c == '/') {
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

static char *location_of(const artifact_store *s, const char *key) {
  cleanup_free char *escaped = escape_path(key);
  return bw_strdup_printf("%s/%s", s->public_url, escaped);
}

/* ---- open / free ------------------------------------------------------------------------ */

void artifact_store_free(artifact_store *s) {
  if (!s)
    return;
  if (s->dir_fd >= 0)
    close(s->dir_fd);
  free(s->public_url);
  free(s->user);
  if (s->password)
    explicit_bzero(s->password, strlen(s->password));
  free(s->password);
  free(s);
}

const char *artifact_store_url(const artifact_store *s) {
  return s->public_url;
}

/* mkdir -p for the operator's own folder (a trusted path: symlinks allowed). */
static int make_dirs(const char *path, bw_error_t *err) {
  cleanup_free char *copy = bw_strdup(path);
  for (char *p = copy + 1;; p++) {
    if (*p != '/' && *p != '\0')
      continue;
    char saved = *p;
    *p = '\0';
    if (mkdir(copy, 0755) < 0 && errno != EEXIST)
      return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "mkdir %s", copy);
    *p = saved;
    if (!saved)
      return 0;
  }
}

static int open_file_store(artifact_store *s, CURLU *u, bw_error_t *err) {
  char *path = NULL;
  if (curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK || path[0] != '/') {
    curl_free(path);
    return bw_error_set(err, BW_ERR_INVALID, "artifact store: file URL needs an absolute path");
  }
  cleanup_free char *dir = bw_strdup(path);
  curl_free(path);
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/')
    dir[--len] = '\0';
  if (make_dirs(dir, err) < 0)
    return bw_error_prefix(err, "artifact store");
  s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->dir_fd < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "artifact store: open %s", dir);
  cleanup_free char *escaped = escape_path(strcmp(dir, "/") == 0 ? "" : dir);
  s->public_url = bw_strdup_printf("file://%s", escaped);
  return 0;
}

static char *url_part(CURLU *u, CURLUPart part, unsigned int flags) {
  char *v = NULL;
  if (curl_url_get(u, part, &v, flags) != CURLUE_OK)
    return NULL;
  char *out = bw_strdup(v);
  curl_free(v);
  return out;
}

static int open_http_store(artifact_store *s, CURLU *u, bw_error_t *err) {
  s->user = url_part(u, CURLUPART_USER, CURLU_URLDECODE);
  s->password = url_part(u, CURLUPART_PASSWORD, CURLU_URLDECODE);
  curl_url_set(u, CURLUPART_USER, NULL, 0);
  curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
  curl_url_set(u, CURLUPART_OPTIONS, NULL, 0);
  char *base = url_part(u, CURLUPART_URL, 0);
  if (!base)
    return bw_error_set(err, BW_ERR_INVALID, "artifact store: cannot rebuild the URL");
  size_t len = strlen(base);
  while (len > 0 && base[len - 1] == '/')
    base[--len] = '\0';
  s->public_url = base;
  return 0;
}

static void opts_defaults(artifact_store_opts *o) {
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

int artifact_store_open_opts(const char *url, const artifact_store_opts *opts, artifact_store **out,
                             bw_error_t *err) {
  *out = NULL;
  CURLU *u = curl_url();
  if (!u)
    abort();
  char *scheme = NULL;
  char *query = NULL;
  char *fragment = NULL;
  artifact_store *s = calloc(1, sizeof(*s));
  if (!s)
    abort();
  s->dir_fd = -1;
  if (opts)
    s->opts = *opts;
  opts_defaults(&s->opts);
  int rc;
  /* The URL itself is not quoted in these messages: it may carry a password. */
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
    rc = bw_error_set(err, BW_ERR_INVALID, "artifact store: not a valid URL");
  else if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
           curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_OK)
    rc = bw_error_set(err, BW_ERR_INVALID,
                      "artifact store: the URL must not have a query or a fragment");
  else if (strcmp(scheme, "file") == 0) {
    s->kind = STORE_FILE;
    rc = open_file_store(s, u, err);
  } else if (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) {
    s->kind = STORE_HTTP;
    rc = open_http_store(s, u, err);
  } else
    rc = bw_error_set(err, BW_ERR_INVALID,
                      "artifact store: scheme %s not supported (file, http, https)", scheme);
  curl_free(scheme);
  curl_free(query);
  curl_free(fragment);
  curl_url_cleanup(u);
  if (rc < 0) {
    artifact_store_free(s);
    return -1;
  }
  *out = s;
  return 0;
}

int artifact_store_open(const char *url, artifact_store **out, bw_error_t *err) {
  return artifact_store_open_opts(url, NULL, out, err);
}

/* ---- file:// ---------------------------------------------------------------------------- */

static int write_all(int fd, const unsigned char *data, size_t len) {
  for (size_t done = 0; done < len;) {
    ssize_t n = write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    done += (size_t)n;
  }
  return 0;
}

/* Copies src (from offset 0) to dst, hashing on the way, and checks that what
 * was copied is what the caller described. */
static int copy_checked(int src, int dst, const char *sha256_hex, int64_t size, bw_error_t *err) {
  cleanup_digest digest_sha256 d = {0};
  if (digest_sha256_init(&d, err) < 0)
    return -1;
  cleanup_free unsigned char *chunk = malloc(COPY_CHUNK);
  if (!chunk)
    abort();
  int64_t off = 0;
  for (;;) {
    ssize_t n = pread(src, chunk, COPY_CHUNK, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "read");
    if (n == 0)
      break;
    if (digest_sha256_update(&d, chunk, (size_t)n, err) < 0)
      return -1;
    if (write_all(dst, chunk, (size_t)n) < 0)
      return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "write");
    off += n;
  }
  char got[DIGEST_SHA256_HEX_LEN + 1];
  if (digest_sha256_final(&d, NULL, got, err) < 0)
    return -1;
  if (off != size || strcasecmp(got, sha256_hex) != 0)
    return bw_error_set(err, BW_ERR_UNAVAILABLE,
                        "the file changed while being stored (%" PRId64 " bytes, sha256 %s; "
                        "expected %" PRId64 " bytes, sha256 %s)",
                        off, got, size, sha256_hex);
  if (fsync(dst) < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "fsync");
  return 0;
}

static int put_file(artifact_store *s, const char *key, int fd, const char *sha256_hex,
                    int64_t size, bw_error_t *err) {
  cleanup_close int dir_fd = -1;
  const char *base = NULL;
  int bad_errno = 0;
  cleanup_free char *bad = NULL;
  if (safe_fs_open_parent(s->dir_fd, key, &dir_fd, &base, &bad_errno, &bad) < 0) {
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, bad_errno, "open folder %s", bad);
  }
  char temp[64];
  cleanup_close int out = safe_fs_open_temp(dir_fd, "artifact", temp, err);
  if (out < 0)
    return -1;
  if (copy_checked(fd, out, sha256_hex, size, err) < 0) {
    unlinkat(dir_fd, temp, 0);
    return -1;
  }
  if (renameat(dir_fd, temp, dir_fd, base) < 0) {
    int e = errno;
    unlinkat(dir_fd, temp, 0);
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, e, "rename");
  }
  /* The rename is durable only once the folder itself is synced. */
  if (fsync(dir_fd) < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "fsync folder");
  return 0;
}

/* ---- http(s):// ------------------------------------------------------------------------- */

typedef struct upload_source {
  int fd;
  int64_t offset;
  int64_t size;
  int read_errno;
  bool short_file;
} upload_source;

static size_t upload_read(char *buffer, size_t size, size_t nitems, void *userdata) {
  upload_source *src = userdata;
  size_t want = size * nitems;
  int64_t left = src->size - src->offset;
  if (left <= 0)
    return 0;
  if ((int64_t)want > left)
    want = (size_t)left;
  ssize_t n;
  do
    n = pread(src->fd, buffer, want, src->offset);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    src->read_errno = errno;
    return CURL_READFUNC_ABORT;
  }
  if (n == 0) { /* shorter than announced: Content-Length would lie */
    src->short_file = true;
    return CURL_READFUNC_ABORT;
  }
  src->offset += n;
  return (size_t)n;
}

/* libcurl rewinds the body when it must send it again on the same request. */
static int upload_seek(void *userdata, curl_off_t offset, int origin) {
  upload_source *src = userdata;
  if (origin != SEEK_SET || offset < 0 || offset > src->size)
    return CURL_SEEKFUNC_CANTSEEK;
  src->offset = offset;
  return CURL_SEEKFUNC_OK;
}

static void restrict_protocols(CURL *h) {
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0: the _STR forms; the others are deprecated */
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}

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

/* A short, single-line excerpt of an error body for the message. */
static char *body_excerpt(const bw_buffer *b) {
  if (!b->data || b->len == 0)
    return bw_strdup("");
  size_t n = b->len < ERROR_BODY_SHOWN ? b->len : ERROR_BODY_SHOWN;
  while (n > 0 && (unsigned char)b->data[n - 1] <= ' ')
    n--;
  if (n == 0)
    return bw_strdup("");
  char *out = bw_strdup_printf(": %.*s", (int)n, b->data);
  for (char *c = out; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      *c = ' ';
  return out;
}

typedef enum attempt_result { ATTEMPT_OK, ATTEMPT_RETRY, ATTEMPT_FAIL } attempt_result;

static attempt_result put_http_once(CURL *h, upload_source *src, bw_buffer *body, const char *url,
                                    bw_error_t *err) {
  src->offset = 0;
  src->read_errno = 0;
  src->short_file = false;
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
  cleanup_free char *excerpt = body_excerpt(body);
  bw_error_set(err, BW_ERR_UNAVAILABLE, "PUT %s: HTTP %ld%s", url, status, excerpt);
  return status >= 500 ? ATTEMPT_RETRY : ATTEMPT_FAIL;
}

static int put_http(artifact_store *s, const char *url, int fd, const char *sha256_hex,
                    int64_t size, bw_error_t *err) {
  cleanup_slist struct curl_slist *headers = upload_headers(sha256_hex, err);
  if (!headers)
    return -1;
  cleanup_buffer bw_buffer body;
  bw_buffer_init(&body, ERROR_BODY_CAP);
  upload_source src = {.fd = fd, .size = size};
  cleanup_curl CURL *h = curl_easy_init();
  if (!h)
    abort();
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "bundle-worker/" BW_VERSION);
  restrict_protocols(h);
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, upload_read);
  curl_easy_setopt(h, CURLOPT_READDATA, &src);
  curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, upload_seek);
  curl_easy_setopt(h, CURLOPT_SEEKDATA, &src);
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
  long backoff = s->opts.backoff_initial_ms;
  cleanup_error bw_error_t last = NULL;
  for (int attempt = 1;; attempt++) {
    attempt_result r = put_http_once(h, &src, &body, url, &last);
    if (r == ATTEMPT_OK)
      return 0;
    if (r == ATTEMPT_FAIL || attempt == s->opts.max_attempts)
      return bw_error_set(err, last->kind, "%s (attempt %d of %d)", last->msg, attempt,
                          s->opts.max_attempts);
    bw_time_sleep_ms(backoff, s->opts.cancel);
    if (bw_cancel_level(s->opts.cancel))
      return bw_error_set(err, BW_ERR_CANCELLED, "PUT %s: cancelled while waiting to retry", url);
    backoff = backoff * 2 > s->opts.backoff_max_ms ? s->opts.backoff_max_ms : backoff * 2;
  }
}

/* ---- put -------------------------------------------------------------------------------- */

/* The whole file from offset 0, through pread so the fd's offset stays put. */
static int hash_fd(int fd, char hex[DIGEST_SHA256_HEX_LEN + 1], int64_t *size, bw_error_t *err) {
  cleanup_digest digest_sha256 d = {0};
  if (digest_sha256_init(&d, err) < 0)
    return -1;
  cleanup_free unsigned char *chunk = malloc(COPY_CHUNK);
  if (!chunk)
    abort();
  int64_t off = 0;
  for (;;) {
    ssize_t n = pread(fd, chunk, COPY_CHUNK, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "read");
    if (n == 0)
      break;
    if (digest_sha256_update(&d, chunk, (size_t)n, err) < 0)
      return -1;
    off += n;
  }
  *size = off;
  return digest_sha256_final(&d, NULL, hex, err);
}

int artifact_store_put_fd(artifact_store *s, const char *key, int fd, const char *sha256_hex,
                          int64_t size, char **location_out, bw_error_t *err) {
  if (location_out)
    *location_out = NULL;
  const char *problem = artifact_store_key_problem(key);
  if (problem)
    return bw_error_set(err, BW_ERR_INVALID, "artifact store: %s", problem);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "store %s: fstat", key);
  if (!S_ISREG(st.st_mode))
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "store %s: not a regular file", key);
  char computed[DIGEST_SHA256_HEX_LEN + 1];
  if (!sha256_hex || size < 0) {
    if (hash_fd(fd, computed, &size, err) < 0)
      return bw_error_prefix(err, "store %s", key);
    sha256_hex = computed;
  } else if (!digest_sha256_hex_valid(sha256_hex)) {
    return bw_error_set(err, BW_ERR_INVALID, "store %s: sha256 must be 64 hex digits", key);
  }
  cleanup_free char *location = location_of(s, key);
  int rc = s->kind == STORE_FILE ? put_file(s, key, fd, sha256_hex, size, err)
                                 : put_http(s, location, fd, sha256_hex, size, err);
  if (rc < 0)
    return bw_error_prefix(err, "store %s", key);
  if (location_out)
    *location_out = steal_pointer(&location);
  return 0;
}

int artifact_store_put(artifact_store *s, const char *key, const char *local_path,
                       const char *sha256_hex, int64_t size, char **location_out, bw_error_t *err) {
  cleanup_close int fd = open(local_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "store %s: open %s", key, local_path);
  return artifact_store_put_fd(s, key, fd, sha256_hex, size, location_out, err);
}

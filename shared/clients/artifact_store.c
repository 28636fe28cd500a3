#include "clients/artifact_store.h"

#include "clients/artifact_store_internal.h"
#include "clients/http_transfer.h"

#include "core/safe_fs.h"

#include "core/fdio.h"

#include "core/buffer.h"
#include "core/cleanup.h"
#include "core/digest.h"
#include "core/timeutil.h"
#include "core/version.h"

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

static char *location_of(const artifact_store *s, const char *key) {
  cleanup_free char *escaped = http_escape(key, true);
  return bw_strdup_printf("%s/%s", s->public_url, escaped);
}

/* ---- open / free ------------------------------------------------------------------------ */

void artifact_store_free(artifact_store *s) {
  if (!s)
    return;
  if (s->dir_fd >= 0)
    close(s->dir_fd);
  free(s->public_url);
  s3_client_free(s->s3);
  free(s->bucket);
  free(s->prefix);
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
  cleanup_free char *escaped = http_escape(strcmp(dir, "/") == 0 ? "" : dir, true);
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

/* file://, http(s)://: parsed by libcurl's URL API. */
static int open_url_store(artifact_store *s, const char *url, bw_error_t *err) {
  CURLU *u = curl_url();
  if (!u)
    abort();
  char *scheme = NULL;
  char *query = NULL;
  char *fragment = NULL;
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
                      "artifact store: scheme %s not supported (file, http, https, s3)", scheme);
  curl_free(scheme);
  curl_free(query);
  curl_free(fragment);
  curl_url_cleanup(u);
  return rc;
}

static int open_store(const char *url, const bw_config *cfg, const artifact_store_opts *opts,
                      artifact_store **out, bw_error_t *err) {
  *out = NULL;
  artifact_store *s = bw_xcalloc(1, sizeof(*s));
  s->dir_fd = -1;
  if (opts)
    s->opts = *opts;
  http_transfer_opts_defaults(&s->opts);
  int rc;
  if (strncmp(url, "s3://", 5) != 0) {
    rc = open_url_store(s, url, err);
  } else if (!cfg) {
    rc = bw_error_set(err, BW_ERR_INVALID,
                      "artifact store: an s3:// store needs the artifacts.s3.* configuration");
  } else {
    s->kind = STORE_S3;
    rc = artifact_store_s3_open(s, cfg, url, err);
  }
  if (rc < 0) {
    artifact_store_free(s);
    return -1;
  }
  *out = s;
  return 0;
}

int artifact_store_open_opts(const char *url, const artifact_store_opts *opts, artifact_store **out,
                             bw_error_t *err) {
  return open_store(url, NULL, opts, out, err);
}

int artifact_store_open(const char *url, artifact_store **out, bw_error_t *err) {
  return open_store(url, NULL, NULL, out, err);
}

int artifact_store_open_config(const bw_config *cfg, const artifact_store_opts *opts,
                               artifact_store **out, bw_error_t *err) {
  return open_store(cfg->artifacts_url, cfg, opts, out, err);
}

/* ---- file:// ---------------------------------------------------------------------------- */

static int write_chunk(void *ctx, const void *data, size_t len, bw_error_t *err) {
  if (bw_write_all(*(const int *)ctx, data, len) < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "write");
  return 0;
}

/* Copies src (from offset 0) to dst, hashing on the way, and checks that what
 * was copied is what the caller described. */
static int copy_checked(int src, int dst, const char *sha256_hex, int64_t size, bw_error_t *err) {
  char got[DIGEST_SHA256_HEX_LEN + 1];
  int64_t copied = 0;
  if (digest_sha256_pread_each(src, got, &copied, write_chunk, &dst, err) < 0)
    return -1;
  if (copied != size || strcasecmp(got, sha256_hex) != 0)
    return bw_error_set(err, BW_ERR_UNAVAILABLE,
                        "the file changed while being stored (%" PRId64 " bytes, sha256 %s; "
                        "expected %" PRId64 " bytes, sha256 %s)",
                        copied, got, size, sha256_hex);
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

/* ---- put -------------------------------------------------------------------------------- */

void artifact_stored_free(artifact_stored *a) {
  if (!a)
    return;
  free(a->location);
  free(a->etag);
  free(a->version_id);
  memset(a, 0, sizeof(*a));
}

static int put_checked(artifact_store *s, const char *key, int fd, const char *sha256_hex,
                       int64_t size, artifact_stored *out, bw_error_t *err) {
  if (s->kind == STORE_S3)
    return artifact_store_s3_put(s, key, fd, sha256_hex, size, out, err);
  cleanup_free char *location = location_of(s, key);
  int rc = s->kind == STORE_FILE ? put_file(s, key, fd, sha256_hex, size, err)
                                 : artifact_store_http_put(s, location, fd, sha256_hex, size, err);
  if (rc == 0 && out)
    out->location = steal_pointer(&location);
  return rc;
}

int artifact_store_put_fd(artifact_store *s, const char *key, int fd, const char *sha256_hex,
                          int64_t size, artifact_stored *out, bw_error_t *err) {
  if (out)
    memset(out, 0, sizeof(*out));
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
    if (digest_sha256_pread_each(fd, computed, &size, NULL, NULL, err) < 0)
      return bw_error_prefix(err, "store %s", key);
    sha256_hex = computed;
  } else if (!digest_sha256_hex_valid(sha256_hex)) {
    return bw_error_set(err, BW_ERR_INVALID, "store %s: sha256 must be 64 hex digits", key);
  }
  if (put_checked(s, key, fd, sha256_hex, size, out, err) < 0)
    return bw_error_prefix(err, "store %s", key);
  return 0;
}

int artifact_store_put(artifact_store *s, const char *key, const char *local_path,
                       const char *sha256_hex, int64_t size, char **location_out, bw_error_t *err) {
  if (location_out)
    *location_out = NULL;
  cleanup_close int fd = open(local_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "store %s: open %s", key, local_path);
  artifact_stored stored = {0};
  int rc = artifact_store_put_fd(s, key, fd, sha256_hex, size, &stored, err);
  if (rc == 0 && location_out)
    *location_out = steal_pointer(&stored.location);
  artifact_stored_free(&stored);
  return rc;
}

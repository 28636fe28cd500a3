#include "inputs.h"

#include "safe_fs.h"

#include "cleanup.h"
#include "digest.h"
#include "version.h"

#include <ctype.h>
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

/* A run request with more inputs than this is a mistake, not a workload. */
#define INPUTS_MAX_COUNT 1000

#define PATH_OUTSIDE "must stay inside in/ (start with tables/ or files/, no ..)"

/* ---- parsing ---------------------------------------------------------------------------- */

void inputs_free(job_input *inputs, size_t count) {
  if (!inputs)
    return;
  for (size_t i = 0; i < count; i++) {
    free(inputs[i].url);
    free(inputs[i].path);
    free(inputs[i].sha256);
  }
  free(inputs);
}

const char *inputs_path_problem(const char *path, size_t len) {
  if (len == 0)
    return "must not be empty";
  if (memchr(path, '\0', len))
    return "must not contain a NUL byte";
  if (len > INPUTS_PATH_MAX)
    return "longer than 255 bytes";
  if (path[0] == '/')
    return PATH_OUTSIDE;
  if (!(len >= 7 && memcmp(path, "tables/", 7) == 0) &&
      !(len >= 6 && memcmp(path, "files/", 6) == 0))
    return PATH_OUTSIDE;
  const char *p = path;
  const char *end = path + len;
  while (p <= end) {
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *stop = slash ? slash : end;
    size_t n = (size_t)(stop - p);
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return PATH_OUTSIDE;
    if (n == 0 || (n == 1 && p[0] == '.'))
      return "must not have empty or '.' components";
    if (!slash)
      break;
    p = slash + 1;
  }
  return NULL;
}

static const char *url_scheme_problem(const char *url, size_t len) {
  if (memchr(url, '\0', len))
    return "must not contain a NUL byte";
  CURLU *u = curl_url();
  if (!u)
    abort();
  const char *problem = NULL;
  char *scheme = NULL;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
    problem = "not a valid URL";
  else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0 &&
           strcmp(scheme, "file") != 0)
    problem = "scheme must be http, https or file";
  curl_free(scheme);
  curl_url_cleanup(u);
  return problem;
}

char *inputs_url_redact(const char *url) {
  CURLU *u = curl_url();
  if (!u)
    abort();
  char *shown = NULL;
  if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK)
    curl_url_get(u, CURLUPART_URL, &shown, 0);
  curl_url_cleanup(u);
  char *out = bw_strdup(shown ? shown : "(unparsable URL)");
  curl_free(shown);
  return out;
}

static int parse_string_field(const json_t *value, size_t i, const char *key, char **out,
                              bw_error_t *err) {
  if (!json_is_string(value))
    return bw_error_set(err, BW_ERR_INVALID, "inputs[%zu].%s: must be a string", i, key);
  *out = bw_strdup(json_string_value(value));
  return 0;
}

static int parse_sha256(const json_t *value, size_t i, char **out, bw_error_t *err) {
  const char *s = json_string_value(value);
  if (!s || json_string_length(value) != DIGEST_SHA256_HEX_LEN || !digest_sha256_hex_valid(s))
    return bw_error_set(err, BW_ERR_INVALID, "inputs[%zu].sha256: must be 64 hex digits", i);
  char *lower = bw_strdup(s);
  for (char *c = lower; *c; c++)
    *c = (char)tolower((unsigned char)*c);
  *out = lower;
  return 0;
}

static int parse_one(const json_t *obj, size_t i, job_input *in, bw_error_t *err) {
  if (!json_is_object(obj))
    return bw_error_set(err, BW_ERR_INVALID, "inputs[%zu]: must be an object", i);
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)obj, key, value) {
    if (strcmp(key, "url") == 0) {
      if (parse_string_field(value, i, key, &in->url, err) < 0)
        return -1;
      const char *problem = url_scheme_problem(in->url, json_string_length(value));
      if (problem)
        return bw_error_set(err, BW_ERR_INVALID, "inputs[%zu].url: %s", i, problem);
    } else if (strcmp(key, "path") == 0) {
      if (parse_string_field(value, i, key, &in->path, err) < 0)
        return -1;
      const char *problem = inputs_path_problem(in->path, json_string_length(value));
      if (problem)
        return bw_error_set(err, BW_ERR_INVALID, "inputs[%zu].path: %s", i, problem);
    } else if (strcmp(key, "sha256") == 0) {
      if (parse_sha256(value, i, &in->sha256, err) < 0)
        return -1;
    } else if (strcmp(key, "max_bytes") == 0) {
      if (!json_is_integer(value) || json_integer_value(value) <= 0)
        return bw_error_set(err, BW_ERR_INVALID,
                            "inputs[%zu].max_bytes: must be a positive integer", i);
      in->max_bytes = json_integer_value(value);
    } else {
      /* The key is the job's text: cut it short and keep it printable-ish. */
      return bw_error_set(err, BW_ERR_INVALID, "inputs[%zu]: unknown key \"%.64s\"", i, key);
    }
  }
  if (!in->url)
    return bw_error_set(err, BW_ERR_INVALID, "inputs[%zu].url: required", i);
  if (!in->path)
    return bw_error_set(err, BW_ERR_INVALID, "inputs[%zu].path: required", i);
  return 0;
}

/* Two inputs may not land on the same file, nor one inside the other. */
static int check_overlap(const job_input *inputs, size_t i, bw_error_t *err) {
  const char *a = inputs[i].path;
  size_t alen = strlen(a);
  for (size_t j = 0; j < i; j++) {
    const char *b = inputs[j].path;
    size_t blen = strlen(b);
    if (strcmp(a, b) == 0)
      return bw_error_set(err, BW_ERR_INVALID, "inputs[%zu].path: same destination as inputs[%zu]",
                          i, j);
    size_t shorter = alen < blen ? alen : blen;
    const char *longer = alen < blen ? b : a;
    if (strncmp(a, b, shorter) == 0 && longer[shorter] == '/')
      return bw_error_set(err, BW_ERR_INVALID,
                          "inputs[%zu].path: one of it and inputs[%zu].path would be a folder "
                          "holding the other",
                          i, j);
  }
  return 0;
}

int inputs_parse(const json_t *array, job_input **out, size_t *count, bw_error_t *err) {
  *out = NULL;
  *count = 0;
  if (!json_is_array(array))
    return bw_error_set(err, BW_ERR_INVALID, "inputs: must be an array");
  size_t n = json_array_size(array);
  if (n == 0)
    return 0;
  if (n > INPUTS_MAX_COUNT)
    return bw_error_set(err, BW_ERR_INVALID, "inputs: more than %d entries", INPUTS_MAX_COUNT);
  job_input *list = calloc(n, sizeof(*list));
  if (!list)
    abort();
  for (size_t i = 0; i < n; i++) {
    if (parse_one(json_array_get(array, i), i, &list[i], err) < 0 ||
        check_overlap(list, i, err) < 0) {
      inputs_free(list, n);
      return -1;
    }
  }
  *out = list;
  *count = n;
  return 0;
}

/* ---- the destination, inside in/ ------------------------------------------------------- */

/* ---- the transfer ---------------------------------------------------------------------- */

typedef struct fetch_sink {
  int fd;
  digest_sha256 digest;
  int64_t written;
  int64_t max_bytes; /* 0: no bound */
  bool too_big;
  int write_errno;
  bool digest_failed;
  const volatile int *cancel;
} fetch_sink;

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  fetch_sink *s = userdata;
  size_t len = size * nmemb;
  if (s->max_bytes > 0 && s->written + (int64_t)len > s->max_bytes) {
    s->too_big = true;
    return 0; /* stops the transfer before a byte over the bound reaches disk */
  }
  if (digest_sha256_update(&s->digest, ptr, len, NULL) < 0) {
    s->digest_failed = true;
    return 0;
  }
  for (size_t done = 0; done < len;) {
    ssize_t n = write(s->fd, ptr + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      s->write_errno = errno;
      return 0;
    }
    done += (size_t)n;
  }
  s->written += (int64_t)len;
  return len;
}

static int sink_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                         curl_off_t ulnow) {
  const fetch_sink *s = userdata;
  return (s->cancel && *s->cancel) ? 1 : 0;
}

static void restrict_protocols(CURL *h) {
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0: the _STR forms; the others are deprecated */
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE));
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}

/* Maps a failed transfer to an error with the right kind. */
static int transfer_error(CURL *h, CURLcode rc, const fetch_sink *s, const char *shown_url,
                          bw_error_t *err) {
  if (rc == CURLE_ABORTED_BY_CALLBACK && s->cancel && *s->cancel)
    return bw_error_set(err, BW_ERR_CANCELLED, "cancelled");
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
                        shown_url, status);
  case CURLE_FILE_COULDNT_READ_FILE:
    return bw_error_set(err, BW_ERR_USER, "%s: not found or not readable", shown_url);
  case CURLE_UNSUPPORTED_PROTOCOL:
    return bw_error_set(err, BW_ERR_USER,
                        "%s: protocol not allowed (only http, https, file; redirects only to "
                        "http and https)",
                        shown_url);
  case CURLE_TOO_MANY_REDIRECTS:
  case CURLE_URL_MALFORMAT:
    return bw_error_set(err, BW_ERR_USER, "%s: %s", shown_url, curl_easy_strerror(rc));
  default:
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "%s: %s", shown_url, curl_easy_strerror(rc));
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

/* Streams url into the open temporary file; checks the size bound and the checksum. */
static int download(const job_input *in, int64_t max_bytes, int fd, const volatile int *cancel,
                    bw_error_t *err) {
  cleanup_free char *shown_url = inputs_url_redact(in->url);
  if (check_file_source(in->url, shown_url, err) < 0)
    return -1;
  fetch_sink s = {.fd = fd, .max_bytes = max_bytes, .cancel = cancel};
  if (digest_sha256_init(&s.digest, err) < 0)
    return -1;
  cleanup_curl CURL *h = curl_easy_init();
  if (!h)
    abort();
  curl_easy_setopt(h, CURLOPT_URL, in->url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "bundle-worker/" BW_VERSION);
  restrict_protocols(h);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, INPUTS_CONNECT_TIMEOUT_S);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, INPUTS_LOW_SPEED_TIME_S);
  if (max_bytes > 0) /* refuses early when the server announces a larger body */
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, sink_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &s);
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    digest_sha256_free(&s.digest);
    return transfer_error(h, rc, &s, shown_url, err);
  }
  char got[DIGEST_SHA256_HEX_LEN + 1];
  if (digest_sha256_final(&s.digest, NULL, got, err) < 0)
    return -1;
  if (in->sha256 && strcasecmp(in->sha256, got) != 0)
    return bw_error_set(err, BW_ERR_USER, "sha256 mismatch: expected %s, got %s", in->sha256, got);
  return 0;
}

static int fetch_one(int in_fd, const job_input *in, size_t index, int64_t default_max_bytes,
                     const volatile int *cancel, bw_error_t *err) {
  const char *problem = inputs_path_problem(in->path, strlen(in->path));
  if (problem)
    return bw_error_set(err, BW_ERR_USER, "path: %s", problem);
  cleanup_close int dir_fd = -1;
  const char *base = NULL;
  int bad_errno = 0;
  cleanup_free char *bad = NULL;
  if (safe_fs_open_parent(in_fd, in->path, &dir_fd, &base, &bad_errno, &bad) < 0) {
    if (bad_errno == ELOOP || bad_errno == ENOTDIR)
      return bw_error_set(err, BW_ERR_USER, "in/%s: a symlink or not a folder (not followed)", bad);
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, bad_errno, "in/%s", bad);
  }
  char temp[64];
  cleanup_close int fd = safe_fs_open_temp(dir_fd, "input", temp, err);
  if (fd < 0)
    return -1;
  int64_t max_bytes = in->max_bytes > 0 ? in->max_bytes : default_max_bytes;
  if (download(in, max_bytes, fd, cancel, err) < 0) {
    unlinkat(dir_fd, temp, 0);
    return -1;
  }
  /* rename() replaces a planted symlink itself, never what it points to. */
  if (renameat(dir_fd, temp, dir_fd, base) < 0) {
    int e = errno;
    unlinkat(dir_fd, temp, 0);
    if (e == EISDIR || e == ENOTEMPTY || e == EEXIST)
      return bw_error_set(err, BW_ERR_USER, "in/%s: a folder is in the way", in->path);
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, e, "in/%s: rename", in->path);
  }
  return 0;
}

int inputs_fetch(const char *in_dir, const job_input *inputs, size_t count,
                 int64_t default_max_bytes, const volatile int *cancel, bw_error_t *err) {
  if (count == 0)
    return 0;
  cleanup_close int in_fd = open(in_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (in_fd < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "inputs: open %s", in_dir);
  for (size_t i = 0; i < count; i++) {
    if (cancel && *cancel)
      return bw_error_set(err, BW_ERR_CANCELLED, "inputs[%zu]: cancelled", i);
    if (fetch_one(in_fd, &inputs[i], i, default_max_bytes, cancel, err) < 0)
      return bw_error_prefix(err, "inputs[%zu]", i);
  }
  return 0;
}

#include "job/job_inputs.h"

#include "core/cleanup.h"
#include "core/digest.h"

#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

/* A run request with more inputs than this is a mistake, not a workload. */
#define INPUTS_MAX_COUNT 1000

#define PATH_OUTSIDE "must stay inside in/ (start with tables/ or files/, no ..)"

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

/* s3://BUCKET/KEY, or s3://BUCKET/PREFIX/ for every object under it; the
 * bucket's name and the key are checked in full when fetched
 * (clients/s3_client.h s3_url_parse, with the worker's S3 settings). */
static const char *s3_url_problem(const char *url) {
  const char *bucket = url + 5;
  size_t len = strcspn(bucket, "/");
  if (len == 0 || bucket[len] != '/')
    return "an S3 URL is s3://BUCKET/KEY, or s3://BUCKET/PREFIX/ for every object under it";
  if (strpbrk(url, "?#"))
    return "an S3 URL has no query or fragment";
  for (const char *p = url; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return "has a control character";
  return NULL;
}

static const char *url_scheme_problem(const char *url, size_t len) {
  if (memchr(url, '\0', len))
    return "must not contain a NUL byte";
  if (strncmp(url, "s3://", 5) == 0)
    return s3_url_problem(url);
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
    problem = "scheme must be http, https, file or s3";
  curl_free(scheme);
  curl_url_cleanup(u);
  return problem;
}

bool inputs_url_is_s3_prefix(const char *url) {
  size_t len = strlen(url);
  return strncmp(url, "s3://", 5) == 0 && len > 5 && url[len - 1] == '/';
}

char *inputs_url_redact(const char *url) {
  if (strncmp(url, "s3://", 5) == 0) /* no userinfo; a query would be the job's text */
    return bw_strdup_bytes(url, strcspn(url, "?#"));
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
  if (in->sha256 && inputs_url_is_s3_prefix(in->url))
    return bw_error_set(err, BW_ERR_INVALID,
                        "inputs[%zu].sha256: a prefix (an s3:// URL ending in /) names many "
                        "objects; sha256 checks one",
                        i);
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
  job_input *list = bw_xcalloc(n, sizeof(*list));
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

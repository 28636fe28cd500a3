#include "job/job_limits.h"

#include "core/cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int size_error(const json_t *value, const char *where, int64_t min_bytes, bw_error_t *err) {
  cleanup_free char *got = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
  char min[32];
  job_limits_format_bytes(min_bytes, min, sizeof(min));
  return bw_error_set(err, BW_ERR_INVALID,
                      "%s: expected bytes or a size like \"512m\" (at least %s), got %s", where,
                      min, got ? got : "?");
}

/* 123, "512m", "1g", "64k", "2048b" (powers of 1024), at least min_bytes. */
static int parse_size(const json_t *value, const char *where, int64_t min_bytes, int64_t *out,
                      bw_error_t *err) {
  int64_t bytes = -1;
  if (json_is_integer(value)) {
    bytes = json_integer_value(value);
  } else if (json_is_string(value)) {
    const char *s = json_string_value(value);
    errno = 0;
    char *end = NULL;
    unsigned long long n = strtoull(s, &end, 10);
    if (end == s || errno || !isdigit((unsigned char)s[0]))
      return size_error(value, where, min_bytes, err);
    int shift = 0;
    char unit = (char)tolower((unsigned char)*end);
    if (unit == 'k')
      shift = 10;
    else if (unit == 'm')
      shift = 20;
    else if (unit == 'g')
      shift = 30;
    else if (unit != 'b' && unit != '\0')
      return size_error(value, where, min_bytes, err);
    if (unit != '\0')
      end++;
    /* "512mb", "512MiB"; after a plain "b" nothing may follow */
    if (*end && (unit == 'b' || (strcmp(end, "b") != 0 && strcmp(end, "B") != 0 &&
                                 strcmp(end, "ib") != 0 && strcmp(end, "iB") != 0)))
      return size_error(value, where, min_bytes, err);
    if (n > ((unsigned long long)INT64_MAX >> shift))
      return size_error(value, where, min_bytes, err);
    bytes = (int64_t)(n << shift);
  }
  if (bytes < min_bytes)
    return size_error(value, where, min_bytes, err);
  *out = bytes;
  return 0;
}

int job_limits_parse_memory(const json_t *value, const char *where, int64_t *out, bw_error_t *err) {
  /* The engine refuses limits under 6 MB on newer versions, 4 MB on older. */
  return parse_size(value, where, 4LL << 20, out, err);
}

int job_limits_parse_disk(const json_t *value, const char *where, int64_t *out, bw_error_t *err) {
  return parse_size(value, where, LIMITS_DISK_MIN, out, err);
}

static int positive_number(const json_t *v, const char *where, const char *key, double max,
                           double *out, bw_error_t *err) {
  if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > max ||
      isnan(json_number_value(v))) {
    cleanup_free char *got = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    return bw_error_set(err, BW_ERR_INVALID,
                        "%s.%s: expected a number above 0 and up to %g, got %s", where, key, max,
                        got ? got : "?");
  }
  *out = json_number_value(v);
  return 0;
}

static int positive_integer(const json_t *v, const char *where, const char *key, long max,
                            long *out, bw_error_t *err) {
  if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > max) {
    cleanup_free char *got = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    return bw_error_set(err, BW_ERR_INVALID, "%s.%s: expected an integer from 1 to %ld, got %s",
                        where, key, max, got ? got : "?");
  }
  *out = (long)json_integer_value(v);
  return 0;
}

int job_limits_parse(const json_t *obj, const char *where, job_limits *out, bw_error_t *err) {
  if (!json_is_object(obj))
    return bw_error_set(err, BW_ERR_INVALID, "%s: expected an object", where);
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    if (strcmp(key, "memory") == 0) {
      cleanup_free char *path = bw_strdup_printf("%s.memory", where);
      if (job_limits_parse_memory(v, path, &out->memory_bytes, err) < 0)
        return -1;
    } else if (strcmp(key, "disk") == 0) {
      cleanup_free char *path = bw_strdup_printf("%s.disk", where);
      if (job_limits_parse_disk(v, path, &out->disk_bytes, err) < 0)
        return -1;
    } else if (strcmp(key, "cpus") == 0) {
      if (positive_number(v, where, key, 256, &out->cpus, err) < 0)
        return -1;
    } else if (strcmp(key, "timeout_seconds") == 0) {
      if (positive_integer(v, where, key, LIMITS_TIMEOUT_CAP_S, &out->timeout_seconds, err) < 0)
        return -1;
    } else if (strcmp(key, "pids") == 0) {
      if (positive_integer(v, where, key, 1L << 22, &out->pids, err) < 0)
        return -1;
    } else if (strcmp(key, "network") == 0) {
      const char *net = json_string_value(v);
      if (!net || !*net)
        return bw_error_set(err, BW_ERR_INVALID, "%s.network: expected a network name", where);
      free(out->network);
      out->network = bw_strdup(net);
    } else {
      return bw_error_set(err, BW_ERR_INVALID,
                          "%s.%s: unknown limit (expected memory, disk, cpus, timeout_seconds, "
                          "pids, network)",
                          where, key);
    }
  }
  return 0;
}

void job_limits_free(job_limits *l) {
  if (!l)
    return;
  free(l->network);
  l->network = NULL;
}

void job_limits_apply_defaults(job_limits *l, const job_limits *d) {
  if (!l->memory_bytes)
    l->memory_bytes = d->memory_bytes;
  if (!l->disk_bytes)
    l->disk_bytes = d->disk_bytes;
  if (l->cpus == 0)
    l->cpus = d->cpus;
  if (!l->timeout_seconds)
    l->timeout_seconds = d->timeout_seconds;
  if (!l->pids)
    l->pids = d->pids;
  if (!l->network && d->network)
    l->network = bw_strdup(d->network);
}

void job_limits_format_bytes(int64_t bytes, char *out, size_t out_len) {
  if (bytes > 0 && bytes % (1 << 30) == 0)
    snprintf(out, out_len, "%lldg", (long long)(bytes >> 30));
  else if (bytes > 0 && bytes % (1 << 20) == 0)
    snprintf(out, out_len, "%lldm", (long long)(bytes >> 20));
  else if (bytes > 0 && bytes % (1 << 10) == 0)
    snprintf(out, out_len, "%lldk", (long long)(bytes >> 10));
  else
    snprintf(out, out_len, "%lld bytes", (long long)bytes);
}

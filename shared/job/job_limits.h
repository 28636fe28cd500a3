/* Resource limits of a job: what a component allows and a request asks for. */
#pragma once

#include "core/error.h"

#include <jansson.h>
#include <stdint.h>

#define LIMITS_TIMEOUT_CAP_S 86400 /* 24 h, as the reference caps it */
#define LIMITS_DISK_MIN (1LL << 20)
#define LIMITS_DISK_DEFAULT (1LL << 30) /* a component's default when it gives none */

typedef struct job_limits {
  int64_t memory_bytes; /* 0: unset */
  int64_t disk_bytes;   /* 0: unset; the data folder and the writable layer together */
  double cpus;          /* 0: unset */
  long timeout_seconds; /* 0: unset */
  long pids;            /* 0: unset */
  char *network;        /* NULL: unset */
} job_limits;

/* Parses {memory, disk, cpus, timeout_seconds, pids, network}; `where` is the JSON
 * path used in error messages ("limits", "components.x.limits.max"). Unknown
 * keys are errors. Unset fields stay as they were. */
int job_limits_parse(const json_t *obj, const char *where, job_limits *out, bw_error_t *err);
/* 123, "512m", "1g", "64k", "2048b" (powers of 1024). */
int job_limits_parse_memory(const json_t *value, const char *where, int64_t *out, bw_error_t *err);
/* The same sizes, at least LIMITS_DISK_MIN. */
int job_limits_parse_disk(const json_t *value, const char *where, int64_t *out, bw_error_t *err);
void job_limits_free(job_limits *l);
/* Fills every unset field of `l` from `defaults`. */
void job_limits_apply_defaults(job_limits *l, const job_limits *defaults);
/* "512m"-style text of a byte count, for messages. */
void job_limits_format_bytes(int64_t bytes, char *out, size_t out_len);

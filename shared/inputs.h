/* A job's inputs, fetched into DATA/in/ before its container starts.
 *
 * A run request lists inputs as
 *   "inputs": [{"url": "https://h/x.csv", "path": "tables/x.csv",
 *               "sha256": "<64 hex>", "max_bytes": 1048576}, ...]
 * url and path are required; sha256 and max_bytes are optional.
 *
 * Safety: each body streams into a temporary file next to its destination,
 * opened with O_NOFOLLOW under folders opened one by one with O_NOFOLLOW from
 * in/, so nothing planted in in/ (a symlink, a folder link) can redirect a
 * write outside it. The file is renamed into place only when its size and
 * checksum are right; on failure the temporary file is removed. Redirects
 * may only lead to http or https (never to file://, which would let a remote
 * server read the worker's own files). Error messages show URLs without
 * their userinfo, query and fragment. */
#pragma once

#include "error.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define INPUTS_PATH_MAX 255
#define INPUTS_CONNECT_TIMEOUT_S 30L
/* A transfer slower than 1 byte/s for this long is abandoned. */
#define INPUTS_LOW_SPEED_TIME_S 60L

typedef struct job_input {
  char *url;
  char *path;        /* relative to in/: "tables/x.csv" or "files/..." */
  char *sha256;      /* 64 lowercase hex digits, or NULL */
  int64_t max_bytes; /* 0: use the default given to inputs_fetch */
} job_input;

/* Validates and copies a JSON array of input objects. Every error names the
 * JSON path ("inputs[2].path: ...") and is BW_ERR_INVALID. On success the
 * caller owns *out (inputs_free); an empty array gives *out NULL, count 0. */
int inputs_parse(const json_t *array, job_input **out, size_t *count, bw_error_t *err);
void inputs_free(job_input *inputs, size_t count); /* accepts NULL */

/* NULL when path is an acceptable destination, else the reason
 * ("must stay inside in/ (start with tables/ or files/, no ..)"). len is the
 * full length, so an embedded NUL is caught. */
const char *inputs_path_problem(const char *path, size_t len);

/* Fetches every input into in_dir (an existing folder the worker made),
 * in order, stopping at the first failure. max_bytes of an input, else
 * default_max_bytes, bounds each body (0: no bound). cancel (may be NULL)
 * aborts a transfer when it turns non-zero.
 * Kinds: BW_ERR_USER for what the job asked for (HTTP 4xx, a missing
 * file:// source, a checksum mismatch, a body too large, a bad path or a
 * destination folder that is a symlink), BW_ERR_UNAVAILABLE for transport
 * failures, HTTP 5xx and the worker's own disk, BW_ERR_CANCELLED. */
int inputs_fetch(const char *in_dir, const job_input *inputs, size_t count,
                 int64_t default_max_bytes, const volatile int *cancel, bw_error_t *err);

/* The URL without userinfo, query and fragment, for messages; a URL that
 * does not parse gives "(unparsable URL)". free() the result. */
char *inputs_url_redact(const char *url);

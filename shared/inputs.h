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
 * their userinfo, query and fragment.
 *
 * Network: every connection an http(s) input makes, the first and each
 * redirect's, is checked just before it is made, on the address actually
 * connected, against net_policy (loopback, private, link-local, ... refused
 * unless jobs.inputs.allow opens them). Redirects are followed here, not by
 * curl, so that each hop's host name is known to the check; at most
 * INPUTS_MAX_REDIRECTS of them. Proxies from the environment are not used. */
#pragma once

#include "cancel.h"

#include "error.h"
#include "net_policy.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define INPUTS_PATH_MAX 255
#define INPUTS_CONNECT_TIMEOUT_S 30L
#define INPUTS_MAX_REDIRECTS 5
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

typedef struct inputs_options {
  int64_t default_max_bytes; /* bounds an input without max_bytes; 0: no bound */
  const bw_cancel *cancel;   /* may be NULL: a transfer stops when it turns non-zero */
  /* bw_time_monotonic_ms() after which no input may go on: bounds all the
   * inputs of a job together; 0: none. */
  int64_t deadline_ms;
  /* Which addresses http(s) inputs may reach: a parsed jobs.inputs.allow
   * (net_policy_parse, e.g. once per worker), else the text `allow` is
   * parsed at each call (once per job; cheap). Both NULL: the defaults only. */
  const net_policy *policy;
  const char *allow;
} inputs_options;

/* Fetches every input into in_dir (an existing folder the worker made),
 * in order, stopping at the first failure. opts may be NULL (no bound, no
 * deadline, the default network policy).
 * Kinds: BW_ERR_USER for what the job asked for (HTTP 4xx, a missing
 * file:// source, a checksum mismatch, a body too large, a bad path or a
 * destination folder that is a symlink, an address the policy refuses, too
 * many redirects), BW_ERR_UNAVAILABLE for transport failures, HTTP 5xx and
 * the worker's own disk, BW_ERR_TIMEOUT when the deadline passes,
 * BW_ERR_CANCELLED. */
int inputs_fetch(const char *in_dir, const job_input *inputs, size_t count,
                 const inputs_options *opts, bw_error_t *err);

/* The URL without userinfo, query and fragment, for messages; a URL that
 * does not parse gives "(unparsable URL)". free() the result. */
char *inputs_url_redact(const char *url);

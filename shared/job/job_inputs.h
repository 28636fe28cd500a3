/* A job's inputs as its run request lists them (the model; fetching them is
 * pipeline/inputs.h):
 *   "inputs": [{"url": "https://h/x.csv", "path": "tables/x.csv",
 *               "sha256": "<64 hex>", "max_bytes": 1048576}, ...]
 * url and path are required; sha256 and max_bytes are optional. A path stays
 * inside in/ (tables/ or files/, no ..); a URL is http, https, file or s3
 * (s3://BUCKET/KEY one object; s3://BUCKET/PREFIX/ every object under the
 * prefix, into the folder `path`, each at its key's rest; sha256 only for
 * one object, max_bytes for each). */
#pragma once

#include "core/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INPUTS_PATH_MAX 255

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

/* Does url name an S3 prefix (s3://BUCKET/PREFIX/, ending in '/')? */
bool inputs_url_is_s3_prefix(const char *url);

/* The URL without userinfo, query and fragment, for messages; a URL that
 * does not parse gives "(unparsable URL)". free() the result. */
char *inputs_url_redact(const char *url);

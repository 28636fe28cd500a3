/* Where a job's outputs go: a folder (file:///abs/dir, the default) or an
 * HTTP server taking PUTs under a base URL (http:// or https://).
 *
 * A key names an artifact inside the store: "JOBID/ATTEMPT/tables/x.csv".
 * file://: the file is copied to DIR/KEY through a temporary file in the same
 * folder, fsync'ed, then renamed, so a reader never sees half an artifact;
 * folders under DIR are opened one by one without following symlinks.
 * http(s)://: PUT BASE/KEY (each key component percent-encoded, '/' kept)
 * with Content-Length, X-Checksum-Sha256: <hex> and Digest: sha-256=<base64>;
 * transport errors and 5xx are retried with capped exponential backoff, 4xx
 * and 3xx are not. Credentials in the URL's userinfo are sent as basic auth
 * and never appear in a location or an error message.
 *
 * An open store holds no per-call state: one store may serve several
 * threads at once. */
#pragma once

#include "core/cancel.h"

#include "core/error.h"

#include <stdint.h>

typedef struct artifact_store artifact_store;

typedef struct artifact_store_opts {
  long connect_timeout_ms; /* 0: 10 s */
  long low_speed_time_s;   /* 0: 60 s; slower than 1 byte/s that long aborts */
  int max_attempts;        /* 0: 5 (http only) */
  long backoff_initial_ms; /* 0: 500 ms, doubling */
  long backoff_max_ms;     /* 0: 30 s */
  const bw_cancel *cancel; /* may be NULL; stops waiting between attempts */
} artifact_store_opts;

/* BW_ERR_INVALID for a URL that is not file:///abs, http:// or https://
 * (or has a query or fragment); BW_ERR_UNAVAILABLE when the file:// folder
 * cannot be made or opened. Missing folders of a file:// store are made. */
int artifact_store_open(const char *url, artifact_store **out, bw_error_t *err);
int artifact_store_open_opts(const char *url, const artifact_store_opts *opts, artifact_store **out,
                             bw_error_t *err);
void artifact_store_free(artifact_store *s); /* accepts NULL */

/* The store's URL without credentials, for logs. */
const char *artifact_store_url(const artifact_store *s);

/* Stores the file at local_path (opened with O_NOFOLLOW) under key.
 * sha256_hex and size describe the file; pass NULL and -1 to have them
 * computed. *location_out (may be NULL) gets the artifact's URL; free() it.
 * BW_ERR_INVALID for a bad key, BW_ERR_UNAVAILABLE for everything else
 * (including a file that no longer matches sha256_hex or size). */
int artifact_store_put(artifact_store *s, const char *key, const char *local_path,
                       const char *sha256_hex, int64_t size, char **location_out, bw_error_t *err);
/* As artifact_store_put, reading an open regular file from offset 0 with
 * pread (the fd's offset is left alone). */
int artifact_store_put_fd(artifact_store *s, const char *key, int fd, const char *sha256_hex,
                          int64_t size, char **location_out, bw_error_t *err);

/* NULL when key is acceptable: relative, '/'-separated, no empty, "." or
 * ".." component, no NUL or control character, at most 1024 bytes. */
const char *artifact_store_key_problem(const char *key);

static inline void artifact_store_cleanupp(artifact_store **s) {
  artifact_store_free(*s);
}
#define cleanup_artifact_store __attribute__((cleanup(artifact_store_cleanupp)))

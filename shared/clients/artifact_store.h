/* Where a job's outputs go: a folder (file:///abs/dir, the default), an
 * HTTP server taking PUTs under a base URL (http:// or https://), or an S3
 * bucket (s3://BUCKET/PREFIX, through clients/s3_client.h).
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
 * s3://: the object BUCKET/PREFIX/KEY with its sha256 as S3's checksum and
 * as metadata; multipart above artifacts.s3.part.size (s3_client.h).
 *
 * An open store holds no per-call state: one store may serve several
 * threads at once. */
#pragma once

#include "clients/http_transfer.h"

#include "core/cancel.h"
#include "core/config.h"

#include "core/error.h"

#include <stdint.h>

typedef struct artifact_store artifact_store;

/* Timeouts and retries of http(s):// and s3:// stores (clients/http_transfer.h). */
typedef http_transfer_opts artifact_store_opts;

/* BW_ERR_INVALID for a URL that is not file:///abs, http:// or https://
 * (or has a query or fragment); BW_ERR_UNAVAILABLE when the file:// folder
 * cannot be made or opened. Missing folders of a file:// store are made. */
int artifact_store_open(const char *url, artifact_store **out, bw_error_t *err);
/* Opens cfg->artifacts_url, an s3:// URL with cfg's artifacts.s3.* settings
 * (artifact_store_open_opts refuses s3://: it has no configuration). */
int artifact_store_open_config(const bw_config *cfg, const artifact_store_opts *opts,
                               artifact_store **out, bw_error_t *err);
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
/* What the store said of a stored artifact. */
typedef struct artifact_stored {
  char *location;   /* its URL: file://..., http(s)://..., s3://BUCKET/KEY */
  char *etag;       /* s3: S3's ETag; else NULL */
  char *version_id; /* s3, on a bucket with versioning: the version; else NULL */
  int parts;        /* s3: 1 for one PUT, else the parts of a multipart upload */
} artifact_stored;
void artifact_stored_free(artifact_stored *a); /* accepts NULL */

/* As artifact_store_put, reading an open regular file from offset 0 with
 * pread (the fd's offset is left alone); *out (may be NULL) says where it
 * went. */
int artifact_store_put_fd(artifact_store *s, const char *key, int fd, const char *sha256_hex,
                          int64_t size, artifact_stored *out, bw_error_t *err);

/* NULL when key is acceptable: relative, '/'-separated, no empty, "." or
 * ".." component, no NUL or control character, at most 1024 bytes. */
const char *artifact_store_key_problem(const char *key);

static inline void artifact_store_cleanupp(artifact_store **s) {
  artifact_store_free(*s);
}
#define cleanup_artifact_store __attribute__((cleanup(artifact_store_cleanupp)))

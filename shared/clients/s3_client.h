/* A client of S3 and S3-compatible stores (MinIO, Ceph, R2, moto): the
 * requests the artifact store and the inputs need, signed with AWS
 * Signature V4 by libcurl (CURLOPT_AWS_SIGV4).
 *
 * Every request carries x-amz-content-sha256, the payload's sha256 that the
 * caller already knows or that is computed from the bytes sent: libcurl
 * 7.88 signs the headers it is given and does not hash an upload itself. A
 * query string is written here in its canonical form (keys sorted, values
 * percent-encoded), because libcurl 7.88 signs the query as it is.
 *
 * Objects are stored with their sha256 as S3's own checksum
 * (x-amz-checksum-sha256, which S3 verifies) and as metadata
 * (x-amz-meta-sha256). A file larger than artifacts.s3.part.size goes up as a
 * multipart upload: each part hashed, then sent from the file (pread; memory
 * does not grow with the part or the file), retried on its own; any failure
 * aborts the upload, so no part is left behind to be billed.
 *
 * Errors name the operation, the s3:// URL, the HTTP status and S3's code
 * and message (parsed with expat, clients/s3_xml.h), never a key or token.
 * Transport errors, 5xx, 429 and S3's RequestTimeout are retried with
 * capped backoff and jitter; other answers are not.
 *
 * A client holds no per-call state but its settings: one client may serve
 * several threads at once. */
#pragma once

#include "clients/http_transfer.h"
#include "clients/s3_xml.h"

#include "core/config.h"
#include "core/digest.h"
#include "core/error.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct s3_client s3_client;

/* Resolves the endpoint, addressing and credentials now
 * (clients/s3_credentials.h). BW_ERR_INVALID for a bad endpoint, region or
 * missing credentials. opts may be NULL (the defaults). */
int s3_client_new(const bw_config *cfg, const http_transfer_opts *opts, s3_client **out,
                  bw_error_t *err);
void s3_client_free(s3_client *c); /* accepts NULL */
/* Where the credentials came from ("environment (AWS_ACCESS_KEY_ID)",
 * "FILE [profile]"): for doctor and logs; never the credentials. */
const char *s3_client_credentials_source(const s3_client *c);

/* "s3://BUCKET/KEY" -> bucket and key ("" when the URL names the bucket
 * only; a trailing '/' is kept: it is a prefix). BW_ERR_INVALID for another
 * scheme, a bucket name S3 would refuse, a query or a fragment. */
int s3_url_parse(const char *url, char **bucket, char **key, bw_error_t *err);

/* What S3 said of a stored object. */
typedef struct s3_stored {
  char *etag;       /* as S3 sent it, quotes removed */
  char *version_id; /* NULL when the bucket has no versioning */
  int parts;        /* 1 for a single PUT */
} s3_stored;
void s3_stored_free(s3_stored *s);

/* An authenticated HeadBucket: 0 when the bucket exists and the credentials
 * may read it. */
int s3_head_bucket(s3_client *c, const char *bucket, bw_error_t *err);

/* Stores `size` bytes of fd (from offset 0, read with pread) under key,
 * whose sha256 is sha256_hex: one PUT up to the part size, a multipart upload
 * above it. BW_ERR_UNAVAILABLE when S3 or the file fails (a file that no
 * longer matches sha256_hex or size fails before anything is completed). */
int s3_put_file(s3_client *c, const char *bucket, const char *key, int fd, int64_t size,
                const char *sha256_hex, s3_stored *out, bw_error_t *err);

/* Writes the object's bytes to out_fd (from its offset), refusing more than
 * max_bytes (BW_ERR_USER; nothing more is written). *size_out and sha256_out
 * (either may be NULL) get the bytes written and their sha256, hashed on the
 * way. BW_ERR_USER for a missing object or bucket or a refusal (403),
 * BW_ERR_UNAVAILABLE for the rest. */
int s3_get_object(s3_client *c, const char *bucket, const char *key, int out_fd, int64_t max_bytes,
                  int64_t *size_out, char sha256_out[DIGEST_SHA256_HEX_LEN + 1], bw_error_t *err);

/* One page of the objects under prefix (ListObjectsV2): `token` NULL for
 * the first page, then the answer's next_token while it is truncated. */
int s3_list_page(s3_client *c, const char *bucket, const char *prefix, const char *token,
                 s3_xml_answer *page, bw_error_t *err);

static inline void s3_client_freep(s3_client **c) {
  s3_client_free(*c);
}
#define cleanup_s3_client __attribute__((cleanup(s3_client_freep)))

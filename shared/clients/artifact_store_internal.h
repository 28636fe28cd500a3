/* The artifact store's state (artifact_store.h), shared by artifact_store.c
 * (names, opening, file://, put), artifact_store_http.c (http(s)://) and
 * artifact_store_s3.c (s3://);
 * only they include this header. */
#pragma once

#include "clients/artifact_store.h"
#include "clients/s3_client.h"

#include <stdint.h>

#define ARTIFACT_KEY_MAX 1024
/* Enough of an error body to say what the server disliked. */
#define ERROR_BODY_CAP 4096u
#define ERROR_BODY_SHOWN 200

typedef enum store_kind { STORE_FILE, STORE_HTTP, STORE_S3 } store_kind;

struct artifact_store {
  store_kind kind;
  char *public_url; /* no credentials, no trailing '/': locations start with it */
  int dir_fd;       /* file: the store's folder */
  char *user;       /* http: from the URL's userinfo, or NULL */
  char *password;
  artifact_store_opts opts;
  s3_client *s3; /* s3: the client, its bucket and key prefix ("" or "a/b/") */
  char *bucket;
  char *prefix;
};

/* PUT of the whole file (from offset 0) to url, with retries
 * (artifact_store_http.c). */
int artifact_store_http_put(artifact_store *s, const char *url, int fd, const char *sha256_hex,
                            int64_t size, bw_error_t *err);

/* s3://: opens the client (artifact_store_s3.c). */
int artifact_store_s3_open(artifact_store *s, const bw_config *cfg, const char *url,
                           bw_error_t *err);
/* s3://: stores the file under PREFIX/KEY. */
int artifact_store_s3_put(artifact_store *s, const char *key, int fd, const char *sha256_hex,
                          int64_t size, artifact_stored *out, bw_error_t *err);

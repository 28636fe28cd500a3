/* The artifact store's state (artifact_store.h), shared by artifact_store.c
 * (names, opening, file://, put) and artifact_store_http.c (http(s)://);
 * only they include this header. */
#pragma once

#include "clients/artifact_store.h"

#include <stdint.h>

#define ARTIFACT_KEY_MAX 1024
/* Enough of an error body to say what the server disliked. */
#define ERROR_BODY_CAP 4096u
#define ERROR_BODY_SHOWN 200

typedef enum store_kind { STORE_FILE, STORE_HTTP } store_kind;

struct artifact_store {
  store_kind kind;
  char *public_url; /* no credentials, no trailing '/': locations start with it */
  int dir_fd;       /* file: the store's folder */
  char *user;       /* http: from the URL's userinfo, or NULL */
  char *password;
  artifact_store_opts opts;
};

/* PUT of the whole file (from offset 0) to url, with retries
 * (artifact_store_http.c). */
int artifact_store_http_put(artifact_store *s, const char *url, int fd, const char *sha256_hex,
                            int64_t size, bw_error_t *err);

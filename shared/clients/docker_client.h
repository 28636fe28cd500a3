/* The Docker Engine API over its unix socket, through libcurl.
 * One client holds one curl handle: use one client per thread. The API
 * version is negotiated once (docker_client_negotiate) as the lower of the
 * engine's and BW_DOCKER_API_MAX, the way the docker CLI does it. */
#pragma once

#include "core/cancel.h"

#include "core/buffer.h"
#include "core/error.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>

#define BW_DOCKER_API_MAX "1.45"
#define BW_DOCKER_API_MIN "1.40"

typedef struct docker_client {
  char *socket_path;
  long timeout_ms;
  char api_version[16]; /* empty until negotiated */
  CURL *curl;
  const bw_cancel *cancel; /* non-zero aborts a transfer; may be NULL */
  /* Whether the engine caps a writable layer (StorageOpt size), learned by
   * the first create that asks (container.h). */
  enum {
    DOCKER_STORAGE_OPT_UNKNOWN = 0,
    DOCKER_STORAGE_OPT_YES,
    DOCKER_STORAGE_OPT_NO
  } storage_opt;
} docker_client;

typedef struct docker_response {
  long status;          /* HTTP status */
  char api_version[16]; /* the engine's Api-Version header, when sent */
  bw_buffer body;
  json_t *json; /* the body parsed, when it is JSON; NULL otherwise */
} docker_response;

/* Streaming sink: return 0 to go on, negative to abort the transfer. */
typedef int (*docker_stream_fn)(void *ctx, const char *data, size_t len);

typedef struct docker_stream_opts {
  const char *method;
  const char *path;          /* "/images/create?..." (without the version) */
  const char *header;        /* one extra header line, or NULL */
  const char *body;          /* request body (JSON), or NULL */
  long total_timeout_ms;     /* 0: none */
  long inactivity_timeout_s; /* 0: none; aborts when no byte arrives that long */
  docker_stream_fn on_data;
  /* Called once the response headers are in (status >= 200), before any
   * body byte: an attach uses it to know the stream is connected. */
  void (*on_headers)(void *ctx, long status);
  void *ctx;
} docker_stream_opts;

int docker_client_new(docker_client **out, const char *socket_path, long timeout_ms,
                      bw_error_t *err);
void docker_client_free(docker_client *c); /* accepts NULL */

/* docker_client_new and docker_client_negotiate in one: a client ready for
 * calls. On failure *out is NULL (nothing to free). */
int docker_client_open(docker_client **out, const char *socket_path, long timeout_ms,
                       bw_error_t *err);

/* Picks the API version from the engine's /_ping answer (its Api-Version
 * header), as the docker CLI does: /_ping is far cheaper than /version.
 * version_out (may be NULL) gets GET /version's document as well. */
int docker_client_negotiate(docker_client *c, json_t **version_out, bw_error_t *err);

/* One request with a JSON (or empty) body and a buffered response.
 * Transport failures are errors; any HTTP status is returned in resp. */
int docker_call(docker_client *c, const char *method, const char *path, const json_t *body,
                docker_response *resp, bw_error_t *err);
/* As docker_call, and an HTTP status >= 400 becomes an error carrying the
 * engine's message ("POST /containers/create: 409: Conflict. ..."). */
int docker_call_ok(docker_client *c, const char *method, const char *path, const json_t *body,
                   docker_response *resp, bw_error_t *err);
void docker_response_free(docker_response *resp);

/* A streamed request (pull progress, logs, wait). Returns the HTTP status
 * (>= 0) or -1 on transport failure, timeout or abort. */
long docker_stream(docker_client *c, const docker_stream_opts *opts, bw_error_t *err);

/* The engine's "message" field of an error body, or the body itself. */
const char *docker_response_message(const docker_response *resp);

/* Percent-encodes a query value; free() the result. */
char *docker_escape(docker_client *c, const char *value);

static inline void docker_cleanup_responsep(docker_response *r) {
  docker_response_free(r);
}
#define cleanup_docker_response __attribute__((cleanup(docker_cleanup_responsep)))
static inline void docker_cleanup_clientp(docker_client **c) {
  docker_client_free(*c);
}
#define cleanup_docker_client __attribute__((cleanup(docker_cleanup_clientp)))

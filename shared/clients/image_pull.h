/* Getting an image onto the engine: inspect, pull with credentials, digest
 * pin check. Pulls go through POST /images/create with X-Registry-Auth; the
 * progress stream is read to its end, and an error object inside a 200
 * answer fails the pull (the engine reports most failures that way). */
#pragma once

#include "core/cancel.h"

#include "clients/docker_client.h"
#include "core/error.h"
#include "job/image_ref.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct image_pull_opts {
  const char *username; /* NULL: anonymous */
  const char *password;
  long total_timeout_ms;     /* whole pull, per attempt; default 30 min */
  long inactivity_timeout_s; /* no progress byte for this long; default 120 s */
  int max_attempts;          /* transient failures are retried; default 4 */
  long backoff_initial_ms;   /* 500 ms doubling ... */
  long backoff_max_ms;       /* ... capped at 60 s, as the reference does */
  const bw_cancel *cancel;   /* non-zero stops retries and the transfer */
} image_pull_opts;

typedef struct image_pull_result {
  char *image_id; /* "sha256:..." of the local image */
  char *digest;   /* repo digest "sha256:..." the registry gave, or NULL */
  bool cached;    /* nothing was pulled */
  int attempts;   /* pull attempts made (0 when cached) */
  int64_t duration_ms;
} image_pull_result;

/* The image's local inspect document, or 0 with *out NULL when absent. */
int image_pull_inspect(docker_client *dc, const char *name, json_t **out, bw_error_t *err);
/* Does the local image carry `repository@digest` among its RepoDigests? */
bool image_has_repo_digest(const json_t *inspect, const char *repository, const char *digest);

/* One pull, retried with capped exponential backoff on transient failures.
 * "not found" and "unauthorized" are BW_ERR_USER and not retried. */
int image_pull(docker_client *dc, const image_ref *ref, const image_pull_opts *opts,
               image_pull_result *out, bw_error_t *err);
void image_pull_result_free(image_pull_result *r);

/* Classifies an engine or registry message: does it blame the request
 * (missing image, bad credentials) rather than the infrastructure? */
bool image_error_is_user(const char *message);

/* base64url(JSON{username,password,serveraddress}), as the engine expects in
 * X-Registry-Auth. Free the result. */
char *image_registry_auth_header(const char *user, const char *pass, const char *server);

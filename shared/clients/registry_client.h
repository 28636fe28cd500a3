/* A small OCI distribution (registry v2) client: enough to ask for a
 * manifest with credentials, for `doctor` and digest checks. Basic auth and
 * the bearer-token flow (Docker Hub, Quay, ECR-style hosts) are handled.
 * Loopback registries are spoken to over http, others over https, as the
 * engine does by default. */
#pragma once

#include "core/error.h"
#include "job/image_ref.h"

typedef struct registry_manifest {
  long status;
  char *digest;     /* Docker-Content-Digest, or NULL */
  char *media_type; /* Content-Type, or NULL */
} registry_manifest;

/* GET /v2/<path>/manifests/<tag or digest>. user/pass may be NULL.
 * 401/403 are BW_ERR_USER ("unauthorized"), 404 BW_ERR_USER ("not found"),
 * transport failures BW_ERR_UNAVAILABLE. Secrets never reach a message. */
int registry_manifest_head(const image_ref *ref, const char *user, const char *pass,
                           long timeout_ms, registry_manifest *out, bw_error_t *err);
void registry_manifest_free(registry_manifest *m);

/* Image references, parsed and normalised the way Docker does:
 *   hello-world                 -> docker.io/library/hello-world:latest
 *   quay.io/org/app:2@sha256:.. -> domain quay.io, path org/app, tag 2, digest
 * The first part is a registry host when it has a '.' or a ':', is
 * "localhost", or has upper-case letters (which a repository cannot). */
#pragma once

#include <stdbool.h>

#include "core/error.h"

#define IMAGE_REF_DEFAULT_DOMAIN "docker.io"

typedef struct image_ref {
  char *domain; /* "docker.io", "127.0.0.1:5000", "[::1]:5000" */
  char *path;   /* "library/hello-world" */
  char *tag;    /* NULL when only a digest was given */
  char *digest; /* "sha256:<64 hex>" or NULL */
} image_ref;

int image_ref_parse(const char *text, image_ref *out, bw_error_t *err);
void image_ref_free(image_ref *ref);

/* "docker.io/library/hello-world" */
char *image_ref_repository(const image_ref *ref);
/* "docker.io/library/hello-world:latest", with "@digest" when pinned. */
char *image_ref_string(const image_ref *ref);
/* The name the engine knows a pulled image by: "repo@digest" when pinned,
 * else "repo:tag". */
char *image_ref_local_name(const image_ref *ref);
/* The host a registry client talks to: docker.io -> registry-1.docker.io. */
const char *image_ref_registry_host(const image_ref *ref);

/* Checks a tag against Docker's grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
int image_ref_tag_valid(const char *tag);
/* Is a tag pattern (an extended regex) simple enough for regcomp: no nested
 * or adjacent repetition, no deep nesting, a bounded expansion? */
bool image_ref_tag_pattern_simple(const char *pattern);
/* Checks "sha256:<64 lowercase hex>" (and other algorithms of the grammar). */
int image_ref_digest_valid(const char *digest);

static inline void image_ref_cleanupp(image_ref *r) {
  image_ref_free(r);
}
#define cleanup_image_ref __attribute__((cleanup(image_ref_cleanupp)))

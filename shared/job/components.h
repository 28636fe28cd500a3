/* Registered components: the only images a worker runs. A JSON file maps a
 * component id to its image, the tags it allows, a digest pin, credentials by
 * reference, default and maximum limits, networks and user (docs/components.md). */
#pragma once

#include "core/error.h"
#include "job/image_ref.h"
#include "job/job_limits.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum pull_policy {
  PULL_IF_NOT_PRESENT = 0,
  PULL_ALWAYS,
  PULL_NEVER,
} pull_policy;

typedef struct component {
  char *id;
  char *image;       /* repository as registered, e.g. "quay.io/org/app" */
  image_ref repo;    /* parsed, tag left NULL */
  char *default_tag; /* "latest" unless given */
  char **allowed_tags;
  size_t allowed_tag_count;
  bool has_tag_pattern;
  char *tag_pattern;
  regex_t tag_regex;
  char *digest; /* "sha256:..." or NULL */
  char *auth_username_env;
  char *auth_password_env;
  char *auth_file;
  pull_policy pull;
  job_limits defaults;
  job_limits maxima;
  char **networks;
  size_t network_count;
  bool run_as_root;
  bool read_only_rootfs;
  bool tty; /* run with a terminal: one raw output stream, no stdout/stderr split */
} component;

typedef struct component_registry {
  component *items;
  size_t count;
} component_registry;

int components_load_file(const char *path, component_registry *out, bw_error_t *err);
/* `origin` names the source in messages (a file path). */
int components_load_json(const json_t *root, const char *origin, component_registry *out,
                         bw_error_t *err);
void components_free(component_registry *reg);

const component *components_find(const component_registry *reg, const char *id);
bool component_tag_allowed(const component *c, const char *tag);
bool component_network_allowed(const component *c, const char *network);
const char *component_pull_policy_name(pull_policy p);

static inline void components_cleanupp(component_registry *r) {
  components_free(r);
}
#define cleanup_components __attribute__((cleanup(components_cleanupp)))

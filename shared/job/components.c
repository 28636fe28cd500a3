#include "job/components.h"

#include "core/ident.h"

#include "core/cleanup.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static const char *const pull_policy_names[] = {"if-not-present", "always", "never"};

const char *component_pull_policy_name(pull_policy p) {
  return pull_policy_names[p];
}

static void component_free(component *c) {
  free(c->id);
  free(c->image);
  image_ref_free(&c->repo);
  free(c->default_tag);
  for (size_t i = 0; i < c->allowed_tag_count; i++)
    free(c->allowed_tags[i]);
  free(c->allowed_tags);
  if (c->has_tag_pattern)
    regfree(&c->tag_regex);
  free(c->tag_pattern);
  free(c->digest);
  free(c->auth_username_env);
  free(c->auth_password_env);
  free(c->auth_file);
  job_limits_free(&c->defaults);
  job_limits_free(&c->maxima);
  for (size_t i = 0; i < c->network_count; i++)
    free(c->networks[i]);
  free(c->networks);
}

void components_free(component_registry *reg) {
  if (!reg)
    return;
  for (size_t i = 0; i < reg->count; i++)
    component_free(&reg->items[i]);
  free(reg->items);
  reg->items = NULL;
  reg->count = 0;
}

/* A key's value (NULL: absent) at its JSON path. */
static int string_value(const json_t *v, const char *where, bool required, char **out,
                        bw_error_t *err) {
  if (!v) {
    if (required)
      return bw_error_set(err, BW_ERR_INVALID, "%s: required", where);
    return 0;
  }
  if (!json_is_string(v) || json_string_length(v) == 0)
    return bw_error_set(err, BW_ERR_INVALID, "%s: expected a non-empty string", where);
  *out = bw_strdup(json_string_value(v));
  return 0;
}

static int bool_value(const json_t *v, const char *where, bool *out, bw_error_t *err) {
  if (!v)
    return 0;
  if (!json_is_boolean(v))
    return bw_error_set(err, BW_ERR_INVALID, "%s: expected true or false", where);
  *out = json_is_true(v);
  return 0;
}

/* obj's key, at its path where.key. */
static int get_string(const json_t *obj, const char *key, const char *where, bool required,
                      char **out, bw_error_t *err) {
  cleanup_free char *key_where = bw_strdup_printf("%s.%s", where, key);
  return string_value(json_object_get(obj, key), key_where, required, out, err);
}

static int string_list(const json_t *arr, const char *where, char ***out, size_t *count,
                       bw_error_t *err) {
  if (!json_is_array(arr) || json_array_size(arr) == 0)
    return bw_error_set(err, BW_ERR_INVALID, "%s: expected a non-empty list of strings", where);
  size_t n = json_array_size(arr);
  char **items = bw_xcalloc(n, sizeof(char *));
  for (size_t i = 0; i < n; i++) {
    const char *s = json_string_value(json_array_get(arr, i));
    if (!s || !*s) {
      for (size_t j = 0; j < i; j++)
        free(items[j]);
      free(items);
      return bw_error_set(err, BW_ERR_INVALID, "%s[%zu]: expected a non-empty string", where, i);
    }
    items[i] = bw_strdup(s);
  }
  *out = items;
  *count = n;
  return 0;
}

static int parse_allowed_tags(component *c, const json_t *v, const char *where, bw_error_t *err) {
  if (json_is_array(v)) {
    if (string_list(v, where, &c->allowed_tags, &c->allowed_tag_count, err) < 0)
      return -1;
    for (size_t i = 0; i < c->allowed_tag_count; i++)
      if (!image_ref_tag_valid(c->allowed_tags[i]))
        return bw_error_set(err, BW_ERR_INVALID, "%s[%zu]: '%s' is not a valid tag", where, i,
                            c->allowed_tags[i]);
    return 0;
  }
  const char *pattern = json_string_value(json_object_get(v, "pattern"));
  if (!json_is_object(v) || !pattern || json_object_size(v) != 1)
    return bw_error_set(err, BW_ERR_INVALID,
                        "%s: expected a list of tags or {\"pattern\": \"EXTENDED REGEX\"}", where);
  c->tag_pattern = bw_strdup(pattern);
  if (!image_ref_tag_pattern_simple(pattern))
    return bw_error_set(err, BW_ERR_INVALID,
                        "%s.pattern: too complex for a tag pattern (nested or adjacent "
                        "repetition, back-references or deep nesting)",
                        where);
  cleanup_free char *anchored = bw_strdup_printf("^(%s)$", pattern);
  int rc = regcomp(&c->tag_regex, anchored, REG_EXTENDED);
  if (rc != 0) {
    char msg[256];
    regerror(rc, &c->tag_regex, msg, sizeof(msg));
    return bw_error_set(err, BW_ERR_INVALID, "%s.pattern: %s", where, msg);
  }
  c->has_tag_pattern = true;
  return 0;
}

static int parse_auth(component *c, const json_t *v, const char *where, bw_error_t *err) {
  if (!json_is_object(v))
    return bw_error_set(err, BW_ERR_INVALID, "%s: expected an object", where);
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)v, key, val) {
    if (strcmp(key, "username_env") && strcmp(key, "password_env") && strcmp(key, "file")) {
      if (strstr(key, "password") || strstr(key, "secret") || strstr(key, "token") ||
          strcmp(key, "auth") == 0)
        return bw_error_set(err, BW_ERR_INVALID,
                            "%s.%s: secrets are given by reference (username_env and "
                            "password_env, or file), never inline",
                            where, key);
      return bw_error_set(err, BW_ERR_INVALID,
                          "%s.%s: unknown key (expected username_env, password_env or file)", where,
                          key);
    }
  }
  if (get_string(v, "username_env", where, false, &c->auth_username_env, err) < 0 ||
      get_string(v, "password_env", where, false, &c->auth_password_env, err) < 0 ||
      get_string(v, "file", where, false, &c->auth_file, err) < 0)
    return -1;
  /* Exactly one source: registry_credentials_of reads both variables when any is set. */
  bool by_env = c->auth_username_env || c->auth_password_env;
  if (by_env == (c->auth_file != NULL) ||
      (by_env && (!c->auth_username_env || !c->auth_password_env)))
    return bw_error_set(err, BW_ERR_INVALID, "%s: give both username_env and password_env, or file",
                        where);
  if (c->auth_username_env && !bw_env_name_valid(c->auth_username_env))
    return bw_error_set(err, BW_ERR_INVALID, "%s.username_env: '%s' is not a variable name", where,
                        c->auth_username_env);
  if (c->auth_password_env && !bw_env_name_valid(c->auth_password_env))
    return bw_error_set(err, BW_ERR_INVALID,
                        "%s.password_env: expected the NAME of an environment variable", where);
  return 0;
}

static int check_within(const component *c, const char *where, bw_error_t *err) {
  const job_limits *d = &c->defaults, *m = &c->maxima;
  /* Name the limit: "a default is above a maximum" leaves the reader to guess which. */
  if (d->memory_bytes > m->memory_bytes) {
    char dv[32], mv[32];
    job_limits_format_bytes(d->memory_bytes, dv, sizeof(dv));
    job_limits_format_bytes(m->memory_bytes, mv, sizeof(mv));
    return bw_error_set(err, BW_ERR_INVALID, "%s.limits.memory: %s is above max_limits.memory %s",
                        where, dv, mv);
  }
  if (d->disk_bytes > m->disk_bytes) {
    char dv[32], mv[32];
    job_limits_format_bytes(d->disk_bytes, dv, sizeof(dv));
    job_limits_format_bytes(m->disk_bytes, mv, sizeof(mv));
    return bw_error_set(err, BW_ERR_INVALID, "%s.limits.disk: %s is above max_limits.disk %s",
                        where, dv, mv);
  }
  if (d->cpus > m->cpus)
    return bw_error_set(err, BW_ERR_INVALID, "%s.limits.cpus: %g is above max_limits.cpus %g",
                        where, d->cpus, m->cpus);
  if (d->timeout_seconds > m->timeout_seconds)
    return bw_error_set(err, BW_ERR_INVALID,
                        "%s.limits.timeout_seconds: %ld is above max_limits.timeout_seconds %ld",
                        where, d->timeout_seconds, m->timeout_seconds);
  if (d->pids > m->pids)
    return bw_error_set(err, BW_ERR_INVALID, "%s.limits.pids: %ld is above max_limits.pids %ld",
                        where, d->pids, m->pids);
  if (!component_network_allowed(c, d->network))
    return bw_error_set(err, BW_ERR_INVALID,
                        "%s.limits.network: '%s' is not in the component's networks", where,
                        d->network);
  return 0;
}

/* A component's keys, each parsed from its value (NULL when absent) at its
 * JSON path ("FILE: components.ID.KEY"), in this order: a later key may use
 * what an earlier one set (max_limits the limits, networks the default
 * network). check_keys refuses any key not listed. */
static int parse_image(component *c, const json_t *v, const char *where, bw_error_t *err) {
  if (string_value(v, where, true, &c->image, err) < 0)
    return -1;
  if (strchr(c->image, '@') ||
      strchr(strrchr(c->image, '/') ? strrchr(c->image, '/') : c->image, ':'))
    return bw_error_set(err, BW_ERR_INVALID,
                        "%s: give the repository only; the tag and digest have keys of "
                        "their own",
                        where);
  if (image_ref_parse(c->image, &c->repo, err) < 0)
    return bw_error_prefix(err, "%s", where);
  free(c->repo.tag);
  c->repo.tag = NULL;
  return 0;
}

static int parse_tag(component *c, const json_t *v, const char *where, bw_error_t *err) {
  if (string_value(v, where, false, &c->default_tag, err) < 0)
    return -1;
  if (!c->default_tag)
    c->default_tag = bw_strdup("latest");
  if (!image_ref_tag_valid(c->default_tag))
    return bw_error_set(err, BW_ERR_INVALID, "%s: '%s' is not a valid tag", where, c->default_tag);
  return 0;
}

static int parse_allowed_tags_key(component *c, const json_t *v, const char *where,
                                  bw_error_t *err) {
  return v ? parse_allowed_tags(c, v, where, err) : 0;
}

static int parse_digest(component *c, const json_t *v, const char *where, bw_error_t *err) {
  if (string_value(v, where, false, &c->digest, err) < 0)
    return -1;
  if (c->digest && !image_ref_digest_valid(c->digest))
    return bw_error_set(err, BW_ERR_INVALID, "%s: expected sha256:<64 hex>, got '%s'", where,
                        c->digest);
  return 0;
}

static int parse_auth_key(component *c, const json_t *v, const char *where, bw_error_t *err) {
  return v ? parse_auth(c, v, where, err) : 0;
}

static int parse_pull_policy(component *c, const json_t *v, const char *where, bw_error_t *err) {
  cleanup_free char *pull = NULL;
  if (string_value(v, where, false, &pull, err) < 0)
    return -1;
  if (!pull)
    return 0;
  size_t i = 0;
  while (i < 3 && strcmp(pull, pull_policy_names[i]) != 0)
    i++;
  if (i == 3)
    return bw_error_set(err, BW_ERR_INVALID,
                        "%s: expected if-not-present, always or never, got '%s'", where, pull);
  c->pull = (pull_policy)i;
  return 0;
}

static int parse_limits(component *c, const json_t *v, const char *where, bw_error_t *err) {
  /* Defaults as the reference has them: 256 MB, 1 CPU, 1 hour, no network. */
  c->defaults = (job_limits){.memory_bytes = 256LL << 20,
                             .disk_bytes = LIMITS_DISK_DEFAULT,
                             .cpus = 1,
                             .timeout_seconds = 3600,
                             .pids = 1024,
                             .network = NULL};
  if (v && job_limits_parse(v, where, &c->defaults, err) < 0)
    return -1;
  if (!c->defaults.network)
    c->defaults.network = bw_strdup("none");
  return 0;
}

static int parse_max_limits(component *c, const json_t *v, const char *where, bw_error_t *err) {
  c->maxima = (job_limits){0};
  if (v) {
    if (job_limits_parse(v, where, &c->maxima, err) < 0)
      return -1;
    if (c->maxima.network)
      return bw_error_set(err, BW_ERR_INVALID, "%s.network: allowed networks go in \"networks\"",
                          where);
  }
  job_limits_apply_defaults(&c->maxima, &c->defaults);
  free(c->maxima.network);
  c->maxima.network = NULL;
  return 0;
}

static int parse_networks(component *c, const json_t *v, const char *where, bw_error_t *err) {
  if (v)
    return string_list(v, where, &c->networks, &c->network_count, err);
  c->networks = bw_xcalloc(1, sizeof(char *));
  c->networks[0] = bw_strdup(c->defaults.network);
  c->network_count = 1;
  return 0;
}

static int parse_run_as_root(component *c, const json_t *v, const char *where, bw_error_t *err) {
  return bool_value(v, where, &c->run_as_root, err);
}

static int parse_read_only_rootfs(component *c, const json_t *v, const char *where,
                                  bw_error_t *err) {
  return bool_value(v, where, &c->read_only_rootfs, err);
}

static int parse_tty(component *c, const json_t *v, const char *where, bw_error_t *err) {
  return bool_value(v, where, &c->tty, err);
}

typedef struct component_key {
  const char *name;
  int (*parse)(component *c, const json_t *v, const char *where, bw_error_t *err); /* NULL: prose */
} component_key;

static const component_key component_keys[] = {
    {"image", parse_image},
    {"tag", parse_tag},
    {"allowed_tags", parse_allowed_tags_key},
    {"digest", parse_digest},
    {"auth", parse_auth_key},
    {"pull_policy", parse_pull_policy},
    {"limits", parse_limits},
    {"max_limits", parse_max_limits},
    {"networks", parse_networks},
    {"run_as_root", parse_run_as_root},
    {"read_only_rootfs", parse_read_only_rootfs},
    {"tty", parse_tty},
    {"description", NULL},
};
#define COMPONENT_KEY_COUNT (sizeof(component_keys) / sizeof(component_keys[0]))

static int check_keys(const json_t *obj, const char *where, bw_error_t *err) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    bool known = false;
    for (size_t i = 0; i < COMPONENT_KEY_COUNT; i++)
      known = known || strcmp(key, component_keys[i].name) == 0;
    if (!known)
      return bw_error_set(err, BW_ERR_INVALID,
                          "%s.%s: unknown key (expected image, tag, allowed_tags, digest, auth, "
                          "pull_policy, limits, max_limits, networks, run_as_root, "
                          "read_only_rootfs, tty, description)",
                          where, key);
  }
  return 0;
}

static int parse_component(component *c, const char *id, const json_t *obj, const char *origin,
                           bw_error_t *err) {
  cleanup_free char *where = bw_strdup_printf("%s: components.%s", origin, id);
  if (!bw_id_valid(id, 128))
    return bw_error_set(err, BW_ERR_INVALID, "%s: component ids are 1 to 128 of [A-Za-z0-9._-]",
                        where);
  if (!json_is_object(obj))
    return bw_error_set(err, BW_ERR_INVALID, "%s: expected an object", where);
  if (check_keys(obj, where, err) < 0)
    return -1;
  c->id = bw_strdup(id);
  for (size_t i = 0; i < COMPONENT_KEY_COUNT; i++) {
    const component_key *k = &component_keys[i];
    if (!k->parse)
      continue;
    cleanup_free char *key_where = bw_strdup_printf("%s.%s", where, k->name);
    if (k->parse(c, json_object_get(obj, k->name), key_where, err) < 0)
      return -1;
  }
  return check_within(c, where, err);
}

int components_load_json(const json_t *root, const char *origin, component_registry *out,
                         bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  const json_t *map = json_object_get(root, "components");
  if (!json_is_object(root) || !json_is_object(map))
    return bw_error_set(err, BW_ERR_INVALID, "%s: expected {\"components\": {ID: {...}, ...}}",
                        origin);
  cleanup_components component_registry reg = {0};
  reg.items = bw_xcalloc(json_object_size(map) + 1, sizeof(component));
  const char *id;
  json_t *obj;
  json_object_foreach((json_t *)map, id, obj) {
    component *c = &reg.items[reg.count++];
    if (parse_component(c, id, obj, origin, err) < 0)
      return -1;
  }
  *out = reg;
  memset(&reg, 0, sizeof(reg));
  return 0;
}

int components_load_file(const char *path, component_registry *out, bw_error_t *err) {
  json_error_t jerr;
  cleanup_json json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return bw_error_set(err, BW_ERR_INVALID, "components file %s:%d:%d: %s", path, jerr.line,
                        jerr.column, jerr.text);
  return components_load_json(root, path, out, err);
}

const component *components_find(const component_registry *reg, const char *id) {
  for (size_t i = 0; reg && i < reg->count; i++)
    if (strcmp(reg->items[i].id, id) == 0)
      return &reg->items[i];
  return NULL;
}

bool component_tag_allowed(const component *c, const char *tag) {
  if (strcmp(tag, c->default_tag) == 0)
    return true;
  for (size_t i = 0; i < c->allowed_tag_count; i++)
    if (strcmp(tag, c->allowed_tags[i]) == 0)
      return true;
  if (!c->has_tag_pattern)
    return false;
  /* The match must span the whole tag: a pattern like "v1)|(v2" escapes the ^( )$. */
  regmatch_t m[1];
  return regexec(&c->tag_regex, tag, 1, m, 0) == 0 && m[0].rm_so == 0 &&
         (size_t)m[0].rm_eo == strlen(tag);
}

bool component_network_allowed(const component *c, const char *network) {
  if (!network)
    return false;
  for (size_t i = 0; i < c->network_count; i++)
    if (strcmp(c->networks[i], network) == 0)
      return true;
  return false;
}

#include "job/job_request.h"

#include "core/cleanup.h"
#include "core/ident.h"
#include "job/masker.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define ENV_VALUE_MAX (32 * 1024)
#define ENV_MAX_COUNT 256
#define ATTEMPT_MAX 1000

static const char *const top_level_keys[] = {
    "schema_version", "job_id",         "component", "tag",       "project_id", "config_id",
    "config_row_id",  "config_version", "branch_id", "replay_of", "attempt",    "config",
    "state",          "inputs",         "limits",    "env",       NULL};

bool job_id_valid(const char *id) {
  return bw_id_valid(id, 128);
}

bool job_env_name_allowed(const char *name) {
  /* The runner owns these: a job must not pretend to be another run. */
  return bw_env_name_valid(name) && strncmp(name, "KBC_", 4) != 0 &&
         strncmp(name, "BUNDLE_", 7) != 0;
}

void job_request_free(job_request *req) {
  if (!req)
    return;
  free(req->job_id);
  free(req->component);
  free(req->tag);
  free(req->project_id);
  free(req->config_id);
  free(req->config_row_id);
  free(req->config_version);
  free(req->branch_id);
  free(req->replay_of);
  json_decref(req->config);
  json_decref(req->state);
  inputs_free(req->inputs, req->input_count);
  job_limits_free(&req->limits);
  for (size_t i = 0; i < req->env_count; i++) {
    free(req->env[i].name);
    free(req->env[i].value);
  }
  free(req->env);
  memset(req, 0, sizeof(*req));
}

/* A masker for the secrets of a request document: the values of '#' keys at
 * any depth, wherever they are (a request that fails validation may hold them
 * anywhere). Built only on the error paths, where a message quotes the
 * request. */
static masker *request_masker(const json_t *doc) {
  masker *m = masker_new();
  masker_add_config(m, doc);
  return m;
}

/* Masks an error message with the document's secrets, in place. */
static void mask_error(const json_t *doc, bw_error_t *err) {
  if (!err || !*err || !(*err)->msg)
    return;
  masker *m = request_masker(doc);
  size_t n = 0;
  char *masked = masker_apply(m, (*err)->msg, strlen((*err)->msg), &n);
  free((*err)->msg);
  (*err)->msg = masked;
  masker_free(m);
}

/* The value as JSON for a message, masked first and then cut short (cutting
 * first could leave the start of a secret that the masker no longer knows). */
static char *describe(const json_t *doc, const json_t *v) {
  cleanup_free char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
  if (!text)
    return bw_strdup("?");
  masker *m = request_masker(doc);
  char *masked = masker_apply(m, text, strlen(text), NULL);
  masker_free(m);
  if (strlen(masked) > 60)
    strcpy(masked + 57, "...");
  return masked;
}

/* An identifier-like string: 1 to 128 of [A-Za-z0-9._-]; where allowed,
 * integers are taken as text (Keboola's project and config ids are numbers). */
static int get_id_or_number(const json_t *doc, const char *key, bool required, bool allow_integer,
                            char **out, bw_error_t *err) {
  json_t *v = json_object_get(doc, key);
  if (!v) {
    if (required)
      return bw_error_set(err, BW_ERR_INVALID, "%s: required", key);
    return 0;
  }
  cleanup_free char *text = NULL;
  if (allow_integer && json_is_integer(v) && json_integer_value(v) >= 0)
    text = bw_strdup_printf("%lld", (long long)json_integer_value(v));
  else if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v))
    text = bw_strdup(json_string_value(v));
  if (!text || !job_id_valid(text)) {
    cleanup_free char *got = describe(doc, v);
    return bw_error_set(err, BW_ERR_INVALID,
                        "%s: expected 1 to 128 characters of [A-Za-z0-9._-] (not . or ..), got %s",
                        key, got);
  }
  *out = steal_pointer(&text);
  return 0;
}

static int get_id(const json_t *doc, const char *key, bool required, char **out, bw_error_t *err) {
  return get_id_or_number(doc, key, required, false, out, err);
}

static int get_id_or_int(const json_t *doc, const char *key, char **out, bw_error_t *err) {
  return get_id_or_number(doc, key, false, true, out, err);
}

static int get_object(const json_t *doc, const char *key, json_t **out, bw_error_t *err) {
  json_t *v = json_object_get(doc, key);
  if (!v) {
    *out = json_object();
    return 0;
  }
  if (!json_is_object(v)) {
    cleanup_free char *got = describe(doc, v);
    return bw_error_set(err, BW_ERR_INVALID, "%s: expected an object, got %s", key, got);
  }
  *out = json_incref(v);
  return 0;
}

static int parse_env(const json_t *v, job_request *req, bw_error_t *err) {
  if (!json_is_object(v))
    return bw_error_set(err, BW_ERR_INVALID, "env: expected an object of NAME: \"value\"");
  if (json_object_size(v) > ENV_MAX_COUNT)
    return bw_error_set(err, BW_ERR_INVALID, "env: at most %d variables", ENV_MAX_COUNT);
  req->env = bw_xcalloc(json_object_size(v) + 1, sizeof(job_env_var));
  const char *name;
  json_t *value;
  json_object_foreach((json_t *)v, name, value) {
    if (!job_env_name_allowed(name))
      return bw_error_set(err, BW_ERR_INVALID,
                          "env.%s: expected a name of [A-Za-z0-9_] not starting with a digit, and "
                          "not a reserved KBC_ or BUNDLE_ name",
                          name);
    if (!json_is_string(value) || json_string_length(value) > ENV_VALUE_MAX ||
        strlen(json_string_value(value)) != json_string_length(value))
      return bw_error_set(err, BW_ERR_INVALID,
                          "env.%s: expected a string of at most %d bytes without NUL", name,
                          ENV_VALUE_MAX);
    req->env[req->env_count].name = bw_strdup(name);
    req->env[req->env_count].value = bw_strdup(json_string_value(value));
    req->env_count++;
  }
  return 0;
}

static int check_top_level(const json_t *doc, bw_error_t *err) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)doc, key, v) {
    bool known = false;
    for (size_t i = 0; top_level_keys[i] && !known; i++)
      known = strcmp(key, top_level_keys[i]) == 0;
    if (!known)
      return bw_error_set(err, BW_ERR_INVALID, "%s: unknown key (see docs/run-request.md)", key);
  }
  json_t *sv = json_object_get(doc, "schema_version");
  if (sv && (!json_is_integer(sv) || json_integer_value(sv) != JOB_REQUEST_SCHEMA_VERSION))
    return bw_error_set(err, BW_ERR_INVALID, "schema_version: expected %d",
                        JOB_REQUEST_SCHEMA_VERSION);
  return 0;
}

static int from_json(const json_t *doc, job_request *out, bw_error_t *err) {
  if (!json_is_object(doc))
    return bw_error_set(err, BW_ERR_INVALID, "request: expected a JSON object");
  /* The id first, so that a rejection can name the job. */
  if (get_id(doc, "job_id", true, &out->job_id, err) < 0)
    return -1;
  if (check_top_level(doc, err) < 0 || get_id(doc, "component", true, &out->component, err) < 0 ||
      get_id_or_int(doc, "project_id", &out->project_id, err) < 0 ||
      get_id_or_int(doc, "config_id", &out->config_id, err) < 0 ||
      get_id_or_int(doc, "config_row_id", &out->config_row_id, err) < 0 ||
      get_id_or_int(doc, "config_version", &out->config_version, err) < 0 ||
      get_id_or_int(doc, "branch_id", &out->branch_id, err) < 0 ||
      get_id(doc, "replay_of", false, &out->replay_of, err) < 0)
    return -1;
  json_t *tag = json_object_get(doc, "tag");
  if (tag) {
    if (!json_is_string(tag) || !image_ref_tag_valid(json_string_value(tag))) {
      cleanup_free char *got = describe(doc, tag);
      return bw_error_set(err, BW_ERR_INVALID,
                          "tag: expected an image tag (1 to 128 of [A-Za-z0-9_.-]), got %s", got);
    }
    out->tag = bw_strdup(json_string_value(tag));
  }
  out->attempt = 1;
  json_t *attempt = json_object_get(doc, "attempt");
  if (attempt) {
    if (!json_is_integer(attempt) || json_integer_value(attempt) < 1 ||
        json_integer_value(attempt) > ATTEMPT_MAX) {
      cleanup_free char *got = describe(doc, attempt);
      return bw_error_set(err, BW_ERR_INVALID, "attempt: expected an integer from 1 to %d, got %s",
                          ATTEMPT_MAX, got);
    }
    out->attempt = (long)json_integer_value(attempt);
  }
  if (get_object(doc, "config", &out->config, err) < 0 ||
      get_object(doc, "state", &out->state, err) < 0)
    return -1;
  json_t *inputs = json_object_get(doc, "inputs");
  if (inputs && inputs_parse(inputs, &out->inputs, &out->input_count, err) < 0)
    return -1;
  json_t *limits = json_object_get(doc, "limits");
  if (limits && job_limits_parse(limits, "limits", &out->limits, err) < 0)
    return -1;
  json_t *env = json_object_get(doc, "env");
  if (env && parse_env(env, out, err) < 0)
    return -1;
  return 0;
}

int job_request_from_json(const json_t *doc, job_request *out, bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  if (from_json(doc, out, err) < 0) {
    mask_error(doc, err); /* a message may quote any value of the request */
    return -1;
  }
  return 0;
}

/* jansson quotes the text near a syntax error ("invalid token near 'abc'"),
 * which may be a secret: say where and what, never the text. */
static void strip_quoted_text(char *text) {
  char *near = strstr(text, " near '");
  if (near)
    *near = '\0';
}

int job_request_parse(const char *bytes, size_t len, job_request *out, bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  json_error_t jerr;
  cleanup_json json_t *doc = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!doc) {
    strip_quoted_text(jerr.text);
    return bw_error_set(err, BW_ERR_INVALID, "request: not valid JSON: line %d column %d: %s",
                        jerr.line, jerr.column, jerr.text);
  }
  return job_request_from_json(doc, out, err);
}

int job_request_check_size(size_t len, long max_bytes, bw_error_t *err) {
  if (max_bytes > 0 && len > (size_t)max_bytes)
    return bw_error_set(err, BW_ERR_INVALID,
                        "request: %zu bytes, more than jobs.request.max.bytes (%ld): not parsed",
                        len, max_bytes);
  return 0;
}

void job_request_add_secrets(const job_request *req, masker *m) {
  masker_add_config(m, req->config);
  masker_add_config(m, req->state);
}

void job_plan_free(job_plan *plan) {
  if (!plan)
    return;
  free(plan->tag);
  image_ref_free(&plan->image);
  job_limits_free(&plan->limits);
  memset(plan, 0, sizeof(*plan));
}

static int check_limits(const job_limits *asked, const component *c, bw_error_t *err) {
  const job_limits *max = &c->maxima;
  char a[32], m[32];
  if (asked->memory_bytes > max->memory_bytes) {
    job_limits_format_bytes(asked->memory_bytes, a, sizeof(a));
    job_limits_format_bytes(max->memory_bytes, m, sizeof(m));
    return bw_error_set(err, BW_ERR_INVALID, "limits.memory: %s is above the maximum %s of %s", a,
                        m, c->id);
  }
  if (asked->disk_bytes > max->disk_bytes) {
    job_limits_format_bytes(asked->disk_bytes, a, sizeof(a));
    job_limits_format_bytes(max->disk_bytes, m, sizeof(m));
    return bw_error_set(err, BW_ERR_INVALID, "limits.disk: %s is above the maximum %s of %s", a, m,
                        c->id);
  }
  if (asked->cpus > max->cpus)
    return bw_error_set(err, BW_ERR_INVALID, "limits.cpus: %g is above the maximum %g of %s",
                        asked->cpus, max->cpus, c->id);
  if (asked->timeout_seconds > max->timeout_seconds)
    return bw_error_set(err, BW_ERR_INVALID,
                        "limits.timeout_seconds: %ld is above the maximum %ld of %s",
                        asked->timeout_seconds, max->timeout_seconds, c->id);
  if (asked->pids > max->pids)
    return bw_error_set(err, BW_ERR_INVALID, "limits.pids: %ld is above the maximum %ld of %s",
                        asked->pids, max->pids, c->id);
  if (asked->network && !component_network_allowed(c, asked->network))
    return bw_error_set(err, BW_ERR_INVALID,
                        "limits.network: '%s' is not allowed for %s (allowed: %s%s)",
                        asked->network, c->id, c->networks[0], c->network_count > 1 ? ", ..." : "");
  return 0;
}

int job_plan_resolve(const job_request *req, const component_registry *reg, job_plan *out,
                     bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  const component *c = components_find(reg, req->component);
  if (!c)
    return bw_error_set(err, BW_ERR_INVALID, "component: '%s' is not a registered component",
                        req->component);
  const char *tag = req->tag ? req->tag : c->default_tag;
  if (!component_tag_allowed(c, tag))
    return bw_error_set(err, BW_ERR_INVALID, "tag: '%s' is not allowed for component %s", tag,
                        c->id);
  if (check_limits(&req->limits, c, err) < 0)
    return -1;
  cleanup_free char *text = bw_strdup_printf("%s:%s%s%s", c->image, tag, c->digest ? "@" : "",
                                             c->digest ? c->digest : "");
  if (image_ref_parse(text, &out->image, err) < 0)
    return bw_error_prefix(err, "component %s", c->id);
  out->component = c;
  out->tag = bw_strdup(tag);
  out->limits =
      (job_limits){.memory_bytes = req->limits.memory_bytes,
                   .disk_bytes = req->limits.disk_bytes,
                   .cpus = req->limits.cpus,
                   .timeout_seconds = req->limits.timeout_seconds,
                   .pids = req->limits.pids,
                   .network = req->limits.network ? bw_strdup(req->limits.network) : NULL};
  job_limits_apply_defaults(&out->limits, &c->defaults);
  return 0;
}

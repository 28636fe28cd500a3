/* A run request: what a client asks the worker to run (docs/run-request.md,
 * schema in docs/run-request.schema.json). Parsing checks the shape; resolving
 * checks it against the registered component (tag, limits, network). Every
 * error names the JSON path and what was expected. */
#pragma once

#include "job/components.h"
#include "core/error.h"
#include "job/job_inputs.h"
#include "job/job_limits.h"
#include "job/masker.h"

#include <jansson.h>
#include <stdbool.h>

#define JOB_REQUEST_SCHEMA_VERSION 1

typedef struct job_env_var {
  char *name;
  char *value;
} job_env_var;

typedef struct job_request {
  char *job_id;
  char *component;
  char *tag; /* NULL: the component's default */
  char *project_id;
  char *config_id;
  char *config_row_id;
  char *config_version;
  char *branch_id;
  char *replay_of;
  long attempt;
  json_t *config; /* never NULL after parsing ({} when absent) */
  json_t *state;  /* never NULL after parsing ({} when absent) */
  job_input *inputs;
  size_t input_count;
  job_limits limits; /* what was asked; unset fields are 0/NULL */
  job_env_var *env;
  size_t env_count;
} job_request;

/* A request checked against its component: what will run. */
typedef struct job_plan {
  const component *component;
  char *tag;
  image_ref image;   /* the component's repository with tag (and digest pin) */
  job_limits limits; /* request over component defaults, within the maxima */
} job_plan;

/* Parses JSON bytes. On failure, *out may still carry the job_id when it
 * could be read and is valid (so a rejection can be reported under it).
 * Error messages never repeat a secret: a message that quotes the request is
 * masked with the values of its '#' keys (found at any depth, also in a
 * request that fails validation), and a syntax error says where and what was
 * expected but quotes no text of the request. */
int job_request_parse(const char *bytes, size_t len, job_request *out, bw_error_t *err);
int job_request_from_json(const json_t *doc, job_request *out, bw_error_t *err);
/* A request over max_bytes (jobs.request.max.bytes; <= 0: no bound) is
 * refused before it is parsed: BW_ERR_INVALID naming both sizes. */
int job_request_check_size(size_t len, long max_bytes, bw_error_t *err);
/* Registers the request's secrets: the values of '#' keys of config and of
 * state (docs/run-request.md). */
void job_request_add_secrets(const job_request *req, masker *m);
void job_request_free(job_request *req);

/* Unknown component, a tag it does not allow, a limit above its maximum or a
 * network it does not allow: rejected here, before anything is pulled. */
int job_plan_resolve(const job_request *req, const component_registry *reg, job_plan *out,
                     bw_error_t *err);
void job_plan_free(job_plan *plan);

/* Is `name` usable as a container environment variable that a request may
 * set? (A name, not one of the reserved KBC_ and BUNDLE_ names.) */
bool job_env_name_allowed(const char *name);
/* Is this a valid job id: 1 to 128 of [A-Za-z0-9._-]? */
bool job_id_valid(const char *id);

static inline void job_request_cleanupp(job_request *r) {
  job_request_free(r);
}
#define cleanup_job_request __attribute__((cleanup(job_request_cleanupp)))

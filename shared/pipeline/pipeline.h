/* The container pipeline: one run request, end to end.
 *   parse and resolve -> data folder and inputs -> image -> container create
 *   and start -> logs -> wait with timeout -> classify -> outputs -> clean-up
 * Every step emits events through the sink; a job.finished event ends every
 * path, including a rejected request. `bundle-worker run` calls this once;
 * `serve` calls it on a thread per job slot. */
#pragma once

#include "core/cancel.h"

#include "job/components.h"
#include "core/config.h"
#include "core/error.h"
#include "job/events.h"
#include "job/job_status.h"
#include "core/log.h"

#include <stdint.h>

typedef struct pipeline_hooks {
  /* Called around a pull of `image` (e.g. a Redis lock per host and image);
   * after lock() returns the pipeline inspects the local image again. */
  int (*pull_lock)(void *ctx, const char *image, bw_error_t *err);
  void (*pull_unlock)(void *ctx, const char *image);
  /* Called just before job.finished; may add fields to the event (a fencing
   * check: is the job's lease still ours?). */
  void (*before_finish)(void *ctx, const char *job_id, json_t *finished_event);
  /* Called before the job's container is created: serve removes any other
   * container of the job on this host (an earlier attempt whose worker died),
   * so that two never run at once. */
  void (*before_create)(void *ctx, const char *job_id);
  void *ctx;
} pipeline_hooks;

/* Values of *pipeline_env.cancel. */
enum {
  PIPELINE_CANCEL_STOP = 1, /* SIGTERM, SIGKILL after jobs.stop.grace.seconds */
  PIPELINE_CANCEL_NOW = 2,  /* SIGKILL at once (a second shutdown signal) */
};

typedef struct pipeline_env {
  const bw_config *cfg;
  const component_registry *components;
  const bw_logger *log;
  const event_sink *sink;
  const bw_cancel *cancel; /* PIPELINE_CANCEL_*: stop the job (status cancelled) */
  const char *host;
  const pipeline_hooks *hooks; /* may be NULL */
  long attempt_override;       /* > 0: run as this attempt (a lease said so) */
  /* Where the request came from (serve): named in job.started and
   * job.finished, so `bundle-worker replay` can fetch the original bytes.
   * NULL for `run`. */
  const char *fleet; /* serve: the Redis prefix, a container label; NULL for run */
  /* serve: the lease's token, on the container (label) and the data folder
   * (owner file), so a sweep knows which run they belong to. NULL for run. */
  const char *lease_token;
  /* serve: the slot's own Engine client, negotiated once and kept across
   * jobs (its connection too): a /_ping and a connect less per job. NULL: the
   * pipeline makes its own. Used by this job's thread only. */
  struct docker_client *docker;
  const char *request_topic;
  int32_t request_partition;
  int64_t request_offset;
} pipeline_env;

/* How a job got its image, when it got that far. */
typedef enum job_image {
  JOB_IMAGE_NONE = 0,
  JOB_IMAGE_CACHED,
  JOB_IMAGE_PULLED,
  JOB_IMAGE_FAILED
} job_image;

typedef struct job_result {
  job_status status;
  long exit_code; /* -1 when no container ran */
  char *message;
  char *job_id; /* NULL when the request had no readable id */
  long attempt;
  int64_t duration_ms;
  /* What serve's metrics count (docs/metrics.md): */
  json_t *phases_ms; /* phase name -> milliseconds, as in job.finished */
  job_image image;
  int64_t log_bytes, log_bytes_dropped;
} job_result;

/* Runs one request given as JSON bytes. Always fills *out and emits
 * job.finished; returns 0 (the outcome is in out->status). */
int pipeline_run(const pipeline_env *env, const char *bytes, size_t len, job_result *out);
void job_result_free(job_result *r);

/* The deterministic container name of a job attempt: "bw-JOBID-ATTEMPT". */
char *pipeline_container_name(const char *job_id, long attempt);

/* One job run of the pipeline (pipeline.h), shared by its parts; only they
 * include this header.
 *
 *   pipeline.c            the steps in order (run_steps), /data, inputs, outputs,
 *                         the end of a run and its clean-up
 *   pipeline_container.c  the image, the container: create, start, wait, limits
 *   pipeline_events.c     job.started and job.finished */
#pragma once

#include "clients/container.h"
#include "clients/image_pull.h"
#include "job/job_request.h"
#include "job/masker.h"
#include "pipeline/data_dir.h"
#include "pipeline/disk_watch.h"
#include "pipeline/job_logs.h"
#include "pipeline/pipeline.h"

#define LOGS_DRAIN_MS 5000 /* after exit, how long the log stream may take to end */
#define UNPRIVILEGED_USER "65534:65534"

/* Everything one job run holds; released in one place. */
typedef struct job_run {
  const pipeline_env *env;
  job_request req;
  job_plan plan;
  masker *mask;
  job_events events;
  docker_client *dc;
  data_dir dir;
  char *container_id;
  char *container_name;
  char *image_digest;
  json_t *state_out;
  json_t *state_artifact; /* a state too large to carry, stored (pipeline.c state_fit) */
  job_logs logs;
  bool logs_started;
  disk_watch disk;
  char *disk_message; /* set when the job ended for its disk (status disk_limit) */
  int64_t started_ms;
  /* The job's time limit runs out here (monotonic): it bounds the inputs and
   * the container together. 0 until the inputs start. */
  int64_t deadline_ms;
  json_t *phases; /* name -> milliseconds */
  int64_t phase_start;
  long exit_code;
  bool exit_known; /* a container ran and its exit code was read */
  bool oom_killed;
  bool timed_out;
  bool cancelled;
  long artifacts;
  job_image image;
} job_run;

/* The largest state job.finished carries (its compact JSON); a larger one is
 * stored as an artifact. */
#define PIPELINE_STATE_IN_EVENT_MAX (256 * 1024)

/* pipeline.c */
void pipeline_phase_begin(job_run *run);
void pipeline_phase_end(job_run *run, const char *name);
bool pipeline_cancelled(const job_run *run);
bool pipeline_refuse_secrets(const job_run *run);
job_status pipeline_status_of_error(const bw_error_t err, bool before_container);

/* pipeline_container.c */
int pipeline_ensure_image(job_run *run, const char *user, const char *pass, bw_error_t *err);
int pipeline_create_and_start(job_run *run, bw_error_t *err);
int pipeline_wait_for_exit(job_run *run, bw_error_t *err);
bool pipeline_over_disk_limit(job_run *run, int64_t layer_bytes);

/* pipeline_events.c */
void pipeline_emit(job_run *run, json_t *ev);
void pipeline_emit_started(job_run *run);
char *pipeline_outcome_message(const job_run *run, job_status status);
void pipeline_emit_finished(job_run *run, job_result *res, json_t *state);

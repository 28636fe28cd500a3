/* The pipeline's job.started and job.finished (pipeline_run.h). */
#include "pipeline/pipeline_run.h"

#include "core/cleanup.h"
#include "core/timeutil.h"

#include <stdlib.h>
#include <string.h>

void pipeline_emit(job_run *run, json_t *ev) {
  if (event_emit(&run->events, ev) < 0)
    bw_log_warn(run->env->log, "job %s: an event could not be written", run->req.job_id);
}

static void add_request_source(const job_run *run, json_t *ev) {
  const pipeline_env *env = run->env;
  if (env->request_topic)
    json_object_set_new(ev, "request",
                        json_pack("{s:s, s:i, s:I}", "topic", env->request_topic, "partition",
                                  (int)env->request_partition, "offset",
                                  (json_int_t)env->request_offset));
}

void pipeline_emit_started(job_run *run) {
  json_t *ev = event_new(&run->events, "job.started");
  cleanup_free char *image = image_ref_string(&run->plan.image);
  char mem[32];
  job_limits_format_bytes(run->plan.limits.memory_bytes, mem, sizeof(mem));
  json_object_set_new(ev, "component", json_string(run->req.component));
  json_object_set_new(ev, "image", json_string(image));
  if (run->req.project_id)
    json_object_set_new(ev, "project_id", json_string(run->req.project_id));
  if (run->req.replay_of)
    json_object_set_new(ev, "replay_of", json_string(run->req.replay_of));
  add_request_source(run, ev);
  char disk[32];
  job_limits_format_bytes(run->plan.limits.disk_bytes, disk, sizeof(disk));
  json_object_set_new(ev, "limits",
                      json_pack("{s:s, s:s, s:f, s:i, s:i, s:s}", "memory", mem, "disk", disk,
                                "cpus", run->plan.limits.cpus, "timeout_seconds",
                                (int)run->plan.limits.timeout_seconds, "pids",
                                (int)run->plan.limits.pids, "network", run->plan.limits.network));
  pipeline_emit(run, ev);
}

char *pipeline_outcome_message(const job_run *run, job_status status) {
  cleanup_free char *tail = run->logs_started ? job_logs_tail(&run->logs) : bw_strdup("");
  char mem[32];
  job_limits_format_bytes(run->plan.limits.memory_bytes, mem, sizeof(mem));
  switch (status) {
  case JOB_SUCCESS:
    return bw_strdup("the container exited with 0");
  case JOB_USER_ERROR:
    return bw_strdup_printf("the container exited with 1 (user error)%s%s", *tail ? ": " : "",
                            tail);
  case JOB_APPLICATION_ERROR:
    /* The user sees a generic message; the output is in the job.log events. */
    return bw_strdup_printf("application error: the container exited with %ld", run->exit_code);
  case JOB_TIMEOUT:
    return bw_strdup_printf("timeout: the job ran longer than its limit of %ld s and was stopped",
                            run->plan.limits.timeout_seconds);
  case JOB_OOM:
    return bw_strdup_printf("out of memory: the job used more than its memory limit of %s "
                            "(exit code %ld)",
                            mem, run->exit_code);
  case JOB_CANCELLED:
    return bw_strdup("cancelled: the job was stopped on request");
  case JOB_DISK_LIMIT:
    return bw_strdup(run->disk_message ? run->disk_message : "disk limit");
  default:
    return bw_strdup("");
  }
}

void pipeline_emit_finished(job_run *run, job_result *res, json_t *state) {
  json_t *ev = event_new(&run->events, "job.finished");
  json_object_set_new(ev, "status", json_string(job_status_name(res->status)));
  json_object_set_new(ev, "exit_code",
                      res->exit_code >= 0 ? json_integer(res->exit_code) : json_null());
  json_object_set_new(ev, "message", json_string(res->message ? res->message : ""));
  if (run->req.component)
    json_object_set_new(ev, "component", json_string(run->req.component));
  json_object_set_new(ev, "duration_ms", json_integer((json_int_t)res->duration_ms));
  json_object_set_new(ev, "phases_ms", json_incref(run->phases));
  json_object_set_new(ev, "image_digest",
                      run->image_digest ? json_string(run->image_digest) : json_null());
  json_object_set_new(ev, "artifacts", json_integer(run->artifacts));
  if (run->logs_started) {
    json_object_set_new(ev, "log_bytes",
                        json_integer((json_int_t)run->logs.output.budget.bytes_total));
    json_object_set_new(ev, "log_bytes_dropped",
                        json_integer((json_int_t)run->logs.output.budget.bytes_dropped));
  }
  if (run->state_artifact)
    json_object_set_new(ev, "state_artifact", json_incref(run->state_artifact));
  if (run->req.replay_of)
    json_object_set_new(ev, "replay_of", json_string(run->req.replay_of));
  add_request_source(run, ev);
  const pipeline_hooks *hooks = run->env->hooks;
  if (hooks && hooks->before_finish && run->req.job_id)
    hooks->before_finish(hooks->ctx, run->req.job_id, ev);
  /* The state goes back whole, unmasked: the next run needs its values,
   * '#' ones included (docs/events.md). */
  if (event_emit_with_unmasked(&run->events, ev, "state", state ? state : json_null()) < 0)
    bw_log_warn(run->env->log, "job %s: an event could not be written", run->req.job_id);
}

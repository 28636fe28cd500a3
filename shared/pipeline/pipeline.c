#include "pipeline/pipeline.h"

#include "pipeline/pipeline_run.h"

#include "clients/artifact_store.h"
#include "clients/registry_credentials.h"
#include "core/cleanup.h"
#include "core/digest.h"
#include "core/fdio.h"
#include "core/test_hooks.h"
#include "core/timeutil.h"
#include "pipeline/inputs.h"
#include "pipeline/outputs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void job_result_free(job_result *r) {
  if (!r)
    return;
  free(r->message);
  free(r->job_id);
  json_decref(r->phases_ms);
  memset(r, 0, sizeof(*r));
}

char *pipeline_container_name(const char *job_id, long attempt) {
  return bw_strdup_printf("bw-%s-%ld", job_id, attempt);
}

void pipeline_phase_begin(job_run *run) {
  run->phase_start = bw_time_monotonic_ms();
}

void pipeline_phase_end(job_run *run, const char *name) {
  json_object_set_new(run->phases, name,
                      json_integer((json_int_t)(bw_time_monotonic_ms() - run->phase_start)));
}

bool pipeline_cancelled(const job_run *run) {
  return bw_cancel_level(run->env->cancel);
}

/* Secrets besides the request's own (resolve() took those): the registry
 * credentials. */
static void collect_secrets(job_run *run, const char *registry_pass) {
  if (registry_pass)
    masker_add_secret(run->mask, registry_pass);
}

static int resolve(job_run *run, const char *bytes, size_t len, bw_error_t *err) {
  if (job_request_check_size(len, run->env->cfg->request_max_bytes, err) < 0)
    return -1;
  int rc = job_request_parse(bytes, len, &run->req, err);
  /* A rejected request is still reported under its id when it had a valid one. */
  run->events.job_id = run->req.job_id;
  if (rc < 0)
    return -1;
  if (run->env->attempt_override > 0)
    run->req.attempt = run->env->attempt_override;
  run->events.attempt = run->req.attempt;
  job_request_add_secrets(&run->req, run->mask);
  if (job_plan_resolve(&run->req, run->env->components, &run->plan, err) < 0)
    return -1;
  return 0;
}

static void on_artifact(void *ctx, const json_t *artifact) {
  job_run *run = ctx;
  json_t *ev = event_new(&run->events, "artifact.uploaded");
  json_object_update(ev, (json_t *)artifact);
  pipeline_emit(run, ev);
  run->artifacts++;
}

static void on_refused(void *ctx, const char *path, const char *reason) {
  job_run *run = ctx;
  json_t *ev = event_new(&run->events, "artifact.refused");
  json_object_set_new(ev, "path", json_string(path));
  json_object_set_new(ev, "reason", json_string(reason));
  pipeline_emit(run, ev);
}

bool pipeline_refuse_secrets(const job_run *run) {
  return strcmp(run->env->cfg->artifacts_secrets, "refuse") == 0;
}

/* job.finished carries the state to the caller, who gives it back in the
 * next request; both travel through Kafka, whose messages are bounded (1 MB
 * by default), and an event that cannot be sent would hold its partition's
 * commits. A larger state is stored as the artifact JOB/ATTEMPT/state.json,
 * which job.finished names (state_artifact) instead of carrying it; one that
 * holds the job's secrets is not stored when artifacts.secrets is refuse. */
static int state_fit(job_run *run, artifact_store *store, bw_error_t *err) {
  if (!run->state_out)
    return 0;
  cleanup_free char *text = json_dumps(run->state_out, JSON_COMPACT);
  size_t len = text ? strlen(text) : 0;
  if (len <= PIPELINE_STATE_IN_EVENT_MAX)
    return 0;
  /* Not carried inline, whatever happens next. */
  json_decref(run->state_out);
  run->state_out = NULL;
  if (pipeline_refuse_secrets(run) && masker_contains(run->mask, text, len)) {
    cleanup_free char *reason = bw_strdup_printf(
        "%zu bytes, more than the %d that job.finished carries, and it holds the job's secrets "
        "(artifacts.secrets is refuse): not stored, not carried to the next run",
        len, PIPELINE_STATE_IN_EVENT_MAX);
    on_refused(run, "state.json", reason);
    return 0;
  }
  cleanup_close int fd = memfd_create("state.json", MFD_CLOEXEC);
  if (fd < 0 || bw_write_all(fd, text, len) < 0)
    return bw_error_set_errno(err, BW_ERR_INTERNAL, errno, "state: a memory file");
  cleanup_free char *key = bw_strdup_printf("%s/%ld/state.json", run->req.job_id, run->req.attempt);
  artifact_stored stored = {0};
  if (artifact_store_put_fd(store, key, fd, NULL, -1, &stored, err) < 0)
    return bw_error_prefix(err, "state (%zu bytes, stored beside the outputs)", len);
  char sha[DIGEST_SHA256_HEX_LEN + 1];
  digest_sha256_buf(text, len, sha, NULL);
  run->state_artifact =
      json_pack("{s:s, s:I, s:s, s:s, s:s?}", "path", "state.json", "size", (json_int_t)len,
                "sha256", sha, "location", stored.location, "etag", stored.etag);
  artifact_stored_free(&stored);
  on_artifact(run, run->state_artifact);
  return 0;
}

static int collect_outputs(job_run *run, bw_error_t *err) {
  cleanup_artifact_store artifact_store *store = NULL;
  if (artifact_store_open_config(run->env->cfg, NULL, &store, err) < 0)
    return -1;
  outputs_opts opts = {.job_id = run->req.job_id,
                       .attempt = (int)run->req.attempt,
                       .max_total_bytes = run->plan.limits.disk_bytes,
                       .on_artifact = on_artifact,
                       .on_refused = on_refused,
                       .ctx = run,
                       .refuse_secrets = pipeline_refuse_secrets(run) ? run->mask : NULL,
                       .parallel = (int)run->env->cfg->upload_parallel};
  if (outputs_collect(run->dir.out_dir, store, &opts, err) < 0)
    return -1;
  if (outputs_read_state(run->dir.out_dir, &run->state_out, err) < 0)
    return -1;
  /* Its '#' values are secrets for every message from now on. The output
   * is followed no more (job_logs_finish), so the masker may grow again. */
  masker_add_config(run->mask, run->state_out);
  /* job.finished carries the state unmasked: a secret outside a '#' key
   * would travel in plain text. */
  cleanup_free char *where = NULL;
  if (pipeline_refuse_secrets(run) && outputs_state_leaks(run->state_out, run->mask, &where)) {
    cleanup_free char *reason = bw_strdup_printf(
        "%s holds one of the job's secrets outside a '#' key (artifacts.secrets is refuse): the "
        "state is not carried to the next run",
        where);
    on_refused(run, "state.json", reason);
    json_decref(run->state_out);
    run->state_out = NULL;
  }
  return state_fit(run, store, err);
}

static void cleanup_run(job_run *run, job_status status) {
  bw_error_t err = NULL;
  disk_watch_stop(&run->disk);
  if (run->logs_started)
    job_logs_finish(&run->logs, 0);
  if (run->container_id && container_remove(run->dc, run->container_id, &err) < 0) {
    bw_log_error(run->env->log, "job %s: %s", run->req.job_id, bw_error_msg(&err));
    bw_error_release(&err);
  }
  bool keep = status != JOB_SUCCESS && run->env->cfg->keep_failed_data;
  if (run->dir.path && !keep && data_dir_remove(&run->dir, &err) < 0) {
    bw_log_error(run->env->log, "job %s: %s", run->req.job_id, bw_error_msg(&err));
    bw_error_release(&err);
  } else if (keep && run->dir.path) {
    data_dir_disown(&run->dir); /* the operator's now: never swept */
    bw_log_info(run->env->log, "job %s failed; its data folder is kept at %s", run->req.job_id,
                run->dir.path);
  }
}

/* Maps an error of a step to the job's status. */
job_status pipeline_status_of_error(const bw_error_t err, bool before_container) {
  switch (err->kind) {
  case BW_ERR_INVALID:
    return before_container ? JOB_REJECTED : JOB_INFRA_ERROR;
  case BW_ERR_USER:
    return JOB_USER_ERROR;
  case BW_ERR_CANCELLED:
    return JOB_CANCELLED;
  default:
    return JOB_INFRA_ERROR;
  }
}

/* file:// inputs read the worker's own disk: only under a configured folder. */
static int check_file_inputs(const job_run *run, bw_error_t *err) {
  const char *root = run->env->cfg->inputs_file_root;
  cleanup_free char *real_root = (root && *root) ? realpath(root, NULL) : NULL;
  for (size_t i = 0; i < run->req.input_count; i++) {
    const char *url = run->req.inputs[i].url;
    if (strncmp(url, "file://", 7) != 0)
      continue;
    if (!real_root)
      return bw_error_set(err, BW_ERR_USER,
                          "inputs[%zu].url: file:// inputs are disabled on this worker "
                          "(jobs.inputs.file.root is not set)",
                          i);
    const char *path = url + 7;
    if (strncmp(path, "localhost/", 10) == 0)
      path += 9;
    cleanup_free char *real = realpath(path, NULL);
    size_t n = strlen(real_root);
    if (!real || strncmp(real, real_root, n) != 0 || (real[n] != '/' && real_root[n - 1] != '/'))
      return bw_error_set(err, BW_ERR_USER,
                          "inputs[%zu].url: file:// inputs must be existing files under %s", i,
                          real_root);
  }
  return 0;
}

/* Within the job's time limit (run->deadline_ms): a slow or hanging server
 * ends the job as a timeout, never holds it longer. */
static int fetch_inputs(job_run *run, bw_error_t *err) {
  const bw_config *cfg = run->env->cfg;
  if (check_file_inputs(run, err) < 0)
    return -1;
  inputs_options opts = {.default_max_bytes = cfg->inputs_max_bytes,
                         .cancel = run->env->cancel,
                         .deadline_ms = run->deadline_ms,
                         .allow = cfg->inputs_allow};
  cleanup_s3_client s3_client *s3 = NULL;
  for (size_t i = 0; i < run->req.input_count && !s3; i++) {
    if (strncmp(run->req.inputs[i].url, "s3://", 5) != 0)
      continue;
    /* The worker's store settings and credentials read the job's inputs. */
    http_transfer_opts transfer = {.cancel = run->env->cancel};
    if (s3_client_new(cfg, &transfer, &s3, err) < 0)
      return bw_error_prefix(err, "inputs[%zu]", i);
    opts.s3 = s3;
  }
  return inputs_fetch(run->dir.in_dir, run->req.inputs, run->req.input_count, &opts, err);
}

static job_status run_steps(job_run *run, const char *bytes, size_t len, bw_error_t *err) {
  const pipeline_env *env = run->env;
  pipeline_phase_begin(run);
  if (resolve(run, bytes, len, err) < 0)
    return JOB_REJECTED;
  pipeline_emit_started(run);
  cleanup_free char *user = NULL;
  cleanup_free char *pass = NULL;
  const component *c = run->plan.component;
  if (registry_credentials_of(c, image_ref_registry_host(&run->plan.image), &user, &pass, err) < 0)
    return JOB_INFRA_ERROR; /* the worker's own configuration is wrong */
  collect_secrets(run, pass);
  if (env->docker) {
    run->dc = env->docker;
  } else if (docker_client_open(&run->dc, env->cfg->docker_socket, env->cfg->docker_timeout_ms,
                                err) < 0) {
    return JOB_INFRA_ERROR;
  }
  run->container_name = pipeline_container_name(run->req.job_id, run->req.attempt);
  uid_t uid = c->run_as_root ? 0 : 65534;
  cleanup_json json_t *owner =
      env->fleet && env->lease_token
          ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "fleet", env->fleet, "worker",
                      env->cfg->worker_id, "host", env->host, "lease", env->lease_token, "job_id",
                      run->req.job_id, "attempt", (json_int_t)run->req.attempt)
          : NULL;
  if (data_dir_create(env->cfg->data_root, run->req.job_id, run->req.attempt, run->req.config,
                      run->req.state, uid, uid, owner, &run->dir, err) < 0)
    return JOB_INFRA_ERROR;
  pipeline_phase_end(run, "prepare");

  pipeline_phase_begin(run);
  run->deadline_ms = bw_time_monotonic_ms() + run->plan.limits.timeout_seconds * 1000;
  if (run->req.input_count > 0 && fetch_inputs(run, err) < 0) {
    if ((*err)->kind == BW_ERR_TIMEOUT) {
      bw_error_prefix(err, "timeout");
      return JOB_TIMEOUT;
    }
    return pipeline_status_of_error(*err, true) == JOB_REJECTED
               ? JOB_USER_ERROR
               : pipeline_status_of_error(*err, true);
  }
  pipeline_phase_end(run, "inputs");
  if (pipeline_over_disk_limit(run, 0))
    return JOB_DISK_LIMIT;

  pipeline_phase_begin(run);
  if (pipeline_ensure_image(run, user, pass, err) < 0)
    return pipeline_status_of_error(*err, false);
  pipeline_phase_end(run, "pull");
  if (pipeline_cancelled(run))
    return JOB_CANCELLED;

  pipeline_phase_begin(run);
  if (pipeline_create_and_start(run, err) < 0)
    return pipeline_status_of_error(*err, false);
  pipeline_phase_end(run, "start");

  pipeline_phase_begin(run);
  if (pipeline_wait_for_exit(run, err) < 0)
    return JOB_INFRA_ERROR;
  job_logs_finish(&run->logs, LOGS_DRAIN_MS);
  container_state st;
  if (container_inspect_state(run->dc, run->container_id, &st, err) < 0)
    return JOB_INFRA_ERROR;
  run->oom_killed = st.oom_killed;
  run->exit_code = st.exit_code;
  run->exit_known = true;
  container_state_free(&st);
  pipeline_phase_end(run, "run");

  job_status status =
      job_status_classify(run->oom_killed, run->timed_out, run->cancelled, run->exit_code);
  /* Stopped by the disk watch, or over the limit by the end: nothing of it
   * is uploaded. */
  bool stopped_for_disk = disk_watch_stop(&run->disk);
  if (stopped_for_disk || pipeline_over_disk_limit(run, run->disk.layer_bytes)) {
    if (stopped_for_disk && !run->disk_message)
      run->disk_message =
          disk_watch_message(&run->disk.usage, run->disk.layer_bytes, run->plan.limits.disk_bytes);
    return status == JOB_OOM || status == JOB_TIMEOUT || status == JOB_CANCELLED ? status
                                                                                 : JOB_DISK_LIMIT;
  }
  /* Outputs are taken from every container that ran: a failed job's partial
   * results help whoever debugs it. */
  pipeline_phase_begin(run);
  if (collect_outputs(run, err) < 0) {
    if (status == JOB_SUCCESS)
      return pipeline_status_of_error(*err, false);
    bw_log_warn(env->log, "job %s: outputs: %s", run->req.job_id, bw_error_msg(err));
    bw_error_release(err);
  }
  pipeline_phase_end(run, "outputs");
  return status;
}

int pipeline_run(const pipeline_env *env, const char *bytes, size_t len, job_result *out) {
  memset(out, 0, sizeof(*out));
  job_run run = {.env = env, .exit_code = -1};
  run.mask = masker_new();
  run.phases = json_object();
  run.started_ms = bw_time_monotonic_ms();
  run.events = (job_events){.sink = env->sink,
                            .mask = run.mask,
                            .attempt = 1,
                            .worker_id = env->cfg->worker_id,
                            .host = env->host};
  bw_error_t err = NULL;
  job_status status = run_steps(&run, bytes, len, &err);

  pipeline_phase_begin(&run);
  cleanup_run(&run, status);
  pipeline_phase_end(&run, "cleanup");

  out->status = status;
  out->exit_code = run.exit_known ? run.exit_code : -1; /* whenever a container ran */
  if (err) {
    /* Secrets never reach a message: the error text is masked like a log line. */
    size_t n = 0;
    out->message = masker_apply(run.mask, err->msg, strlen(err->msg), &n);
  } else {
    out->message = pipeline_outcome_message(&run, status);
  }
  out->job_id = run.req.job_id ? bw_strdup(run.req.job_id) : NULL;
  out->attempt = run.req.attempt ? run.req.attempt : 1;
  out->duration_ms = bw_time_monotonic_ms() - run.started_ms;
  out->phases_ms = json_incref(run.phases);
  out->image = run.image;
  if (run.logs_started) {
    out->log_bytes = (int64_t)run.logs.output.budget.bytes_total;
    out->log_bytes_dropped = (int64_t)run.logs.output.budget.bytes_dropped;
  }
  pipeline_emit_finished(&run, out, run.state_out);
  if (status != JOB_SUCCESS)
    bw_log_fields(env->log, BW_LOG_WARN, "job finished", "job_id", out->job_id ? out->job_id : "",
                  "status", job_status_name(status), "message", out->message, NULL);

  bw_error_release(&err);
  job_logs_free(&run.logs);
  disk_watch_free(&run.disk);
  free(run.disk_message);
  if (run.dc != env->docker)
    docker_client_free(run.dc);
  data_dir_free(&run.dir);
  free(run.container_id);
  free(run.container_name);
  free(run.image_digest);
  json_decref(run.state_out);
  json_decref(run.state_artifact);
  json_decref(run.phases);
  job_plan_free(&run.plan);
  job_request_free(&run.req);
  masker_free(run.mask);
  return 0;
}

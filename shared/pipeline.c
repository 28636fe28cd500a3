#include "pipeline.h"

#include "artifact_store.h"
#include "cleanup.h"
#include "container.h"
#include "data_dir.h"
#include "disk_watch.h"
#include "image_pull.h"
#include "inputs.h"
#include "job_logs.h"
#include "job_request.h"
#include "masker.h"
#include "outputs.h"
#include "test_hooks.h"
#include "timeutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static void phase_begin(job_run *run) {
  run->phase_start = bw_time_monotonic_ms();
}

static void phase_end(job_run *run, const char *name) {
  json_object_set_new(run->phases, name,
                      json_integer((json_int_t)(bw_time_monotonic_ms() - run->phase_start)));
}

static bool cancelled(const job_run *run) {
  return bw_cancel_level(run->env->cancel);
}

static void emit(job_run *run, json_t *ev) {
  if (event_emit(&run->events, ev) < 0)
    bw_log_warn(run->env->log, "job %s: an event could not be written", run->req.job_id);
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

static void add_request_source(const job_run *run, json_t *ev) {
  const pipeline_env *env = run->env;
  if (env->request_topic)
    json_object_set_new(ev, "request",
                        json_pack("{s:s, s:i, s:I}", "topic", env->request_topic, "partition",
                                  (int)env->request_partition, "offset",
                                  (json_int_t)env->request_offset));
}

static void emit_started(job_run *run) {
  json_t *ev = event_new(&run->events, "job.started");
  cleanup_free char *image = image_ref_string(&run->plan.image);
  char mem[32];
  limits_format_bytes(run->plan.limits.memory_bytes, mem, sizeof(mem));
  json_object_set_new(ev, "component", json_string(run->req.component));
  json_object_set_new(ev, "image", json_string(image));
  if (run->req.project_id)
    json_object_set_new(ev, "project_id", json_string(run->req.project_id));
  if (run->req.replay_of)
    json_object_set_new(ev, "replay_of", json_string(run->req.replay_of));
  add_request_source(run, ev);
  char disk[32];
  limits_format_bytes(run->plan.limits.disk_bytes, disk, sizeof(disk));
  json_object_set_new(ev, "limits",
                      json_pack("{s:s, s:s, s:f, s:i, s:i, s:s}", "memory", mem, "disk", disk,
                                "cpus", run->plan.limits.cpus, "timeout_seconds",
                                (int)run->plan.limits.timeout_seconds, "pids",
                                (int)run->plan.limits.pids, "network", run->plan.limits.network));
  emit(run, ev);
}

/* The pull: local first (unless the policy is "always"), then under the
 * per-host lock (when the worker has one) look again, then pull. */
static int ensure_image(job_run *run, const char *user, const char *pass, bw_error_t *err) {
  const component *c = run->plan.component;
  cleanup_free char *local = image_ref_local_name(&run->plan.image);
  cleanup_free char *repo = image_ref_repository(&run->plan.image);
  int64_t start = bw_time_monotonic_ms();
  cleanup_json json_t *inspect = NULL;
  image_pull_result res = {0};
  bool cached = false;
  const pipeline_hooks *hooks = run->env->hooks;
  bool locked = false;
  int rc = 0;

  if (c->pull != PULL_ALWAYS && image_inspect(run->dc, local, &inspect, err) < 0)
    return bw_error_prefix(err, "image %s", local);
  if (inspect) {
    cached = true;
  } else if (c->pull == PULL_NEVER) {
    return bw_error_set(err, BW_ERR_USER,
                        "image %s is not on this host and the component's pull policy is never",
                        local);
  } else {
    if (hooks && hooks->pull_lock) {
      if (hooks->pull_lock(hooks->ctx, local, err) < 0)
        return bw_error_prefix(err, "image %s", local);
      locked = true;
      /* Whoever held the lock may have pulled it meanwhile. */
      if (c->pull != PULL_ALWAYS && image_inspect(run->dc, local, &inspect, err) < 0) {
        rc = bw_error_prefix(err, "image %s", local);
        goto out;
      }
      cached = inspect != NULL;
    }
    if (!cached) {
      image_pull_opts opts = {.username = user,
                              .password = pass,
                              .total_timeout_ms = run->env->cfg->pull_timeout_s * 1000,
                              .inactivity_timeout_s = run->env->cfg->pull_inactivity_s,
                              .cancel = run->env->cancel};
      if (image_pull(run->dc, &run->plan.image, &opts, &res, err) < 0) {
        run->image = JOB_IMAGE_FAILED;
        rc = -1;
        goto out;
      }
      if (image_inspect(run->dc, local, &inspect, err) < 0 || !inspect) {
        rc = inspect ? -1 : bw_error_set(err, BW_ERR_UNAVAILABLE, "image %s vanished", local);
        goto out;
      }
    }
  }
  if (c->digest && !image_has_repo_digest(inspect, repo, c->digest)) {
    rc = bw_error_set(err, BW_ERR_USER, "image %s does not carry the pinned digest %s", local,
                      c->digest);
    goto out;
  }
  /* The digest we report: the pin, else the one the registry gave for this repo. */
  if (c->digest) {
    run->image_digest = bw_strdup(c->digest);
  } else if (res.digest) {
    run->image_digest = bw_strdup(res.digest);
  } else {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(inspect, "RepoDigests"), i, v) {
      const char *s = json_string_value(v);
      const char *at = s ? strchr(s, '@') : NULL;
      if (at && !run->image_digest)
        run->image_digest = bw_strdup(at + 1);
    }
  }
  json_t *ev = event_new(&run->events, "image.pulled");
  json_object_set_new(ev, "image", json_string(local));
  json_object_set_new(ev, "image_id",
                      json_string(json_string_value(json_object_get(inspect, "Id"))));
  json_object_set_new(ev, "digest",
                      run->image_digest ? json_string(run->image_digest) : json_null());
  json_object_set_new(ev, "cached", json_boolean(cached));
  run->image = cached ? JOB_IMAGE_CACHED : JOB_IMAGE_PULLED;
  json_object_set_new(ev, "attempts", json_integer(res.attempts));
  json_object_set_new(ev, "duration_ms",
                      json_integer((json_int_t)(bw_time_monotonic_ms() - start)));
  emit(run, ev);
out:
  if (locked)
    hooks->pull_unlock(hooks->ctx, local);
  image_pull_result_free(&res);
  return rc;
}

static char **build_env(const job_run *run) {
  const job_request *r = &run->req;
  size_t cap = 16 + r->env_count;
  char **env = calloc(cap + 1, sizeof(char *));
  if (!env)
    abort();
  size_t n = 0;
  env[n++] = bw_strdup_printf("KBC_RUNID=%s", r->job_id);
  env[n++] = bw_strdup("KBC_DATADIR=/data/");
  env[n++] = bw_strdup_printf("KBC_COMPONENTID=%s", r->component);
  env[n++] = bw_strdup_printf("KBC_PROJECTID=%s", r->project_id ? r->project_id : "");
  env[n++] = bw_strdup_printf("KBC_CONFIGID=%s", r->config_id ? r->config_id : "");
  env[n++] = bw_strdup_printf("KBC_CONFIGVERSION=%s", r->config_version ? r->config_version : "");
  env[n++] = bw_strdup("KBC_STACKID=bundle-worker");
  if (r->config_row_id)
    env[n++] = bw_strdup_printf("KBC_CONFIGROWID=%s", r->config_row_id);
  if (r->branch_id)
    env[n++] = bw_strdup_printf("KBC_BRANCHID=%s", r->branch_id);
  env[n++] = bw_strdup_printf("BUNDLE_JOB_ID=%s", r->job_id);
  env[n++] = bw_strdup_printf("BUNDLE_ATTEMPT=%ld", r->attempt);
  env[n++] = bw_strdup_printf("BUNDLE_WORKER=%s", run->env->cfg->worker_id);
  for (size_t i = 0; i < r->env_count; i++)
    env[n++] = bw_strdup_printf("%s=%s", r->env[i].name, r->env[i].value);
  env[n] = NULL;
  return env;
}

static void free_strv(char **v) {
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

static int create_and_start(job_run *run, bw_error_t *err) {
  const job_request *r = &run->req;
  const component *c = run->plan.component;
  char **env = build_env(run);
  cleanup_free char *attempt = bw_strdup_printf("%ld", r->attempt);
  char *labels[9] = {
      bw_strdup_printf(CONTAINER_LABEL_JOB "=%s", r->job_id),
      bw_strdup_printf(CONTAINER_LABEL_ATTEMPT "=%s", attempt),
      bw_strdup_printf(CONTAINER_LABEL_WORKER "=%s", run->env->cfg->worker_id),
      bw_strdup_printf(CONTAINER_LABEL_HOST "=%s", run->env->host),
      bw_strdup_printf(CONTAINER_LABEL_COMPONENT "=%s", r->component),
      bw_strdup_printf(CONTAINER_LABEL_PROJECT "=%s", r->project_id ? r->project_id : ""),
      run->env->fleet ? bw_strdup_printf(CONTAINER_LABEL_FLEET "=%s", run->env->fleet) : NULL,
      run->env->fleet && run->env->lease_token
          ? bw_strdup_printf(CONTAINER_LABEL_LEASE "=%s", run->env->lease_token)
          : NULL,
      NULL};
  cleanup_free char *image = image_ref_local_name(&run->plan.image);
  cleanup_free char *own_user = bw_strdup_printf("%u:%u", getuid(), getgid());
  container_spec spec = {
      .name = run->container_name,
      .image = image,
      .env = (const char *const *)env,
      .labels = (const char *const *)labels,
      .user = c->run_as_root ? NULL : (geteuid() == 0 ? UNPRIVILEGED_USER : own_user),
      .data_dir = run->dir.path,
      .network = run->plan.limits.network,
      .memory_bytes = run->plan.limits.memory_bytes,
      .cpus = run->plan.limits.cpus,
      .pids = run->plan.limits.pids,
      .read_only_rootfs = c->read_only_rootfs,
      .tty = c->tty,
      .storage_bytes = run->plan.limits.disk_bytes,
  };
  const pipeline_hooks *hooks = run->env->hooks;
  if (hooks && hooks->before_create)
    hooks->before_create(hooks->ctx, r->job_id);
  int rc = container_create(run->dc, &spec, &run->container_id, err);
  free_strv(env);
  for (size_t i = 0; labels[i]; i++)
    free(labels[i]);
  if (rc < 0)
    return -1;
  if (job_logs_start(&run->logs, run->dc, run->container_id, c->tty,
                     (size_t)run->env->cfg->log_max_bytes, run->mask, &run->events, err) < 0)
    return -1;
  run->logs_started = true;
  if (container_start(run->dc, run->container_id, err) < 0)
    return -1;
  if (disk_watch_start(&run->disk, run->dc, run->container_id, run->dir.path,
                       run->plan.limits.disk_bytes, run->env->cfg->disk_check_interval_ms, err) < 0)
    return -1;
  json_t *ev = event_new(&run->events, "container.started");
  json_object_set_new(ev, "container_id", json_string(run->container_id));
  json_object_set_new(ev, "container_name", json_string(run->container_name));
  emit(run, ev);
  bw_test_crash_point("started", run->req.job_id);
  return 0;
}

/* Waits out the job's time; on timeout or cancel, stops the container
 * (SIGTERM, SIGKILL after the grace period) and waits for it to go. */
static int wait_for_exit(job_run *run, bw_error_t *err) {
  /* What is left of the job's time after its inputs (at least a second). */
  int64_t deadline = run->deadline_ms;
  long timeout_ms = (long)(deadline - bw_time_monotonic_ms());
  if (timeout_ms < 1000) {
    timeout_ms = 1000;
    deadline = bw_time_monotonic_ms() + timeout_ms;
  }
  run->dc->cancel = run->env->cancel;
  long code = -1;
  int rc = container_wait(run->dc, run->container_id, timeout_ms, &code, err);
  run->dc->cancel = NULL;
  if (rc == 0) {
    run->exit_code = code;
    run->exit_known = true;
    return 0;
  }
  if (rc == 1 || bw_time_monotonic_ms() >= deadline) {
    run->timed_out = true;
  } else if (*err && (*err)->kind == BW_ERR_CANCELLED) {
    run->cancelled = true;
  } else {
    return -1;
  }
  bw_error_release(err);
  bw_log_info(run->env->log, "job %s: %s; stopping container %s", run->req.job_id,
              run->timed_out ? "timed out" : "cancelled", run->container_name);
  bool now = bw_cancel_level(run->env->cancel) >= PIPELINE_CANCEL_NOW;
  if (container_stop(run->dc, run->container_id, now ? 0 : run->env->cfg->stop_grace_s, err) < 0)
    return -1;
  if (container_wait(run->dc, run->container_id, 30000, &code, err) != 0)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "container %s did not stop", run->container_name);
  run->exit_code = code;
  run->exit_known = true;
  return 0;
}

static void on_artifact(void *ctx, const json_t *artifact) {
  job_run *run = ctx;
  json_t *ev = event_new(&run->events, "artifact.uploaded");
  json_object_update(ev, (json_t *)artifact);
  emit(run, ev);
  run->artifacts++;
}

static void on_refused(void *ctx, const char *path, const char *reason) {
  job_run *run = ctx;
  json_t *ev = event_new(&run->events, "artifact.refused");
  json_object_set_new(ev, "path", json_string(path));
  json_object_set_new(ev, "reason", json_string(reason));
  emit(run, ev);
}

static bool refuse_secrets(const job_run *run) {
  return strcmp(run->env->cfg->artifacts_secrets, "refuse") == 0;
}

static int collect_outputs(job_run *run, bw_error_t *err) {
  cleanup_artifact_store artifact_store *store = NULL;
  if (artifact_store_open(run->env->cfg->artifacts_url, &store, err) < 0)
    return -1;
  outputs_opts opts = {.job_id = run->req.job_id,
                       .attempt = (int)run->req.attempt,
                       .max_total_bytes = run->plan.limits.disk_bytes,
                       .on_artifact = on_artifact,
                       .on_refused = on_refused,
                       .ctx = run,
                       .refuse_secrets = refuse_secrets(run) ? run->mask : NULL};
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
  if (refuse_secrets(run) && outputs_state_leaks(run->state_out, run->mask, &where)) {
    cleanup_free char *reason = bw_strdup_printf(
        "%s holds one of the job's secrets outside a '#' key (artifacts.secrets is refuse): the "
        "state is not carried to the next run",
        where);
    on_refused(run, "state.json", reason);
    json_decref(run->state_out);
    run->state_out = NULL;
  }
  return 0;
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

static char *outcome_message(const job_run *run, job_status status) {
  cleanup_free char *tail = run->logs_started ? job_logs_tail(&run->logs) : bw_strdup("");
  char mem[32];
  limits_format_bytes(run->plan.limits.memory_bytes, mem, sizeof(mem));
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

static void emit_finished(job_run *run, job_result *res, json_t *state) {
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

/* Maps an error of a step to the job's status. */
static job_status status_of_error(const bw_error_t err, bool before_container) {
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

/* Measures the data folder (plus layer_bytes of the container's own files)
 * against limits.disk; over it (or not measurable), sets the message. */
static bool over_disk_limit(job_run *run, int64_t layer_bytes) {
  int64_t limit = run->plan.limits.disk_bytes;
  disk_usage u;
  bw_error_t err = NULL;
  if (limit <= 0 || disk_usage_measure(run->dir.path, limit, &u, &err) < 0) {
    bw_error_release(&err);
    return false;
  }
  if (u.unmeasurable == NULL && u.bytes + layer_bytes <= limit)
    return false;
  free(run->disk_message);
  run->disk_message = disk_watch_message(&u, layer_bytes, limit);
  return true;
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
  return inputs_fetch(run->dir.in_dir, run->req.inputs, run->req.input_count, &opts, err);
}

static job_status run_steps(job_run *run, const char *bytes, size_t len, bw_error_t *err) {
  const pipeline_env *env = run->env;
  phase_begin(run);
  if (resolve(run, bytes, len, err) < 0)
    return JOB_REJECTED;
  emit_started(run);
  cleanup_free char *user = NULL;
  cleanup_free char *pass = NULL;
  const component *c = run->plan.component;
  if (component_credentials(c, image_ref_registry_host(&run->plan.image), &user, &pass, err) < 0)
    return JOB_INFRA_ERROR; /* the worker's own configuration is wrong */
  collect_secrets(run, pass);
  if (env->docker) {
    run->dc = env->docker;
  } else if (docker_client_new(&run->dc, env->cfg->docker_socket, env->cfg->docker_timeout_ms,
                               err) < 0 ||
             docker_client_negotiate(run->dc, NULL, err) < 0) {
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
  phase_end(run, "prepare");

  phase_begin(run);
  run->deadline_ms = bw_time_monotonic_ms() + run->plan.limits.timeout_seconds * 1000;
  if (run->req.input_count > 0 && fetch_inputs(run, err) < 0) {
    if ((*err)->kind == BW_ERR_TIMEOUT) {
      bw_error_prefix(err, "timeout");
      return JOB_TIMEOUT;
    }
    return status_of_error(*err, true) == JOB_REJECTED ? JOB_USER_ERROR
                                                       : status_of_error(*err, true);
  }
  phase_end(run, "inputs");
  if (over_disk_limit(run, 0))
    return JOB_DISK_LIMIT;

  phase_begin(run);
  if (ensure_image(run, user, pass, err) < 0)
    return status_of_error(*err, false);
  phase_end(run, "pull");
  if (cancelled(run))
    return JOB_CANCELLED;

  phase_begin(run);
  if (create_and_start(run, err) < 0)
    return status_of_error(*err, false);
  phase_end(run, "start");

  phase_begin(run);
  if (wait_for_exit(run, err) < 0)
    return JOB_INFRA_ERROR;
  job_logs_finish(&run->logs, LOGS_DRAIN_MS);
  container_state st;
  if (container_inspect_state(run->dc, run->container_id, &st, err) < 0)
    return JOB_INFRA_ERROR;
  run->oom_killed = st.oom_killed;
  run->exit_code = st.exit_code;
  run->exit_known = true;
  container_state_free(&st);
  phase_end(run, "run");

  job_status status =
      job_status_classify(run->oom_killed, run->timed_out, run->cancelled, run->exit_code);
  /* Stopped by the disk watch, or over the limit by the end: nothing of it
   * is uploaded. */
  bool stopped_for_disk = disk_watch_stop(&run->disk);
  if (stopped_for_disk || over_disk_limit(run, run->disk.layer_bytes)) {
    if (stopped_for_disk && !run->disk_message)
      run->disk_message =
          disk_watch_message(&run->disk.usage, run->disk.layer_bytes, run->plan.limits.disk_bytes);
    return status == JOB_OOM || status == JOB_TIMEOUT || status == JOB_CANCELLED ? status
                                                                                 : JOB_DISK_LIMIT;
  }
  /* Outputs are taken from every container that ran: a failed job's partial
   * results help whoever debugs it. */
  phase_begin(run);
  if (collect_outputs(run, err) < 0) {
    if (status == JOB_SUCCESS)
      return status_of_error(*err, false);
    bw_log_warn(env->log, "job %s: outputs: %s", run->req.job_id, bw_error_msg(err));
    bw_error_release(err);
  }
  phase_end(run, "outputs");
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

  phase_begin(&run);
  cleanup_run(&run, status);
  phase_end(&run, "cleanup");

  out->status = status;
  out->exit_code = run.exit_known ? run.exit_code : -1; /* whenever a container ran */
  if (err) {
    /* Secrets never reach a message: the error text is masked like a log line. */
    size_t n = 0;
    out->message = masker_apply(run.mask, err->msg, strlen(err->msg), &n);
  } else {
    out->message = outcome_message(&run, status);
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
  emit_finished(&run, out, run.state_out);
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
  json_decref(run.phases);
  job_plan_free(&run.plan);
  job_request_free(&run.req);
  masker_free(run.mask);
  return 0;
}

/* The pipeline's image and container steps (pipeline_run.h). */
#include "pipeline/pipeline_run.h"

#include "core/cleanup.h"
#include "core/test_hooks.h"
#include "core/timeutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The pull: local first (unless the policy is "always"), then under the
 * per-host lock (when the worker has one) look again, then pull. */
int pipeline_ensure_image(job_run *run, const char *user, const char *pass, bw_error_t *err) {
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

  if (c->pull != PULL_ALWAYS && image_pull_inspect(run->dc, local, &inspect, err) < 0)
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
      if (c->pull != PULL_ALWAYS && image_pull_inspect(run->dc, local, &inspect, err) < 0) {
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
      if (image_pull_inspect(run->dc, local, &inspect, err) < 0 || !inspect) {
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
  pipeline_emit(run, ev);
out:
  if (locked)
    hooks->pull_unlock(hooks->ctx, local);
  image_pull_result_free(&res);
  return rc;
}

static char **build_env(const job_run *run) {
  const job_request *r = &run->req;
  size_t cap = 16 + r->env_count;
  char **env = bw_xcalloc(cap + 1, sizeof(char *));
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

int pipeline_create_and_start(job_run *run, bw_error_t *err) {
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
  pipeline_emit(run, ev);
  bw_test_crash_point("started", run->req.job_id);
  return 0;
}

/* Waits out the job's time; on timeout or cancel, stops the container
 * (SIGTERM, SIGKILL after the grace period) and waits for it to go. */
int pipeline_wait_for_exit(job_run *run, bw_error_t *err) {
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

/* Measures the data folder (plus layer_bytes of the container's own files)
 * against limits.disk; over it (or not measurable), sets the message. */
bool pipeline_over_disk_limit(job_run *run, int64_t layer_bytes) {
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

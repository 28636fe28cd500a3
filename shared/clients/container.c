#include "clients/container.h"

#include "core/cleanup.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *string_array(const char *const *items) {
  json_t *arr = json_array();
  for (size_t i = 0; items && items[i]; i++)
    json_array_append_new(arr, json_string(items[i]));
  return arr;
}

static json_t *label_object(const char *const *labels) {
  json_t *obj = json_object();
  for (size_t i = 0; labels && labels[i]; i++) {
    const char *eq = strchr(labels[i], '=');
    if (!eq)
      continue;
    cleanup_free char *key = strndup(labels[i], (size_t)(eq - labels[i]));
    json_object_set_new(obj, key, json_string(eq + 1));
  }
  return obj;
}

/* The create body: limits, no swap, no capabilities, no new privileges, an
 * init process, no network unless allowed, /data bound. The worker reads the
 * output through attach; the engine's own log file is kept small, for
 * `docker logs` while debugging only. */
static json_t *create_body(const container_spec *spec) {
  cleanup_free char *bind = bw_strdup_printf("%s:/data", spec->data_dir);
  json_t *host = json_pack(
      "{s:I, s:I, s:I, s:I, s:s, s:[s], s:[s], s:b, s:b, s:[s], s:{s:s, s:{s:s, s:s}}}", "Memory",
      (json_int_t)spec->memory_bytes, "MemorySwap", (json_int_t)spec->memory_bytes, "NanoCpus",
      (json_int_t)llround(spec->cpus * 1e9), "PidsLimit", (json_int_t)spec->pids, "NetworkMode",
      spec->network, "CapDrop", "ALL", "SecurityOpt", "no-new-privileges", "Init", 1,
      "ReadonlyRootfs", spec->read_only_rootfs, "Binds", bind, "LogConfig", "Type", "json-file",
      "Config", "max-size", "16m", "max-file", "1");
  if (spec->read_only_rootfs)
    json_object_set_new(host, "Tmpfs", json_pack("{s:s}", "/tmp", "rw,noexec,nosuid,size=256m"));
  if (spec->storage_bytes > 0) {
    char size[32];
    snprintf(size, sizeof(size), "%lld", (long long)spec->storage_bytes);
    json_object_set_new(host, "StorageOpt", json_pack("{s:s}", "size", size));
  }
  json_t *body = json_pack("{s:s, s:o, s:o, s:b, s:b, s:b, s:b, s:s, s:o}", "Image", spec->image,
                           "Env", string_array(spec->env), "Labels", label_object(spec->labels),
                           "Tty", spec->tty, "AttachStdout", 1, "AttachStderr", 1, "OpenStdin", 0,
                           "WorkingDir", "/data", "HostConfig", host);
  if (spec->user)
    json_object_set_new(body, "User", json_string(spec->user));
  if (spec->network && strcmp(spec->network, "none") == 0)
    json_object_set_new(body, "NetworkDisabled", json_true());
  return body;
}

/* The engine's answer when the storage driver cannot cap a container's
 * writable layer (overlay2 needs xfs mounted with pquota). */
static bool storage_opt_refused(const docker_response *resp) {
  const char *msg = docker_response_message(resp);
  return (resp->status == 400 || resp->status == 500) &&
         (strstr(msg, "storage-opt") || strstr(msg, "storage opt") || strstr(msg, "StorageOpt"));
}

int container_create(docker_client *dc, const container_spec *spec, char **id_out,
                     bw_error_t *err) {
  container_spec adjusted = *spec;
  if (dc->storage_opt == DOCKER_STORAGE_OPT_NO)
    adjusted.storage_bytes = 0;
  cleanup_json json_t *body = create_body(&adjusted);
  cleanup_free char *esc = docker_escape(dc, spec->name);
  cleanup_free char *path = bw_strdup_printf("/containers/create?name=%s", esc);
  for (int attempt = 0; attempt < 3; attempt++) {
    cleanup_docker_response docker_response resp;
    if (docker_call(dc, "POST", path, body, &resp, err) < 0)
      return bw_error_prefix(err, "create container %s", spec->name);
    if (adjusted.storage_bytes > 0 && storage_opt_refused(&resp)) {
      /* Learned once per client: the size cap is the disk watch's alone. */
      dc->storage_opt = DOCKER_STORAGE_OPT_NO;
      adjusted.storage_bytes = 0;
      json_decref(body);
      body = create_body(&adjusted);
      continue;
    }
    if (resp.status == 201 && adjusted.storage_bytes > 0)
      dc->storage_opt = DOCKER_STORAGE_OPT_YES;
    if (resp.status == 201) {
      const char *id = json_string_value(json_object_get(resp.json, "Id"));
      if (!id)
        return bw_error_set(err, BW_ERR_UNAVAILABLE, "create container %s: no Id in answer",
                            spec->name);
      *id_out = bw_strdup(id);
      return 0;
    }
    if (resp.status == 409 && attempt < 2) {
      /* A leftover of an earlier try of this very job: remove it and go on. */
      if (container_remove(dc, spec->name, err) < 0)
        return bw_error_prefix(err, "create container %s: name taken", spec->name);
      continue;
    }
    bw_error_kind kind = resp.status == 404 ? BW_ERR_USER : BW_ERR_UNAVAILABLE;
    return bw_error_set(err, kind, "create container %s: engine answered %ld: %s", spec->name,
                        resp.status, docker_response_message(&resp));
  }
  return bw_error_set(err, BW_ERR_UNAVAILABLE, "create container %s: name still taken", spec->name);
}

int container_start(docker_client *dc, const char *id, bw_error_t *err) {
  cleanup_free char *path = bw_strdup_printf("/containers/%s/start", id);
  cleanup_docker_response docker_response resp;
  if (docker_call(dc, "POST", path, NULL, &resp, err) < 0)
    return bw_error_prefix(err, "start container");
  if (resp.status == 204 || resp.status == 304)
    return 0;
  /* 400/500 here mostly mean the image's entrypoint cannot run: the job's fault. */
  const char *msg = docker_response_message(&resp);
  bw_error_kind kind = (strstr(msg, "executable file not found") || strstr(msg, "no such file") ||
                        strstr(msg, "permission denied"))
                           ? BW_ERR_USER
                           : BW_ERR_UNAVAILABLE;
  return bw_error_set(err, kind, "start container: engine answered %ld: %s", resp.status, msg);
}

int container_wait(docker_client *dc, const char *id, long timeout_ms, long *exit_code,
                   bw_error_t *err) {
  cleanup_free char *path = bw_strdup_printf("/containers/%s/wait?condition=not-running", id);
  long saved = dc->timeout_ms;
  /* libcurl needs a finite timeout; "no limit" is a day, the cap of any job. */
  dc->timeout_ms = timeout_ms > 0 ? timeout_ms : 24L * 3600 * 1000;
  cleanup_docker_response docker_response resp;
  int rc = docker_call(dc, "POST", path, NULL, &resp, err);
  dc->timeout_ms = saved;
  if (rc < 0) {
    if ((*err)->kind == BW_ERR_TIMEOUT) {
      bw_error_release(err);
      return 1;
    }
    return bw_error_prefix(err, "wait for container");
  }
  if (resp.status != 200)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "wait for container: engine answered %ld: %s",
                        resp.status, docker_response_message(&resp));
  *exit_code = (long)json_integer_value(json_object_get(resp.json, "StatusCode"));
  return 0;
}

int container_stop(docker_client *dc, const char *id, long grace_s, bw_error_t *err) {
  cleanup_free char *path = bw_strdup_printf("/containers/%s/stop?t=%ld", id, grace_s);
  long saved = dc->timeout_ms;
  dc->timeout_ms = saved + grace_s * 1000; /* the call returns after the kill */
  cleanup_docker_response docker_response resp;
  int rc = docker_call(dc, "POST", path, NULL, &resp, err);
  dc->timeout_ms = saved;
  if (rc < 0)
    return bw_error_prefix(err, "stop container");
  if (resp.status == 204 || resp.status == 304 || resp.status == 404)
    return 0;
  return bw_error_set(err, BW_ERR_UNAVAILABLE, "stop container: engine answered %ld: %s",
                      resp.status, docker_response_message(&resp));
}

void container_state_free(container_state *st) {
  if (!st)
    return;
  free(st->error);
  free(st->finished_at);
  st->error = st->finished_at = NULL;
}

int container_inspect_state(docker_client *dc, const char *id, container_state *out,
                            bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_free char *path = bw_strdup_printf("/containers/%s/json", id);
  cleanup_docker_response docker_response resp;
  if (docker_call_ok(dc, "GET", path, NULL, &resp, err) < 0)
    return bw_error_prefix(err, "inspect container");
  json_t *state = json_object_get(resp.json, "State");
  if (!json_is_object(state))
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "inspect container: no State in answer");
  out->running = json_is_true(json_object_get(state, "Running"));
  out->oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
  out->exit_code = (long)json_integer_value(json_object_get(state, "ExitCode"));
  const char *e = json_string_value(json_object_get(state, "Error"));
  if (e && *e)
    out->error = bw_strdup(e);
  const char *f = json_string_value(json_object_get(state, "FinishedAt"));
  if (f)
    out->finished_at = bw_strdup(f);
  return 0;
}

int container_remove(docker_client *dc, const char *id, bw_error_t *err) {
  cleanup_free char *esc = docker_escape(dc, id);
  cleanup_free char *path = bw_strdup_printf("/containers/%s?force=1&v=1", esc);
  cleanup_docker_response docker_response resp;
  if (docker_call(dc, "DELETE", path, NULL, &resp, err) < 0)
    return bw_error_prefix(err, "remove container %s", id);
  if (resp.status == 204 || resp.status == 404)
    return 0;
  /* 409 "removal already in progress" means someone else is on it. */
  if (resp.status == 409 && strstr(docker_response_message(&resp), "already in progress"))
    return 0;
  return bw_error_set(err, BW_ERR_UNAVAILABLE, "remove container %s: engine answered %ld: %s", id,
                      resp.status, docker_response_message(&resp));
}

int container_list_by_label(docker_client *dc, const char *label_filter, json_t **out,
                            bw_error_t *err) {
  cleanup_json json_t *filters = json_pack("{s:[s]}", "label", label_filter);
  cleanup_free char *filters_text = json_dumps(filters, JSON_COMPACT);
  cleanup_free char *esc = docker_escape(dc, filters_text);
  cleanup_free char *path = bw_strdup_printf("/containers/json?all=1&filters=%s", esc);
  cleanup_docker_response docker_response resp;
  if (docker_call_ok(dc, "GET", path, NULL, &resp, err) < 0)
    return bw_error_prefix(err, "list containers");
  if (!json_is_array(resp.json))
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "list containers: answer is not a list");
  *out = json_incref(resp.json);
  return 0;
}

int container_kill(docker_client *dc, const char *id, bw_error_t *err) {
  cleanup_free char *path = bw_strdup_printf("/containers/%s/kill?signal=KILL", id);
  cleanup_docker_response docker_response resp;
  if (docker_call(dc, "POST", path, NULL, &resp, err) < 0)
    return bw_error_prefix(err, "kill container");
  /* 409: not running (any more); 404: gone. Either way it runs no longer. */
  if (resp.status == 204 || resp.status == 409 || resp.status == 404)
    return 0;
  return bw_error_set(err, BW_ERR_UNAVAILABLE, "kill container: engine answered %ld: %s",
                      resp.status, docker_response_message(&resp));
}

int container_size_rw(docker_client *dc, const char *id, int64_t *bytes, bw_error_t *err) {
  cleanup_free char *path = bw_strdup_printf("/containers/%s/json?size=1", id);
  cleanup_docker_response docker_response resp;
  if (docker_call_ok(dc, "GET", path, NULL, &resp, err) < 0)
    return bw_error_prefix(err, "container size");
  json_t *size = json_object_get(resp.json, "SizeRw");
  *bytes = json_is_integer(size) ? (int64_t)json_integer_value(size) : 0;
  return 0;
}

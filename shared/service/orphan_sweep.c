#include "service/orphan_sweep.h"

#include "core/cleanup.h"
#include "clients/container.h"
#include "pipeline/data_dir.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool same(const char *a, const char *b) {
  return a && b && strcmp(a, b) == 0;
}

static bool listed(const char *const *list, size_t n, const char *token) {
  for (size_t i = 0; token && i < n; i++)
    if (same(list[i], token))
      return true;
  return false;
}

orphan_verdict orphan_decide(const orphan_view *v, const orphan_item *it, const char *lease_value,
                             const char **why) {
  if (!same(it->fleet, v->fleet) || !same(it->host, v->host) || !it->job_id) {
    *why = "not this fleet's or this host's";
    return ORPHAN_KEEP;
  }
  if (it->token && v->runs_here && v->runs_here(v->runs_here_ctx, it->token)) {
    *why = "runs in one of this worker's slots";
    return ORPHAN_KEEP;
  }
  if (same(it->worker, v->worker)) {
    *why = "left by this worker's previous process";
    return ORPHAN_REMOVE_AND_ABANDON;
  }
  if (!v->redis_known) {
    *why = "another worker's, and Redis cannot tell whether it is alive";
    return ORPHAN_KEEP;
  }
  if (it->token ? same(lease_value, it->token) : lease_value != NULL) {
    *why = "its lease is alive";
    return ORPHAN_KEEP;
  }
  if (listed(v->live_tokens, v->live_count, it->token)) {
    *why = "a live worker runs it";
    return ORPHAN_KEEP;
  }
  *why =
      lease_value ? "its job's lease belongs to another run" : "no live lease or worker holds it";
  return ORPHAN_REMOVE;
}

/* ---- the sweep -------------------------------------------------------------------------- */

/* The tokens the live heartbeats list ("runs": [{"token": ...}]). */
static size_t live_tokens_of(const json_t *workers, const char ***out) {
  size_t n = 0, i, k;
  const json_t *w, *r;
  json_array_foreach(workers, i, w) n += json_array_size(json_object_get(w, "runs"));
  const char **tokens = bw_xcalloc(n + 1, sizeof(*tokens));
  n = 0;
  json_array_foreach(workers, i, w){json_array_foreach(json_object_get(w, "runs"), k, r){
      const char *t = json_string_value(json_object_get(r, "token"));
  if (t)
    tokens[n++] = t;
}
}
*out = tokens;
return n;
}

static const char *label(const json_t *c, const char *key) {
  return json_string_value(json_object_get(json_object_get(c, "Labels"), key));
}

static orphan_item item_of_container(const json_t *c) {
  return (orphan_item){.fleet = label(c, CONTAINER_LABEL_FLEET),
                       .host = label(c, CONTAINER_LABEL_HOST),
                       .worker = label(c, CONTAINER_LABEL_WORKER),
                       .job_id = label(c, CONTAINER_LABEL_JOB),
                       .token = label(c, CONTAINER_LABEL_LEASE)};
}

static orphan_item item_of_owner(const json_t *o) {
  return (orphan_item){.fleet = json_string_value(json_object_get(o, "fleet")),
                       .host = json_string_value(json_object_get(o, "host")),
                       .worker = json_string_value(json_object_get(o, "worker")),
                       .job_id = json_string_value(json_object_get(o, "job_id")),
                       .token = json_string_value(json_object_get(o, "lease"))};
}

static void abandon(orphan_sweep_env *env, const orphan_item *it) {
  cleanup_error bw_error_t err = NULL;
  if (env->store && it->token && job_store_abandon(env->store, it->job_id, it->token, &err) < 0)
    bw_log_debug(env->log, "orphan sweep: giving up the lease of %s: %s", it->job_id,
                 bw_error_msg(&err));
}

/* The lease of each item's job, read in one round trip; NULL when Redis is out. */
static char **leases_of(orphan_sweep_env *env, const orphan_item *items, size_t n) {
  if (!env->view.redis_known || n == 0)
    return NULL;
  cleanup_free const char **ids = bw_xcalloc(n, sizeof(*ids));
  char **values = bw_xcalloc(n, sizeof(*values));
  for (size_t i = 0; i < n; i++)
    ids[i] = items[i].job_id ? items[i].job_id : "";
  cleanup_error bw_error_t err = NULL;
  if (job_store_leases(env->store, ids, n, values, &err) < 0) {
    free(values);
    env->view.redis_known = false;
    return NULL;
  }
  return values;
}

static void free_values(char **values, size_t n) {
  for (size_t i = 0; values && i < n; i++)
    free(values[i]);
  free(values);
}

static size_t sweep_containers(orphan_sweep_env *env) {
  cleanup_free char *filter = bw_strdup_printf(CONTAINER_LABEL_HOST "=%s", env->view.host);
  cleanup_json json_t *list = NULL;
  cleanup_error bw_error_t err = NULL;
  if (container_list_by_label(env->docker, filter, &list, &err) < 0) {
    bw_log_warn(env->log, "orphan sweep: %s", bw_error_msg(&err));
    return 0;
  }
  size_t n = json_array_size(list), removed = 0;
  if (n == 0)
    return 0;
  cleanup_free orphan_item *items = bw_xcalloc(n, sizeof(*items));
  for (size_t i = 0; i < n; i++)
    items[i] = item_of_container(json_array_get(list, i));
  char **leases = leases_of(env, items, n);
  for (size_t i = 0; i < n; i++) {
    const char *why;
    orphan_verdict v = orphan_decide(&env->view, &items[i], leases ? leases[i] : NULL, &why);
    if (v == ORPHAN_KEEP)
      continue;
    const char *id = json_string_value(json_object_get(json_array_get(list, i), "Id"));
    if (!id)
      continue;
    bw_log_fields(env->log, BW_LOG_WARN, "removing an orphaned container", "job_id",
                  items[i].job_id, "container", id, "why", why, NULL);
    container_kill(env->docker, id, &err);
    bw_error_release(&err);
    if (container_remove(env->docker, id, &err) < 0)
      bw_log_warn(env->log, "orphan %s: %s", id, bw_error_msg(&err));
    else
      removed++;
    bw_error_release(&err);
    if (v == ORPHAN_REMOVE_AND_ABANDON)
      abandon(env, &items[i]);
  }
  free_values(leases, n);
  return removed;
}

typedef struct folder {
  char *path;
  char *owner_path;
  json_t *owner;
} folder;

typedef struct folder_list {
  folder *items;
  size_t n, cap;
} folder_list;

static void collect_folder(void *ctx, const char *path, const char *owner_path,
                           const json_t *owner) {
  folder_list *l = ctx;
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->items = bw_xrealloc(l->items, l->cap * sizeof(*l->items));
  }
  l->items[l->n++] = (folder){bw_strdup(path), bw_strdup(owner_path), json_incref((json_t *)owner)};
}

static size_t sweep_folders(orphan_sweep_env *env) {
  folder_list l = {0};
  cleanup_error bw_error_t err = NULL;
  if (data_dir_each_owned(env->data_root, collect_folder, &l, &err) < 0)
    bw_log_warn(env->log, "orphan sweep: %s", bw_error_msg(&err));
  cleanup_free orphan_item *items = bw_xcalloc(l.n + 1, sizeof(*items));
  for (size_t i = 0; i < l.n; i++)
    items[i] = item_of_owner(l.items[i].owner);
  char **leases = leases_of(env, items, l.n);
  size_t removed = 0;
  for (size_t i = 0; i < l.n; i++) {
    const char *why;
    orphan_verdict v = orphan_decide(&env->view, &items[i], leases ? leases[i] : NULL, &why);
    if (v != ORPHAN_KEEP) {
      bw_log_fields(env->log, BW_LOG_WARN, "removing an orphaned data folder", "job_id",
                    items[i].job_id ? items[i].job_id : "", "folder", l.items[i].path, "why", why,
                    NULL);
      if (data_dir_remove_tree(l.items[i].path, &err) < 0) {
        bw_log_warn(env->log, "orphan folder %s: %s", l.items[i].path, bw_error_msg(&err));
        bw_error_release(&err);
      } else {
        unlink(l.items[i].owner_path);
        removed++;
      }
      if (v == ORPHAN_REMOVE_AND_ABANDON)
        abandon(env, &items[i]);
    }
  }
  free_values(leases, l.n);
  for (size_t i = 0; i < l.n; i++) {
    free(l.items[i].path);
    free(l.items[i].owner_path);
    json_decref(l.items[i].owner);
  }
  free(l.items);
  return removed;
}

void orphan_sweep(orphan_sweep_env *env, orphan_sweep_counts *removed) {
  orphan_sweep_counts counts = {0};
  cleanup_json json_t *workers = NULL;
  cleanup_error bw_error_t err = NULL;
  cleanup_free const char **live = NULL;
  env->view.redis_known = env->store && job_store_workers(env->store, &workers, &err) == 0;
  env->view.live_count = env->view.redis_known ? live_tokens_of(workers, &live) : 0;
  env->view.live_tokens = live;
  if (env->docker)
    counts.containers = sweep_containers(env);
  if (env->data_root && *env->data_root)
    counts.folders = sweep_folders(env);
  env->view.live_tokens = NULL;
  env->view.live_count = 0;
  if (removed)
    *removed = counts;
}

void orphan_sweep_job(docker_client *dc, const bw_logger *log, const char *fleet, const char *host,
                      const char *job_id, const char *token) {
  cleanup_free char *filter = bw_strdup_printf(CONTAINER_LABEL_JOB "=%s", job_id);
  cleanup_json json_t *list = NULL;
  cleanup_error bw_error_t err = NULL;
  if (container_list_by_label(dc, filter, &list, &err) < 0) {
    bw_log_warn(log, "job %s: looking for its other containers: %s", job_id, bw_error_msg(&err));
    return;
  }
  size_t i;
  json_t *c;
  json_array_foreach(list, i, c) {
    orphan_item it = item_of_container(c);
    const char *id = json_string_value(json_object_get(c, "Id"));
    if (!id || !same(it.fleet, fleet) || !same(it.host, host) || same(it.token, token))
      continue;
    bw_log_fields(log, BW_LOG_WARN,
                  "removing an earlier run's container of the job before starting this one",
                  "job_id", job_id, "container", id, NULL);
    container_kill(dc, id, &err);
    bw_error_release(&err);
    if (container_remove(dc, id, &err) < 0)
      bw_log_warn(log, "container %s: %s", id, bw_error_msg(&err));
    bw_error_release(&err);
  }
}

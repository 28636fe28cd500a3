/* The heartbeat thread (service_state.h). */
#include "service/service_state.h"

#include "core/cleanup.h"
#include "core/timeutil.h"
#include "core/version.h"
#include "service/orphan_sweep.h"

#include <stdlib.h>
#include <string.h>

/* orphan_view.runs_here: does a slot of ours run under this token now? */
static bool runs_here(void *ctx, const char *token) {
  worker_service *svc = ctx;
  bool found = false;
  pthread_mutex_lock(&svc->lock);
  for (int i = 0; i < svc->slot_count && !found; i++)
    found = atomic_load(&svc->slots[i].state) != SLOT_FREE && svc->slots[i].job_id &&
            strcmp(svc->slots[i].token, token) == 0;
  pthread_mutex_unlock(&svc->lock);
  return found;
}

/* This host's containers and data folders whose run is over (orphan_sweep.h). */
static void sweep_orphans(worker_service *svc, docker_client *dc) {
  orphan_sweep_env env = {.docker = dc,
                          .store = svc->store,
                          .log = svc->log,
                          .data_root = svc->cfg->data_root,
                          .view = {.fleet = service_fleet(svc),
                                   .host = svc->opts->host,
                                   .worker = svc->cfg->worker_id,
                                   .runs_here = runs_here,
                                   .runs_here_ctx = svc}};
  orphan_sweep_counts removed;
  orphan_sweep(&env, &removed);
  if (removed.containers || removed.folders)
    bw_log_fields(svc->log, BW_LOG_INFO, "orphan sweep done", "containers",
                  removed.containers ? "some" : "none", "folders",
                  removed.folders ? "some" : "none", NULL);
}

/* Before taking work: what this worker's previous process left (containers,
 * folders, and the leases it held, listed by its last heartbeat if that is
 * still alive) is cleared, so that its jobs can be claimed again at once. */
void heartbeat_sweep_at_start(worker_service *svc) {
  cleanup_error bw_error_t err = NULL;
  cleanup_docker_client docker_client *dc = NULL;
  if (docker_client_open(&dc, svc->cfg->docker_socket, svc->cfg->docker_timeout_ms, &err) < 0) {
    bw_log_warn(svc->log, "the sweep at start found no Engine: %s", bw_error_msg(&err));
    bw_error_release(&err);
  }
  cleanup_json json_t *previous = NULL;
  if (job_store_worker_info(svc->store, svc->cfg->worker_id, &previous, &err) == 0 && previous) {
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(previous, "runs"), i, r) {
      const char *job = json_string_value(json_object_get(r, "job"));
      const char *token = json_string_value(json_object_get(r, "token"));
      if (job && token && job_store_abandon(svc->store, job, token, &err) == 0)
        bw_log_fields(svc->log, BW_LOG_INFO,
                      "gave up the lease of a job this worker's previous process ran", "job_id",
                      job, NULL);
      bw_error_release(&err);
    }
  }
  bw_error_release(&err);
  sweep_orphans(svc, dc);
}

static void heartbeat_once(worker_service *svc, docker_client *dc, long beat) {
  long ttl = svc->cfg->worker_heartbeat_interval_ms * LEASE_TTL_FACTOR;
  cleanup_error bw_error_t err = NULL;
  /* A snapshot of the running jobs. */
  int n = svc->slot_count;
  char **ids = bw_xcalloc((size_t)n + 1, sizeof(char *));
  char(*tokens)[33] = bw_xcalloc((size_t)n + 1, sizeof(*tokens));
  job_slot **slots = bw_xcalloc((size_t)n + 1, sizeof(job_slot *));
  bool *flags = bw_xcalloc((size_t)n + 1, sizeof(bool));

  int running = 0;
  json_t *running_ids = json_array();
  json_t *runs = json_array(); /* with their tokens: the orphan sweep keeps what is listed */
  pthread_mutex_lock(&svc->lock);
  for (int i = 0; i < n; i++) {
    job_slot *slot = &svc->slots[i];
    /* A job whose job.finished is out has released (or is releasing) its
     * lease: extending it would report it lost. */
    if (atomic_load(&slot->state) != SLOT_RUNNING || !slot->job_id ||
        atomic_load(&slot->finish_sent))
      continue;
    ids[running] = bw_strdup(slot->job_id);
    memcpy(tokens[running], slot->token, sizeof(slot->token));
    slots[running] = slot;
    json_array_append_new(running_ids, json_string(slot->job_id));
    json_array_append_new(runs, json_pack("{s:s, s:I, s:s}", "job", slot->job_id, "attempt",
                                          (json_int_t)slot->attempt, "token", slot->token));
    running++;
  }
  pthread_mutex_unlock(&svc->lock);

  char started[BW_RFC3339_LEN];
  bw_time_rfc3339_from_ms(svc->started_epoch_ms, started);
  cleanup_json json_t *info =
      json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:o, s:s, s:I}", "worker", svc->cfg->worker_id,
                "host", svc->opts->host, "version", BW_VERSION, "slots", svc->slot_count, "busy",
                running, "jobs", running_ids, "runs", runs, "started", started, "jobs_started",
                (json_int_t)atomic_load(&svc->jobs_started));
  if (job_store_heartbeat(svc->store, svc->cfg->worker_id, info, ttl, &err) < 0) {
    bw_log_warn(svc->log, "heartbeat: %s", bw_error_msg(&err));
    bw_error_release(&err);
  } else {
    worker_metrics_redis_reached(svc->opts->metrics, true);
  }
  for (int i = 0; i < running; i++) {
    bool ours = true;
    if (job_store_extend(svc->store, ids[i], tokens[i], ttl, &ours, &err) < 0) {
      bw_error_release(&err);
      continue; /* Redis down: try again next beat */
    }
    pthread_mutex_lock(&svc->lock);
    bool same_job = slots[i]->job_id && strcmp(slots[i]->job_id, ids[i]) == 0;
    if (!ours && same_job && !atomic_exchange(&slots[i]->lease_lost, true))
      bw_log_fields(svc->log, BW_LOG_WARN, "lost the lease of a running job", "job_id", ids[i],
                    NULL);
    pthread_mutex_unlock(&svc->lock);
  }
  if (running > 0 && job_store_cancel_requested(svc->store, (const char *const *)ids,
                                                (size_t)running, flags, &err) == 0) {
    for (int i = 0; i < running; i++) {
      /* The snapshot may be stale: the slot may run another job by now. */
      pthread_mutex_lock(&svc->lock);
      bool same_job = slots[i]->job_id && strcmp(slots[i]->job_id, ids[i]) == 0;
      if (flags[i] && same_job && !bw_cancel_level(&slots[i]->cancel)) {
        bw_log_fields(svc->log, BW_LOG_INFO, "cancel requested", "job_id", ids[i], NULL);
        bw_cancel_raise(&slots[i]->cancel, PIPELINE_CANCEL_STOP);
      }
      pthread_mutex_unlock(&svc->lock);
    }
  }
  bw_error_release(&err);
  deliveries_confirm(svc);
  pull_locks_refresh(svc->locks);
  if (dc && beat % ORPHAN_SWEEP_EVERY == 0)
    sweep_orphans(svc, dc);
  for (int i = 0; i < running; i++)
    free(ids[i]);
  free(ids);
  free(tokens);
  free(slots);
  free(flags);
}

/* Readiness: does the Engine answer? A client lost at start is made again. */
static void probe_docker(worker_service *svc, docker_client **dc) {
  cleanup_error bw_error_t err = NULL;
  cleanup_docker_response docker_response resp = {0};
  if (!*dc)
    docker_client_open(dc, svc->cfg->docker_socket, svc->cfg->docker_timeout_ms, &err);
  bool ok = *dc && docker_call_ok(*dc, "GET", "/_ping", NULL, &resp, &err) == 0;
  worker_metrics_docker_reached(svc->opts->metrics, ok);
}

void *heartbeat_main(void *arg) {
  worker_service *svc = arg;
  cleanup_error bw_error_t err = NULL;
  cleanup_docker_client docker_client *dc = NULL;
  if (docker_client_open(&dc, svc->cfg->docker_socket, svc->cfg->docker_timeout_ms, &err) < 0)
    bw_log_warn(svc->log, "orphan sweeps are off until the Engine answers: %s", bw_error_msg(&err));
  for (long beat = 0; !bw_cancel_level(&svc->heartbeat_stop); beat++) {
    heartbeat_once(svc, dc, beat);
    probe_docker(svc, &dc);
    bw_time_sleep_ms(svc->cfg->worker_heartbeat_interval_ms, &svc->heartbeat_stop);
  }
  return NULL;
}

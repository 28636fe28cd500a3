/* Job slots: a thread each, running the pipeline of one job at a time
 * (service_state.h). */
#include "service/service_state.h"

#include "core/cleanup.h"
#include "core/test_hooks.h"
#include "core/thread.h"
#include "core/timeutil.h"
#include "service/orphan_sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The outbox: job.finished goes into the job's final record (with retries
 * through a short Redis outage) before it is sent, so that a worker that dies
 * before the broker has it leaves it to whoever meets the record next. The
 * record is also what keeps a redelivery from running the job again.
 * Returns true when the record holds the event. */
static bool record_outcome(job_slot *slot, const char *json, size_t len) {
  worker_service *svc = slot->svc;
  cleanup_json json_t *ev = json_loadb(json, len, 0, NULL);
  const char *status = json_string_value(json_object_get(ev, "status"));
  cleanup_json json_t *result =
      json_pack("{s:s, s:O, s:s}", "status", status ? status : "infra_error", "exit_code",
                json_object_get(ev, "exit_code") ? json_object_get(ev, "exit_code") : json_null(),
                "message", json_string_value(json_object_get(ev, "message")) ?: "");
  cleanup_free char *text = json_dumps(result, JSON_COMPACT);
  cleanup_free char *event = bw_strdup_bytes(json, len);
  cleanup_error bw_error_t err = NULL;
  bool was_ours = false, written = false;
  for (int attempt = 0; attempt < FINISH_RECORD_TRIES; attempt++) {
    bw_error_release(&err);
    if (job_store_finish(svc->store, slot->job_id, slot->token, status ? status : "infra_error",
                         text, event, &was_ours, &written, &err) == 0)
      break;
    bw_time_sleep_ms(1000, NULL);
  }
  if (err)
    bw_log_warn(svc->log,
                "job %s: recording its end in Redis: %s; its job.finished is sent "
                "without the outbox",
                slot->job_id, bw_error_msg(&err));
  slot->recorded = err == NULL;
  return written;
}

/* job.finished carries the request's offset with it: the offset is marked
 * done when the broker acknowledges the event, whenever that is, so the slot
 * is free for the next job at once instead of waiting for the round trip.
 * job.interrupted carries nothing: that request must run again. */
static int slot_emit(void *ctx, const char *type, const char *job_id, const char *json,
                     size_t len) {
  job_slot *slot = ctx;
  bool finished = strcmp(type, "job.finished") == 0;
  bool final = finished || strcmp(type, "job.interrupted") == 0;
  offset_ack *ack = NULL;
  if (finished) {
    deliveries_ack_later(slot->svc, slot->msg, &ack);
    if (record_outcome(slot, json, len))
      deliveries_confirm_later(ack, job_id, json, len);
  }
  cleanup_error bw_error_t err = NULL;
  if (deliveries_publish(slot->svc, type, job_id, json, len, ack, &err) < 0) {
    bw_log_error(slot->svc->log, "job %s: %s", job_id ? job_id : "?", bw_error_msg(&err));
    deliveries_ack_free(ack);
    return -1;
  }
  if (final)
    atomic_store(&slot->finish_sent, true);
  if (finished)
    bw_test_crash_point("finished", job_id);
  return 0;
}

static int slot_pull_lock(void *ctx, const char *image, bw_error_t *err) {
  job_slot *slot = ctx;
  long wait_ms = slot->svc->cfg->pull_timeout_s * 1000;
  return pull_locks_acquire(slot->svc->locks, image, wait_ms, &slot->cancel, err);
}

static void slot_pull_unlock(void *ctx, const char *image) {
  job_slot *slot = ctx;
  pull_locks_release(slot->svc->locks, image);
}

/* The fencing check, and the shutdown case: an interrupted job's last event is
 * job.interrupted, not job.finished, for it will run again elsewhere. */
static void slot_before_finish(void *ctx, const char *job_id, json_t *ev) {
  job_slot *slot = ctx;
  if (atomic_load(&slot->interrupted)) {
    json_object_set_new(ev, "type", json_string("job.interrupted"));
    json_object_set_new(ev, "message",
                        json_string("interrupted: the worker shut down; the request stays "
                                    "uncommitted and will run again"));
    return;
  }
  bool ours = true;
  cleanup_error bw_error_t err = NULL;
  if (job_store_lease_is_ours(slot->svc->store, job_id, slot->token, &ours, &err) < 0) {
    json_object_set_new(ev, "fencing", json_string("unchecked: Redis unreachable"));
  } else if (!ours || atomic_load(&slot->lease_lost)) {
    json_object_set_new(ev, "lease_lost", json_true());
    json_object_set_new(ev, "fencing",
                        json_string("this worker's lease expired before the job ended: another "
                                    "worker may have run it too"));
  }
}

/* No other container of the job may run on this host while this one does:
 * an earlier attempt whose worker died goes first. */
static void slot_before_create(void *ctx, const char *job_id) {
  job_slot *slot = ctx;
  worker_service *svc = slot->svc;
  cleanup_error bw_error_t err = NULL;
  docker_client *dc = slot->docker;
  cleanup_docker_client docker_client *own = NULL;
  if (!dc) {
    if (docker_client_open(&own, svc->cfg->docker_socket, svc->cfg->docker_timeout_ms, &err) < 0)
      return; /* the create will fail and say why */
    dc = own;
  }
  orphan_sweep_job(dc, svc->log, service_fleet(svc), svc->opts->host, job_id, slot->token);
}

static void *slot_main(void *arg) {
  job_slot *slot = arg;
  worker_service *svc = slot->svc;
  bw_test_crash_point("claimed", slot->job_id);
  if (!slot->docker) {
    /* Once per slot; if the engine is down now, the pipeline makes its own
     * client per job (and reports the failure) until this succeeds. */
    cleanup_error bw_error_t derr = NULL;
    docker_client_open(&slot->docker, svc->cfg->docker_socket, svc->cfg->docker_timeout_ms, &derr);
  }
  pipeline_env env = {
      .docker = slot->docker,
      .cfg = svc->cfg,
      .components = svc->opts->components,
      .log = svc->log,
      .sink = &slot->sink,
      .cancel = &slot->cancel,
      .host = svc->opts->host,
      .hooks = &slot->hooks,
      .attempt_override = slot->attempt,
      .fleet = service_fleet(svc),
      .lease_token = slot->token,
      .request_topic = rd_kafka_topic_name(slot->msg->rkt),
      .request_partition = slot->msg->partition,
      .request_offset = slot->msg->offset,
  };
  pipeline_run(&env, slot->msg->payload, slot->msg->len, &slot->result);
  cleanup_error bw_error_t err = NULL;
  if (atomic_load(&slot->interrupted)) {
    job_store_release(svc->store, slot->job_id, slot->token, &err);
  } else if (!slot->recorded) {
    /* job.finished could not be recorded with it (or was not emitted): the
     * status alone still keeps a redelivery from running the job again. */
    cleanup_json json_t *result =
        json_pack("{s:s, s:I, s:s}", "status", job_status_name(slot->result.status), "exit_code",
                  (json_int_t)slot->result.exit_code, "message",
                  slot->result.message ? slot->result.message : "");
    cleanup_free char *text = json_dumps(result, JSON_COMPACT);
    bool was_ours = false, written = false;
    job_store_finish(svc->store, slot->job_id, slot->token, job_status_name(slot->result.status),
                     text, NULL, &was_ours, &written, &err);
  }
  if (err)
    bw_log_warn(svc->log, "job %s: recording its end in Redis: %s", slot->job_id,
                bw_error_msg(&err));
  atomic_store(&slot->state, SLOT_EXITED);
  return NULL;
}

int slots_free_count(const worker_service *svc) {
  int n = 0;
  for (int i = 0; i < svc->slot_count; i++)
    n += atomic_load(&svc->slots[i].state) == SLOT_FREE;
  return n;
}

job_slot *slots_take_free(worker_service *svc) {
  for (int i = 0; i < svc->slot_count; i++)
    if (atomic_load(&svc->slots[i].state) == SLOT_FREE)
      return &svc->slots[i];
  return NULL;
}

void slots_start(worker_service *svc, job_slot *slot, rd_kafka_message_t *m, const char *job_id,
                 long attempt, const char *token) {
  pthread_mutex_lock(&svc->lock);
  slot->msg = m;
  slot->job_id = bw_strdup(job_id);
  slot->attempt = attempt;
  snprintf(slot->token, sizeof(slot->token), "%s", token ? token : "");
  pthread_mutex_unlock(&svc->lock);
  bw_cancel_reset(&slot->cancel); /* no other thread has the slot yet */
  atomic_store(&slot->interrupted, false);
  atomic_store(&slot->lease_lost, false);
  atomic_store(&slot->finish_sent, false);
  slot->recorded = false;
  slot->revoked = false;
  memset(&slot->result, 0, sizeof(slot->result));
  atomic_store(&slot->state, SLOT_RUNNING);
  if (bw_thread_start(&slot->thread, slot_main, slot) != 0)
    abort(); /* out of threads: nothing sensible is left to do */
  atomic_fetch_add(&svc->jobs_started, 1);
  worker_metrics_job_started(svc->opts->metrics);
  bw_log_fields(svc->log, BW_LOG_INFO, "job started", "job_id", job_id, NULL);
}

/* Joins finished slots and frees them. Their offsets are marked done by the
 * delivery of job.finished (slot_emit), not here. */
void slots_reap(worker_service *svc) {
  for (int i = 0; i < svc->slot_count; i++) {
    job_slot *slot = &svc->slots[i];
    if (atomic_load(&slot->state) != SLOT_EXITED)
      continue;
    pthread_join(slot->thread, NULL);
    rd_kafka_message_t *m = slot->msg;
    bool sent = atomic_load(&slot->finish_sent);
    if (!sent || slot->revoked || atomic_load(&slot->interrupted))
      bw_log_fields(svc->log, BW_LOG_INFO, "job ended; its offset stays uncommitted", "job_id",
                    slot->job_id, "why",
                    slot->revoked                     ? "partition revoked"
                    : atomic_load(&slot->interrupted) ? "interrupted"
                                                      : "job.finished not sent",
                    NULL);
    rd_kafka_message_destroy(m);
    worker_metrics_job_finished(svc->opts->metrics, &slot->result, atomic_load(&slot->interrupted));
    job_result_free(&slot->result);
    pthread_mutex_lock(&svc->lock);
    free(slot->job_id);
    slot->job_id = NULL;
    slot->msg = NULL;
    pthread_mutex_unlock(&svc->lock);
    atomic_store(&slot->state, SLOT_FREE);
  }
}

int slots_running(const worker_service *svc) {
  return svc->slot_count - slots_free_count(svc);
}

/* level: PIPELINE_CANCEL_STOP (containers get jobs.stop.grace.seconds) or
 * PIPELINE_CANCEL_NOW (the second signal: SIGKILL at once). */
void slots_interrupt_all(worker_service *svc, int level) {
  for (int i = 0; i < svc->slot_count; i++) {
    job_slot *slot = &svc->slots[i];
    if (atomic_load(&slot->state) == SLOT_RUNNING && bw_cancel_level(&slot->cancel) < level) {
      atomic_store(&slot->interrupted, true);
      bw_cancel_raise(&slot->cancel, level);
    }
  }
}

void slots_init(worker_service *svc) {
  for (int i = 0; i < svc->slot_count; i++) {
    job_slot *slot = &svc->slots[i];
    slot->svc = svc;
    slot->index = i;
    slot->sink = (event_sink){.emit = slot_emit, .ctx = slot};
    slot->hooks = (pipeline_hooks){.pull_lock = slot_pull_lock,
                                   .pull_unlock = slot_pull_unlock,
                                   .before_finish = slot_before_finish,
                                   .before_create = slot_before_create,
                                   .ctx = slot};
  }
}

void slots_free(worker_service *svc) {
  for (int i = 0; i < svc->slot_count; i++)
    docker_client_free(svc->slots[i].docker);
  free(svc->slots);
}

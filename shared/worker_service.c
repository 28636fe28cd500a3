#include "worker_service.h"

#include "cleanup.h"
#include "container.h"
#include "digest.h"
#include "docker_client.h"
#include "job_request.h"
#include "job_store.h"
#include "kafka_client.h"
#include "kafka_publisher.h"
#include "masker.h"
#include "offset_tracker.h"
#include "orphan_sweep.h"
#include "pipeline.h"
#include "pull_locks.h"
#include "random_id.h"
#include "test_hooks.h"
#include "thread.h"
#include "timeutil.h"
#include "version.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define LEASE_TTL_FACTOR 3    /* a lease lives three heartbeats */
#define ORPHAN_SWEEP_EVERY 10 /* heartbeats */
#define MAX_PARKED 4096
#define RECOMMIT_MS 5000
#define FINISH_RECORD_TRIES 15

enum slot_state { SLOT_FREE = 0, SLOT_RUNNING, SLOT_EXITED };

typedef struct worker_service worker_service;

/* A delivery we wait for before an offset may be committed: a job's
 * job.finished, a DLQ record or a job.duplicate event. */
typedef struct offset_ack {
  char *topic;
  int32_t partition;
  int64_t offset;
  int pending; /* deliveries still to come (main thread only) */
  bool failed; /* one of them failed: the offset stays uncommitted */
  /* A job.finished the outbox holds: once delivered, the heartbeat thread
   * confirms it in the record (NULL: nothing to confirm). */
  char *confirm_job_id;
  char *confirm_event_id;
  /* A dead letter: the request (kept until its copy is delivered or given
   * up), the reason, and how many forms of the copy were refused so far. */
  rd_kafka_message_t *dlq_original;
  char *dlq_reason;
  int dlq_stage;
  struct offset_ack *next_retry; /* main thread: queued to try the next form */
} offset_ack;

/* What one produce waits for: an event, or the copy of a dead letter (whose
 * failure moves on to the next form rather than holding the offset). */
typedef enum delivery_kind { DELIVERY_EVENT, DELIVERY_DEAD_LETTER } delivery_kind;
typedef struct delivery {
  offset_ack *ack;
  delivery_kind kind;
} delivery;

/* Deliveries of outbox events, to be confirmed in Redis by the heartbeat
 * thread (the main thread, which learns of them, must not wait on Redis). */
typedef struct confirmation {
  char *job_id;
  char *event_id;
  struct confirmation *next;
} confirmation;

typedef struct job_slot {
  worker_service *svc;
  int index;
  pthread_t thread;
  atomic_int state;
  rd_kafka_message_t *msg;
  char *job_id; /* guarded by svc->lock (the heartbeat reads it) */
  long attempt;
  char token[33];
  bw_cancel cancel;        /* PIPELINE_CANCEL_*: raised by the heartbeat and the main loop */
  atomic_bool interrupted; /* shutdown: do not commit, record "interrupted" */
  atomic_bool lease_lost;
  bool revoked; /* main thread: its partition went to another worker */
  atomic_bool finish_sent;
  bool recorded; /* slot thread: the final record was written (with the outbox) */
  event_sink sink;
  pipeline_hooks hooks;
  docker_client *docker; /* the slot thread's, kept across its jobs */
  job_result result;
} job_slot;

typedef struct parked_job {
  rd_kafka_message_t *msg;
  char *job_id;
  long attempt;
  char *component;
  bool replay; /* the request has replay_of (job_store_claim) */
  int64_t next_check_ms;
  bool waiting_for_slot; /* the lookahead (worker.prefetch), not a held lease */
} parked_job;

struct worker_service {
  const bw_logger *log; /* first: librdkafka's log callback reads it */
  const worker_service_opts *opts;
  const bw_config *cfg;
  rd_kafka_t *consumer;
  kafka_publisher *pub;
  offset_tracker *tracker;
  job_store *store;
  pull_locks *locks;
  job_slot *slots;
  int slot_count;
  parked_job *parked;
  size_t parked_count;
  bool paused;
  bool draining;
  int64_t drain_deadline_ms;
  int64_t started_epoch_ms;
  int64_t last_full_commit_ms;
  pthread_mutex_t lock;
  pthread_mutex_t confirm_lock; /* guards confirmations */
  confirmation *confirmations;  /* pushed by the main thread, taken by the heartbeat */
  offset_ack *dlq_retries;      /* main thread: dead letters whose copy was refused */
  pthread_t heartbeat;
  bw_cancel heartbeat_stop;
  bw_cancel kill_now; /* a second stop signal: nothing waits any more (the publisher) */
  atomic_uint_fast64_t jobs_started;
};

/* The fleet: the Redis prefix, a label of every container. */
static const char *fleet_of(const worker_service *svc) {
  return svc->opts->redis_prefix ? svc->opts->redis_prefix : JOB_STORE_DEFAULT_PREFIX;
}

/* ---- events of a job slot go to Kafka ---------------------------------- */

static void ack_offset_later(worker_service *svc, const rd_kafka_message_t *m, offset_ack **out) {
  offset_ack *ack = calloc(1, sizeof(*ack));
  if (!ack)
    abort();
  ack->topic = bw_strdup(rd_kafka_topic_name(m->rkt));
  ack->partition = m->partition;
  ack->offset = m->offset;
  ack->pending = 1;
  *out = ack;
}

static void offset_ack_free(offset_ack *ack) {
  if (!ack)
    return;
  free(ack->topic);
  free(ack->confirm_job_id);
  free(ack->confirm_event_id);
  if (ack->dlq_original)
    rd_kafka_message_destroy(ack->dlq_original);
  free(ack->dlq_reason);
  free(ack);
}

static delivery *delivery_for(offset_ack *ack, delivery_kind kind) {
  delivery *d = calloc(1, sizeof(*d));
  if (!d)
    abort();
  d->ack = ack;
  d->kind = kind;
  return d;
}

/* Every event goes out through here: its delivery report comes back to
 * on_delivered for ack (NULL: nothing waits for it). On failure the ack is
 * marked failed and no longer waits for this one. */
static int publish_event(worker_service *svc, const char *type, const char *job_id,
                         const char *json, size_t len, offset_ack *ack, bw_error_t *err) {
  delivery *d = ack ? delivery_for(ack, DELIVERY_EVENT) : NULL;
  if (kafka_publisher_event(svc->pub, type, job_id, json, len, d, err) == 0)
    return 0;
  free(d);
  if (ack) {
    ack->failed = true;
    ack->pending--;
  }
  return -1;
}

/* The event's event_id (a new string), or NULL. */
static char *event_id_of(const char *json, size_t len) {
  cleanup_json json_t *ev = json_loadb(json, len, 0, NULL);
  const char *id = json_string_value(json_object_get(ev, "event_id"));
  return id ? bw_strdup(id) : NULL;
}

static void confirm_later(offset_ack *ack, const char *job_id, const char *json, size_t len) {
  if (!job_id)
    return;
  ack->confirm_event_id = event_id_of(json, len);
  if (ack->confirm_event_id)
    ack->confirm_job_id = bw_strdup(job_id);
}

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
    ack_offset_later(slot->svc, slot->msg, &ack);
    if (record_outcome(slot, json, len))
      confirm_later(ack, job_id, json, len);
  }
  cleanup_error bw_error_t err = NULL;
  if (publish_event(slot->svc, type, job_id, json, len, ack, &err) < 0) {
    bw_log_error(slot->svc->log, "job %s: %s", job_id ? job_id : "?", bw_error_msg(&err));
    offset_ack_free(ack);
    return -1;
  }
  if (final)
    atomic_store(&slot->finish_sent, true);
  if (finished)
    bw_test_crash_point("finished", job_id);
  return 0;
}

/* ---- hooks the pipeline calls on the slot's thread ---------------------- */

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
    if (docker_client_new(&own, svc->cfg->docker_socket, svc->cfg->docker_timeout_ms, &err) < 0 ||
        docker_client_negotiate(own, NULL, &err) < 0)
      return; /* the create will fail and say why */
    dc = own;
  }
  orphan_sweep_job(dc, svc->log, fleet_of(svc), svc->opts->host, job_id, slot->token);
}

static void *slot_main(void *arg) {
  job_slot *slot = arg;
  worker_service *svc = slot->svc;
  bw_test_crash_point("claimed", slot->job_id);
  if (!slot->docker) {
    /* Once per slot; if the engine is down now, the pipeline makes its own
     * client per job (and reports the failure) until this succeeds. */
    cleanup_error bw_error_t derr = NULL;
    if (docker_client_new(&slot->docker, svc->cfg->docker_socket, svc->cfg->docker_timeout_ms,
                          &derr) < 0 ||
        docker_client_negotiate(slot->docker, NULL, &derr) < 0) {
      docker_client_free(slot->docker);
      slot->docker = NULL;
    }
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
      .fleet = fleet_of(svc),
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

/* ---- the main loop's bookkeeping ---------------------------------------- */

static int free_slots(const worker_service *svc) {
  int n = 0;
  for (int i = 0; i < svc->slot_count; i++)
    n += atomic_load(&svc->slots[i].state) == SLOT_FREE;
  return n;
}

static void set_paused(worker_service *svc, bool pause) {
  if (svc->paused == pause)
    return;
  rd_kafka_topic_partition_list_t *assigned = NULL;
  if (rd_kafka_assignment(svc->consumer, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return;
  if (pause)
    rd_kafka_pause_partitions(svc->consumer, assigned);
  else
    rd_kafka_resume_partitions(svc->consumer, assigned);
  rd_kafka_topic_partition_list_destroy(assigned);
  svc->paused = pause;
  bw_log_debug(svc->log, "%s intake (%d of %d slots free)", pause ? "paused" : "resumed",
               free_slots(svc), svc->slot_count);
}

static size_t waiting_for_slot(const worker_service *svc) {
  size_t n = 0;
  for (size_t i = 0; i < svc->parked_count; i++)
    n += svc->parked[i].waiting_for_slot;
  return n;
}

/* Paused while every slot is busy and the lookahead is full; resumed once
 * a slot is free or the lookahead is down to half. The lookahead
 * (worker.prefetch, default 16) hides librdkafka's resume latency (0.3 to 1 s
 * measured with 2.0.2) from the next jobs: the half left when it resumes
 * keeps the slots busy until the fetch is back, and resuming at half rather
 * than at every job keeps the fetches few. It costs no fairness, since only
 * this worker reads its partitions anyway. */
static void update_intake(worker_service *svc) {
  size_t waiting = waiting_for_slot(svc);
  size_t prefetch = (size_t)svc->cfg->worker_prefetch;
  bool busy = free_slots(svc) == 0;
  bool pause =
      svc->paused ? busy && (waiting > prefetch / 2 || prefetch == 0) : busy && waiting >= prefetch;
  set_paused(svc, svc->draining || pause);
}

/* All the deliveries of a request are in: commit its offset (unless an
 * event failed), queue the outbox confirmation. Main thread. */
static void ack_settle(worker_service *svc, offset_ack *ack) {
  if (ack->pending > 0)
    return;
  if (!ack->failed)
    offset_tracker_done(svc->tracker, ack->topic, ack->partition, ack->offset);
  if (!ack->failed && ack->confirm_job_id) {
    confirmation *c = calloc(1, sizeof(*c));
    if (!c)
      abort();
    c->job_id = steal_pointer(&ack->confirm_job_id);
    c->event_id = steal_pointer(&ack->confirm_event_id);
    pthread_mutex_lock(&svc->confirm_lock);
    c->next = svc->confirmations;
    svc->confirmations = c;
    pthread_mutex_unlock(&svc->confirm_lock);
  }
  offset_ack_free(ack);
}

/* Runs on the main loop's thread (kafka_publisher_poll). A partition
 * revoked meanwhile is no longer in the tracker: nothing is committed then.
 * A dead letter's copy that was refused is tried again in its next form
 * (retry_dead_letters), never left holding the partition. */
static void on_delivered(void *ctx, void *opaque, rd_kafka_resp_err_t err) {
  worker_service *svc = ctx;
  delivery *d = opaque;
  offset_ack *ack = d->ack;
  delivery_kind kind = d->kind;
  free(d);
  if (err && kind == DELIVERY_DEAD_LETTER) {
    bw_log_fields(svc->log, BW_LOG_WARN, "the dead letter's copy was refused; trying a smaller one",
                  "error", rd_kafka_err2str(err), "topic", ack->topic, NULL);
    ack->dlq_stage++;
    ack->next_retry = svc->dlq_retries;
    svc->dlq_retries = ack;
    return; /* still pending */
  }
  if (err) {
    ack->failed = true;
    bw_log_fields(svc->log, BW_LOG_ERROR,
                  "an event was not delivered; its request stays "
                  "uncommitted and will run again",
                  "error", rd_kafka_err2str(err), NULL);
  }
  ack->pending--;
  ack_settle(svc, ack);
}

/* Heartbeat thread: the outbox events delivered since the last beat. A
 * confirmation lost (Redis down, a crash) only means the event is sent once
 * more, with the same event_id. */
static void confirm_deliveries(worker_service *svc) {
  pthread_mutex_lock(&svc->confirm_lock);
  confirmation *list = svc->confirmations;
  svc->confirmations = NULL;
  pthread_mutex_unlock(&svc->confirm_lock);
  while (list) {
    confirmation *next = list->next;
    cleanup_error bw_error_t err = NULL;
    if (job_store_confirm_delivery(svc->store, list->job_id, list->event_id, &err) < 0)
      bw_log_debug(svc->log, "job %s: confirming its job.finished: %s", list->job_id,
                   bw_error_msg(&err));
    free(list->job_id);
    free(list->event_id);
    free(list);
    list = next;
  }
}

/* The job.finished of a request that never ran (rejected, or refused after it
 * took down too many workers): the same fields as the pipeline's, nothing ran. */
static char *unrun_finished_event(worker_service *svc, const rd_kafka_message_t *m,
                                  const char *job_id, long attempt, const char *component_id,
                                  job_status status, const char *message) {
  job_events je = {.job_id = job_id,
                   .attempt = attempt > 0 ? attempt : 1,
                   .worker_id = svc->cfg->worker_id,
                   .host = svc->opts->host};
  json_t *ev = event_new(&je, "job.finished");
  /* The same request met again (its worker died before the commit) gets the
   * same event_id: the id derives from where the request is. */
  cleanup_free char *where = bw_strdup_printf(
      "%s\n%s\n%d\n%lld\n%s", svc->opts->redis_prefix ? svc->opts->redis_prefix : "",
      rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
      job_status_name(status));
  char digest[DIGEST_SHA256_HEX_LEN + 1];
  if (digest_sha256_buf(where, strlen(where), digest, NULL) == 0) {
    digest[BW_RANDOM_ID_LEN] = '\0';
    json_object_set_new(ev, "event_id", json_string(digest));
  }
  json_object_set_new(ev, "status", json_string(job_status_name(status)));
  json_object_set_new(ev, "exit_code", json_null());
  json_object_set_new(ev, "message", json_string(message));
  if (component_id)
    json_object_set_new(ev, "component", json_string(component_id));
  json_object_set_new(ev, "duration_ms", json_integer(0));
  json_object_set_new(ev, "phases_ms", json_object());
  json_object_set_new(ev, "image_digest", json_null());
  json_object_set_new(ev, "state", json_null());
  json_object_set_new(ev, "artifacts", json_integer(0));
  json_object_set_new(ev, "request",
                      json_pack("{s:s, s:i, s:I}", "topic", rd_kafka_topic_name(m->rkt),
                                "partition", (int)m->partition, "offset", (json_int_t)m->offset));
  char *text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(ev);
  return text;
}

/* The stages of a dead letter's copy: 0 whole (or cut to fit the producer's
 * limit), then only the worker's headers, tried three times: the broker
 * judges a whole record batch against max.message.bytes, so a copy of a few
 * hundred bytes is refused when it shares a batch with a larger one that is
 * still in flight (seen in CI). */
#define DLQ_LAST_STAGE 3

/* Sends the dead letter's copy in the form its stage allows (above); when
 * every form is refused, the copy is given up and the offset goes on: the
 * request stays in topic.runs under its retention, and the log and a metric
 * say so. */
static void send_dead_letter(worker_service *svc, offset_ack *ack) {
  for (;;) {
    if (ack->dlq_stage > DLQ_LAST_STAGE) {
      worker_metrics_dead_letter_failed(svc->opts->metrics);
      bw_log_fields(svc->log, BW_LOG_ERROR,
                    "no form of the dead letter could be written; its offset is committed "
                    "anyway (the request stays in its topic under retention)",
                    "topic", ack->topic, "reason", ack->dlq_reason, NULL);
      ack->pending--;
      ack_settle(svc, ack);
      return;
    }
    delivery *d = delivery_for(ack, DELIVERY_DEAD_LETTER);
    kafka_dlq_copy form = ack->dlq_stage == 0 ? KAFKA_DLQ_WHOLE : KAFKA_DLQ_MINIMAL;
    bool truncated = false;
    cleanup_error bw_error_t err = NULL;
    if (kafka_publisher_dead_letter(svc->pub, ack->dlq_original, ack->dlq_reason, form, d,
                                    &truncated, &err) == 0) {
      if (truncated) {
        worker_metrics_dead_letter_truncated(svc->opts->metrics);
        bw_log_fields(svc->log, BW_LOG_WARN,
                      "the dead letter carries a cut copy of the request (too large to copy "
                      "whole; dlq.original.* headers say what it was)",
                      "topic", ack->topic, NULL);
      }
      return;
    }
    free(d);
    bw_log_fields(svc->log, BW_LOG_WARN, "the dead letter's copy was refused; trying a smaller one",
                  "error", bw_error_msg(&err), NULL);
    ack->dlq_stage++;
  }
}

/* Main loop: the dead letters whose copy the broker refused, in their next form. */
static void retry_dead_letters(worker_service *svc) {
  offset_ack *list = svc->dlq_retries;
  svc->dlq_retries = NULL;
  while (list) {
    offset_ack *next = list->next_retry;
    list->next_retry = NULL;
    send_dead_letter(svc, list);
    list = next;
  }
}

/* The request cannot run: to the DLQ (reason: masked already), with its
 * job.finished (finished: the event's text); committed once both are
 * delivered. confirm: the outbox holds the event (a poisoned job's). */
static void dead_letter(worker_service *svc, rd_kafka_message_t *m, const char *job_id,
                        const char *reason, const char *finished, bool confirm,
                        bool already_taken) {
  worker_metrics_dead_letter(svc->opts->metrics);
  bw_log_fields(svc->log, BW_LOG_WARN, "request sent to the dead-letter topic", "reason", reason,
                "job_id", job_id ? job_id : "", "topic", rd_kafka_topic_name(m->rkt), NULL);
  if (!already_taken)
    offset_tracker_take(svc->tracker, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
  offset_ack *ack;
  ack_offset_later(svc, m, &ack);
  ack->pending = 2; /* the DLQ record and the job.finished */
  if (confirm)
    confirm_later(ack, job_id, finished, strlen(finished));
  ack->dlq_original = m; /* kept for the next forms of the copy, if need be */
  ack->dlq_reason = bw_strdup(reason);
  cleanup_error bw_error_t err = NULL;
  if (publish_event(svc, "job.finished", job_id, finished, strlen(finished), ack, &err) < 0)
    bw_log_error(svc->log, "%s", bw_error_msg(&err));
  send_dead_letter(svc, ack); /* last: it may settle the ack */
}

/* stored: the outbox's job.finished that was never confirmed delivered; it
 * goes out first (the same bytes, so the same event_id), and the offset is
 * committed once both are delivered. */
static void duplicate(worker_service *svc, rd_kafka_message_t *m, const char *job_id, long attempt,
                      const char *why, const char *stored, bool already_taken) {
  worker_metrics_duplicate(svc->opts->metrics);
  job_events je = {.job_id = job_id,
                   .attempt = attempt,
                   .worker_id = svc->cfg->worker_id,
                   .host = svc->opts->host};
  json_t *ev = event_new(&je, "job.duplicate");
  json_object_set_new(ev, "reason", json_string(why));
  cleanup_json json_t *record = NULL;
  cleanup_error bw_error_t err = NULL;
  if (job_store_get(svc->store, job_id, &record, &err) == 0 && record)
    json_object_set(ev, "record", record);
  cleanup_free char *text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(ev);
  if (!already_taken)
    offset_tracker_take(svc->tracker, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
  offset_ack *ack;
  ack_offset_later(svc, m, &ack);
  if (stored) {
    bw_log_fields(svc->log, BW_LOG_INFO,
                  "the job's job.finished was never confirmed delivered: sending it again from "
                  "the outbox",
                  "job_id", job_id, NULL);
    ack->pending = 2;
    confirm_later(ack, job_id, stored, strlen(stored));
    if (publish_event(svc, "job.finished", job_id, stored, strlen(stored), ack, &err) < 0)
      bw_log_error(svc->log, "job %s: %s", job_id, bw_error_msg(&err));
    bw_error_release(&err);
  }
  if (publish_event(svc, "job.duplicate", job_id, text, strlen(text), ack, &err) < 0)
    bw_log_error(svc->log, "job %s: %s", job_id, bw_error_msg(&err));
  if (ack->pending == 0)
    offset_ack_free(ack);
  rd_kafka_message_destroy(m);
}

static job_slot *take_free_slot(worker_service *svc) {
  for (int i = 0; i < svc->slot_count; i++)
    if (atomic_load(&svc->slots[i].state) == SLOT_FREE)
      return &svc->slots[i];
  return NULL;
}

static void start_slot(worker_service *svc, job_slot *slot, rd_kafka_message_t *m,
                       const char *job_id, long attempt, const char *token) {
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

/* The result recorded for (and the message of) a request that took down
 * jobs.max.deliveries workers; the claim script fills in {crashes}. */
static char *poison_message(const worker_service *svc, long crashes) {
  return bw_strdup_printf("infra_error: the request took down %ld workers (they died running "
                          "it, without a final record); jobs.max.deliveries is %ld, so it is not "
                          "run again: see the dead-letter topic",
                          crashes, svc->cfg->max_deliveries);
}

/* A request that took down jobs.max.deliveries workers: its end goes into
 * the outbox (only one claimer gets to write it), then to the DLQ and the
 * events topic. Returns false when another worker got there first (parked:
 * the next look finds the job finished). */
static bool poisoned(worker_service *svc, rd_kafka_message_t *m, const parked_job *req,
                     const job_claim *claim, bool already_taken) {
  cleanup_free char *why = poison_message(svc, claim->crashes);
  cleanup_free char *event = unrun_finished_event(svc, m, req->job_id, claim->attempt,
                                                  req->component, JOB_INFRA_ERROR, why);
  cleanup_json json_t *result = json_pack(
      "{s:s, s:n, s:s}", "status", job_status_name(JOB_INFRA_ERROR), "exit_code", "message", why);
  cleanup_free char *result_text = json_dumps(result, JSON_COMPACT);
  bool written = false;
  cleanup_error bw_error_t err = NULL;
  if (job_store_finish_unrun(svc->store, req->job_id, job_status_name(JOB_INFRA_ERROR), result_text,
                             event, &written, &err) < 0)
    return false; /* Redis went away: look again later */
  if (!written)
    return false;
  dead_letter(svc, m, req->job_id, why, event, true, already_taken);
  return true;
}

/* Claims the job in Redis; runs it, parks it, or reports a duplicate.
 * Returns false when no slot was free (the caller parks it). */
static bool try_run(worker_service *svc, rd_kafka_message_t *m, const parked_job *req,
                    bool already_taken) {
  job_slot *slot = take_free_slot(svc);
  if (!slot)
    return false;
  const char *job_id = req->job_id;
  job_claim_request creq = {.job_id = job_id,
                            .worker_id = svc->cfg->worker_id,
                            .attempt = req->attempt,
                            .replay = req->replay,
                            .ttl_ms = svc->cfg->worker_heartbeat_interval_ms * LEASE_TTL_FACTOR,
                            .max_deliveries = svc->cfg->max_deliveries};
  job_claim claim = {0};
  cleanup_error bw_error_t err = NULL;
  if (job_store_claim(svc->store, &creq, &claim, &err) < 0) {
    /* Without Redis nobody can tell whether the job already ran (its record)
     * or runs elsewhere (its lease): a redelivered request would run twice.
     * It waits, uncommitted, parked like a held job, and is looked at again
     * every heartbeat; jobs already running go on. */
    bw_log_fields(svc->log, already_taken ? BW_LOG_DEBUG : BW_LOG_WARN,
                  "job waits for Redis: no lease can be taken", "job_id", job_id, "error",
                  bw_error_msg(&err), NULL);
    return false;
  }
  switch (claim.outcome) {
  case JOB_CLAIM_FINISHED:
    duplicate(svc, m, job_id, claim.attempt, "the job has already finished",
              claim.undelivered_event, already_taken);
    job_claim_free(&claim);
    return true;
  case JOB_CLAIM_POISONED:
    return poisoned(svc, m, req, &claim, already_taken);
  case JOB_CLAIM_HELD:
    return false;
  case JOB_CLAIM_ACQUIRED:
    break;
  }
  if (!already_taken)
    offset_tracker_take(svc->tracker, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
  start_slot(svc, slot, m, job_id, claim.attempt, claim.token);
  return true;
}

static void park(worker_service *svc, rd_kafka_message_t *m, const parked_job *req,
                 bool waiting_for_slot) {
  if (svc->parked_count == MAX_PARKED) {
    /* Never reached with sane slot counts; dropping uncommitted means redelivery. */
    bw_log_error(svc->log, "job %s: too many parked jobs; left for redelivery", req->job_id);
    rd_kafka_message_destroy(m);
    return;
  }
  offset_tracker_take(svc->tracker, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
  svc->parked[svc->parked_count++] = (parked_job){
      .msg = m,
      .job_id = bw_strdup(req->job_id),
      .component = bw_strdup(req->component),
      .attempt = req->attempt,
      .replay = req->replay,
      .next_check_ms =
          waiting_for_slot ? 0 : bw_time_monotonic_ms() + svc->cfg->worker_heartbeat_interval_ms,
      .waiting_for_slot = waiting_for_slot};
  if (!waiting_for_slot)
    bw_log_fields(svc->log, BW_LOG_INFO,
                  "job is held by a live lease (or Redis is unreachable): waiting for it to "
                  "finish or expire",
                  "job_id", req->job_id, NULL);
}

/* Removes parked entry i, keeping the others in arrival order. */
static void unpark(worker_service *svc, size_t i) {
  free(svc->parked[i].job_id);
  free(svc->parked[i].component);
  memmove(&svc->parked[i], &svc->parked[i + 1],
          (svc->parked_count - i - 1) * sizeof(svc->parked[0]));
  svc->parked_count--;
}

/* The request as read, for the DLQ: masked with its own secrets, since the
 * reason may quote it. */
static void reject(worker_service *svc, rd_kafka_message_t *m, const job_request *req,
                   const bw_error_t err) {
  cleanup_free char *reason = NULL;
  if (req->config) {
    masker *mask = masker_new();
    job_request_add_secrets(req, mask);
    reason = masker_apply(mask, err->msg, strlen(err->msg), NULL);
    masker_free(mask);
  } else {
    reason = bw_strdup(err->msg); /* job_request_parse masked it already */
  }
  cleanup_free char *finished =
      unrun_finished_event(svc, m, req->job_id, req->attempt, req->component, JOB_REJECTED, reason);
  dead_letter(svc, m, req->job_id, reason, finished, false, false);
}

static void handle_message(worker_service *svc, rd_kafka_message_t *m) {
  if (m->err) {
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      bw_log_warn(svc->log, "kafka: %s", rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
    return;
  }
  if (svc->draining) {
    rd_kafka_message_destroy(m); /* not taken, not committed: redelivered */
    return;
  }
  cleanup_job_request job_request req = {0};
  cleanup_error bw_error_t err = NULL;
  if (job_request_check_size(m->len, svc->cfg->request_max_bytes, &err) < 0 ||
      job_request_parse(m->payload ? m->payload : "", m->len, &req, &err) < 0) {
    reject(svc, m, &req, err);
    return;
  }
  job_plan plan;
  if (job_plan_resolve(&req, svc->opts->components, &plan, &err) < 0) {
    reject(svc, m, &req, err);
    return;
  }
  job_plan_free(&plan);
  parked_job info = {.job_id = req.job_id,
                     .component = req.component,
                     .attempt = req.attempt,
                     .replay = req.replay_of != NULL};
  if (!take_free_slot(svc)) {
    park(svc, m, &info, true);
    return;
  }
  if (!try_run(svc, m, &info, false))
    park(svc, m, &info, false);
}

/* Parked jobs: held elsewhere (or waiting for a slot). Look again now and then. */
static void check_parked(worker_service *svc) {
  int64_t now = bw_time_monotonic_ms();
  for (size_t i = 0; i < svc->parked_count;) {
    parked_job *p = &svc->parked[i];
    if (p->next_check_ms > now || svc->draining || !take_free_slot(svc)) {
      i++;
      continue;
    }
    if (try_run(svc, p->msg, p, true)) {
      unpark(svc, i);
      continue;
    }
    p->waiting_for_slot = false; /* a claim said: held by another worker */
    p->next_check_ms = now + svc->cfg->worker_heartbeat_interval_ms;
    i++;
  }
}

/* Joins finished slots and frees them. Their offsets are marked done by the
 * delivery of job.finished (slot_emit), not here. */
static void reap_slots(worker_service *svc) {
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

static void add_commit(void *ctx, const char *topic, int32_t partition, int64_t next) {
  rd_kafka_topic_partition_list_add(ctx, topic, partition)->offset = next;
}

/* Commits what moved; every RECOMMIT_MS everything again, so a commit lost
 * in a broker outage is made once the broker is back. */
static void commit_offsets(worker_service *svc, bool sync) {
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
  int64_t now = bw_time_monotonic_ms();
  bool all = sync || now - svc->last_full_commit_ms >= RECOMMIT_MS;
  if (all)
    svc->last_full_commit_ms = now;
  size_t n = all ? offset_tracker_collect_all(svc->tracker, add_commit, list)
                 : offset_tracker_collect(svc->tracker, add_commit, list);
  if (n > 0) {
    rd_kafka_resp_err_t rc = rd_kafka_commit(svc->consumer, list, sync ? 0 : 1);
    if (rc)
      bw_log_warn(svc->log, "kafka: commit: %s", rd_kafka_err2str(rc));
  }
  rd_kafka_topic_partition_list_destroy(list);
}

/* ---- rebalances (cooperative: incremental assign and unassign) ---------- */

static void forget_partition(worker_service *svc, const char *topic, int32_t partition) {
  offset_tracker_forget(svc->tracker, topic, partition);
  for (int i = 0; i < svc->slot_count; i++) {
    job_slot *slot = &svc->slots[i];
    if (atomic_load(&slot->state) != SLOT_FREE && slot->msg && slot->msg->partition == partition &&
        strcmp(rd_kafka_topic_name(slot->msg->rkt), topic) == 0) {
      /* It runs to its end and its events still go out; its offset is no
       * longer ours to commit (the partition's new owner sees the lease). */
      slot->revoked = true;
    }
  }
  for (size_t i = 0; i < svc->parked_count;) {
    parked_job *p = &svc->parked[i];
    if (p->msg->partition == partition && strcmp(rd_kafka_topic_name(p->msg->rkt), topic) == 0) {
      rd_kafka_message_destroy(p->msg);
      unpark(svc, i);
    } else {
      i++;
    }
  }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t what,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  worker_service *svc = opaque;
  bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  if (what == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    for (int i = 0; i < parts->cnt; i++)
      forget_partition(svc, parts->elems[i].topic, parts->elems[i].partition);
  }
  rd_kafka_error_t *error = NULL;
  if (what == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (cooperative)
      error = rd_kafka_incremental_assign(rk, parts);
    else
      rd_kafka_assign(rk, parts);
    /* librdkafka keeps no pause state we could query, and a partition paused
     * before it was revoked may come back still paused: set ours explicitly. */
    if (svc->paused)
      rd_kafka_pause_partitions(rk, parts);
    else
      rd_kafka_resume_partitions(rk, parts);
  } else {
    if (cooperative)
      error = rd_kafka_incremental_unassign(rk, parts);
    else
      rd_kafka_assign(rk, NULL);
  }
  if (error) {
    bw_log_error(svc->log, "kafka: rebalance: %s", rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
  }
  char count[16];
  snprintf(count, sizeof(count), "%d", parts->cnt);
  bw_log_fields(svc->log, BW_LOG_INFO,
                what == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "partitions assigned"
                                                             : "partitions revoked",
                "count", count, NULL);
}

/* ---- the heartbeat thread ------------------------------------------------ */

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
                          .view = {.fleet = fleet_of(svc),
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
static void sweep_at_start(worker_service *svc) {
  cleanup_error bw_error_t err = NULL;
  cleanup_docker_client docker_client *dc = NULL;
  if (docker_client_new(&dc, svc->cfg->docker_socket, svc->cfg->docker_timeout_ms, &err) < 0 ||
      docker_client_negotiate(dc, NULL, &err) < 0) {
    bw_log_warn(svc->log, "the sweep at start found no Engine: %s", bw_error_msg(&err));
    docker_client_free(dc);
    dc = NULL;
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
  char **ids = calloc((size_t)n + 1, sizeof(char *));
  char(*tokens)[33] = calloc((size_t)n + 1, sizeof(*tokens));
  job_slot **slots = calloc((size_t)n + 1, sizeof(job_slot *));
  bool *flags = calloc((size_t)n + 1, sizeof(bool));
  if (!ids || !tokens || !slots || !flags)
    abort();
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
  confirm_deliveries(svc);
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
  if (!*dc &&
      (docker_client_new(dc, svc->cfg->docker_socket, svc->cfg->docker_timeout_ms, &err) < 0 ||
       docker_client_negotiate(*dc, NULL, &err) < 0)) {
    docker_client_free(*dc);
    *dc = NULL;
  }
  bool ok = *dc && docker_call_ok(*dc, "GET", "/_ping", NULL, &resp, &err) == 0;
  worker_metrics_docker_reached(svc->opts->metrics, ok);
}

static void *heartbeat_main(void *arg) {
  worker_service *svc = arg;
  cleanup_error bw_error_t err = NULL;
  cleanup_docker_client docker_client *dc = NULL;
  if (docker_client_new(&dc, svc->cfg->docker_socket, svc->cfg->docker_timeout_ms, &err) < 0 ||
      docker_client_negotiate(dc, NULL, &err) < 0) {
    bw_log_warn(svc->log, "orphan sweeps are off until the Engine answers: %s", bw_error_msg(&err));
    docker_client_free(dc);
    dc = NULL;
  }
  for (long beat = 0; !bw_cancel_level(&svc->heartbeat_stop); beat++) {
    heartbeat_once(svc, dc, beat);
    probe_docker(svc, &dc);
    bw_time_sleep_ms(svc->cfg->worker_heartbeat_interval_ms, &svc->heartbeat_stop);
  }
  return NULL;
}

/* ---- start, run, drain ---------------------------------------------------- */

static int consumer_new(worker_service *svc, bw_error_t *err) {
  rd_kafka_conf_t *conf = NULL;
  if (kafka_conf_new(svc->cfg, &svc->log, &conf, err) < 0)
    return -1;
  static const char *const defaults[][2] = {
      {"group.id", "bundle-workers"},
      {"partition.assignment.strategy", "cooperative-sticky"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      /* Memory stays bounded whatever the intake (librdkafka's defaults
       * prefetch up to 64 MB): the worker takes a few requests ahead
       * (worker.prefetch), not a flood. */
      /* Static members do not leave the group when they stop (KIP-345):
       * a drained worker's partitions move only after its session times
       * out, so the default is 10 s rather than librdkafka's 45 s. */
      {"session.timeout.ms", "10000"},
      {"queued.max.messages.kbytes", "1024"},
      {"queued.min.messages", "500"},
      {"fetch.max.bytes", "2097152"},
  };
  for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
    if (!bw_config_kafka_get(svc->cfg, defaults[i][0]) &&
        kafka_conf_set(conf, defaults[i][0], defaults[i][1], err) < 0) {
      rd_kafka_conf_destroy(conf);
      return -1;
    }
  }
  /* Static membership: a worker restarted with the same worker.id within
   * the session timeout is the same member, and gets its partitions back at
   * once instead of after the session timeout of its dead self. */
  if (svc->cfg->worker_static_membership && !bw_config_kafka_get(svc->cfg, "group.instance.id") &&
      kafka_conf_set(conf, "group.instance.id", svc->cfg->worker_id, err) < 0) {
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  rd_kafka_conf_set_opaque(conf, svc); /* svc->log comes first, as the log callback needs */
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  if (kafka_client_new(RD_KAFKA_CONSUMER, conf, &svc->consumer, err) < 0)
    return -1;
  rd_kafka_poll_set_consumer(svc->consumer);
  rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, svc->cfg->topic_runs, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t rc = rd_kafka_subscribe(svc->consumer, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (rc)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: subscribe to %s: %s", svc->cfg->topic_runs,
                        rd_kafka_err2str(rc));
  return 0;
}

static int running_slots(const worker_service *svc) {
  return svc->slot_count - free_slots(svc);
}

/* level: PIPELINE_CANCEL_STOP (containers get jobs.stop.grace.seconds) or
 * PIPELINE_CANCEL_NOW (the second signal: SIGKILL at once). */
static void interrupt_all(worker_service *svc, int level) {
  for (int i = 0; i < svc->slot_count; i++) {
    job_slot *slot = &svc->slots[i];
    if (atomic_load(&slot->state) == SLOT_RUNNING && bw_cancel_level(&slot->cancel) < level) {
      atomic_store(&slot->interrupted, true);
      bw_cancel_raise(&slot->cancel, level);
    }
  }
}

/* A fatal consumer error (another process joined with this worker's
 * group.instance.id: the broker fenced this one) ends intake: the worker
 * drains, since it may no longer commit. */
static void check_fatal(worker_service *svc) {
  char reason[512];
  if (svc->draining || rd_kafka_fatal_error(svc->consumer, reason, sizeof(reason)) == 0)
    return;
  bw_log_fields(svc->log, BW_LOG_ERROR,
                "kafka: fatal error: stopping (is another worker running with this worker.id?)",
                "error", reason, NULL);
  svc->draining = true;
  worker_metrics_draining(svc->opts->metrics);
  svc->drain_deadline_ms = bw_time_monotonic_ms() + svc->cfg->worker_drain_timeout_s * 1000;
}

static void main_loop(worker_service *svc) {
  const volatile sig_atomic_t *signals = svc->opts->signals;
  int interrupted = 0; /* the level interrupt_all was called with */
  for (;;) {
    int sigs = signals ? *signals : 0;
    if (sigs >= 1 && !svc->draining) {
      svc->draining = true;
      worker_metrics_draining(svc->opts->metrics);
      svc->drain_deadline_ms = bw_time_monotonic_ms() + svc->cfg->worker_drain_timeout_s * 1000;
      bw_log_info(svc->log, "draining: no new jobs; %d running get up to %ld s", running_slots(svc),
                  svc->cfg->worker_drain_timeout_s);
    }
    int level = !svc->draining                                     ? 0
                : sigs >= 2                                        ? PIPELINE_CANCEL_NOW
                : bw_time_monotonic_ms() >= svc->drain_deadline_ms ? PIPELINE_CANCEL_STOP
                                                                   : 0;
    if (level == PIPELINE_CANCEL_NOW)
      bw_cancel_raise(&svc->kill_now, 1);
    if (level > interrupted) {
      bw_log_warn(svc->log, "%s the %d running job(s); their requests stay uncommitted",
                  level == PIPELINE_CANCEL_NOW ? "killing" : "stopping", running_slots(svc));
      interrupt_all(svc, level);
      interrupted = level;
    }
    if (svc->draining && running_slots(svc) == 0)
      break;
    check_fatal(svc);
    /* While jobs run, look often: a slot that frees should take the next job
     * at once, not after a long poll. Idle, a longer wait costs nothing. */
    int poll_ms = running_slots(svc) > 0 || svc->parked_count > 0 ? 5 : 100;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(svc->consumer, poll_ms);
    if (m)
      handle_message(svc, m);
    kafka_publisher_poll(svc->pub, 0);
    retry_dead_letters(svc);
    reap_slots(svc);
    check_parked(svc);
    commit_offsets(svc, false);
    update_intake(svc);
    worker_metrics_refresh(svc->opts->metrics, svc->consumer, svc->paused, running_slots(svc));
  }
}

static void service_free(worker_service *svc) {
  for (size_t i = 0; i < svc->parked_count; i++) {
    rd_kafka_message_destroy(svc->parked[i].msg);
    free(svc->parked[i].job_id);
    free(svc->parked[i].component);
  }
  free(svc->parked);
  for (int i = 0; i < svc->slot_count; i++)
    docker_client_free(svc->slots[i].docker);
  free(svc->slots);
  offset_tracker_free(svc->tracker);
  job_store_free(svc->store);
  pull_locks_free(svc->locks);
  kafka_publisher_free(svc->pub);
  /* Confirmations still queued are lost: their events are sent once more
   * by whoever meets the record (same event_id). */
  while (svc->confirmations) {
    confirmation *next = svc->confirmations->next;
    free(svc->confirmations->job_id);
    free(svc->confirmations->event_id);
    free(svc->confirmations);
    svc->confirmations = next;
  }
  pthread_mutex_destroy(&svc->confirm_lock);
  pthread_mutex_destroy(&svc->lock);
}

int worker_service_run(const worker_service_opts *opts, bw_error_t *err) {
  worker_service svc = {.log = opts->log, .opts = opts, .cfg = opts->cfg};
  pthread_mutex_init(&svc.lock, NULL);
  pthread_mutex_init(&svc.confirm_lock, NULL);
  svc.started_epoch_ms = bw_time_epoch_ms();
  svc.tracker = offset_tracker_new();
  svc.slot_count = (int)opts->cfg->worker_slots;
  svc.slots = calloc((size_t)svc.slot_count, sizeof(job_slot));
  svc.parked = calloc(MAX_PARKED, sizeof(parked_job));
  if (!svc.slots || !svc.parked)
    abort();
  for (int i = 0; i < svc.slot_count; i++) {
    job_slot *slot = &svc.slots[i];
    slot->svc = &svc;
    slot->index = i;
    slot->sink = (event_sink){.emit = slot_emit, .ctx = slot};
    slot->hooks = (pipeline_hooks){.pull_lock = slot_pull_lock,
                                   .pull_unlock = slot_pull_unlock,
                                   .before_finish = slot_before_finish,
                                   .before_create = slot_before_create,
                                   .ctx = slot};
  }
  svc.store = job_store_new(opts->cfg, opts->log, opts->redis_prefix);
  svc.locks = pull_locks_new(opts->cfg, opts->log, opts->host, opts->redis_prefix);
  sweep_at_start(&svc);
  if (kafka_publisher_new(opts->cfg, opts->log, on_delivered, &svc, &svc.pub, err) == 0)
    svc.pub->stop = &svc.kill_now;
  if (!svc.pub || consumer_new(&svc, err) < 0) {
    if (svc.consumer)
      rd_kafka_destroy(svc.consumer);
    service_free(&svc);
    return -1;
  }
  bw_log_fields(opts->log, BW_LOG_INFO, "worker started", "topic", opts->cfg->topic_runs, "host",
                opts->host, NULL);
  if (bw_thread_start(&svc.heartbeat, heartbeat_main, &svc) != 0)
    abort();

  main_loop(&svc);

  /* Everything produced goes out before we leave; then the last commits. */
  int64_t flush_deadline = bw_time_monotonic_ms() + 30000;
  while (bw_time_monotonic_ms() < flush_deadline) {
    kafka_publisher_poll(svc.pub, 100);
    retry_dead_letters(&svc);
    reap_slots(&svc);
    if (running_slots(&svc) == 0 && kafka_publisher_flush(svc.pub, 0) == 0)
      break;
  }
  reap_slots(&svc);
  commit_offsets(&svc, true);
  bw_cancel_raise(&svc.heartbeat_stop, 1);
  pthread_join(svc.heartbeat, NULL);
  confirm_deliveries(&svc); /* the heartbeat is gone: the last ones here */
  int left = kafka_publisher_flush(svc.pub, 1000);
  if (left > 0)
    bw_log_error(opts->log, "%d event(s) could not be delivered before exit", left);
  rd_kafka_consumer_close(svc.consumer);
  rd_kafka_destroy(svc.consumer);
  service_free(&svc);
  bw_log_info(opts->log, "worker stopped");
  return 0;
}

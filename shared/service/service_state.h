/* The parts of `serve` (worker_service.h) and the state they share. Only
 * shared/service/ includes this header.
 *
 *   worker_service.c  start, the main loop, drain and stop
 *   intake.c          each request from Kafka: checked, claimed, run, parked
 *                     or refused; pausing and resuming intake (intake_policy.h)
 *   slots.c           job slots: one thread each, running the pipeline
 *   deliveries.c      events, dead letters and duplicates to Kafka; an offset
 *                     is done once what it waits for is delivered; the outbox
 *   consumer.c        the consumer group: rebalances and commits
 *   heartbeat.c       the heartbeat thread: worker key, leases, cancel flags,
 *                     pull locks, outbox confirmations, orphan sweeps
 *
 * Threads and what they own:
 *   - the main thread (the loop, and librdkafka's callbacks it polls:
 *     rebalances, delivery reports) owns the consumer, the offset tracker,
 *     the parked requests, the offset_acks and dlq_retries, paused/draining,
 *     and each slot's msg and revoked flag;
 *   - a slot's thread owns its job while the slot is SLOT_RUNNING (result,
 *     recorded, its Engine client) and hands it back by storing SLOT_EXITED;
 *     the main thread joins it and frees the slot (slots_reap);
 *   - the heartbeat thread reads the slots' job_id and token under
 *     svc->lock (written under it by the main thread), raises their cancel
 *     level, sets lease_lost, and takes the confirmations (confirm_lock);
 *   - shared flags are atomics: state, cancel (bw_cancel), interrupted,
 *     lease_lost, finish_sent, jobs_started. */
#pragma once

#include "clients/docker_client.h"
#include "clients/job_store.h"
#include "clients/kafka_publisher.h"
#include "core/cancel.h"
#include "pipeline/pipeline.h"
#include "service/offset_tracker.h"
#include "service/pull_locks.h"
#include "service/worker_service.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

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
static inline const char *service_fleet(const worker_service *svc) {
  return svc->opts->redis_prefix ? svc->opts->redis_prefix : JOB_STORE_DEFAULT_PREFIX;
}

/* ---- deliveries.c (main thread, but deliveries_confirm: heartbeat) ---- */
void deliveries_ack_later(worker_service *svc, const rd_kafka_message_t *m, offset_ack **out);
void deliveries_ack_free(offset_ack *ack);
int deliveries_publish(worker_service *svc, const char *type, const char *job_id, const char *json,
                       size_t len, offset_ack *ack, bw_error_t *err);
void deliveries_confirm_later(offset_ack *ack, const char *job_id, const char *json, size_t len);
void deliveries_on_delivered(void *ctx, void *opaque, rd_kafka_resp_err_t err);
void deliveries_confirm(worker_service *svc);
char *deliveries_unrun_finished(worker_service *svc, const rd_kafka_message_t *m,
                                const char *job_id, long attempt, const char *component_id,
                                job_status status, const char *message);
void deliveries_retry_dead_letters(worker_service *svc);
void deliveries_dead_letter(worker_service *svc, rd_kafka_message_t *m, const char *job_id,
                            const char *reason, const char *finished, bool confirm,
                            bool already_taken);
void deliveries_duplicate(worker_service *svc, rd_kafka_message_t *m, const char *job_id,
                          long attempt, const char *why, const char *stored, bool already_taken);

/* ---- slots.c (main thread) ---- */
void slots_init(worker_service *svc);
void slots_free(worker_service *svc); /* the slots' Engine clients, and the slots */
int slots_free_count(const worker_service *svc);
job_slot *slots_take_free(worker_service *svc);
void slots_start(worker_service *svc, job_slot *slot, rd_kafka_message_t *m, const char *job_id,
                 long attempt, const char *token);
void slots_reap(worker_service *svc);
int slots_running(const worker_service *svc);
void slots_interrupt_all(worker_service *svc, int level);

/* ---- intake.c (main thread) ---- */
void intake_update(worker_service *svc);
void intake_unpark(worker_service *svc, size_t i);
void intake_handle(worker_service *svc, rd_kafka_message_t *m);
void intake_check_parked(worker_service *svc);

/* ---- consumer.c (main thread) ---- */
void consumer_commit(worker_service *svc, bool sync);
int consumer_start(worker_service *svc, bw_error_t *err);

/* ---- heartbeat.c ---- */
void heartbeat_sweep_at_start(worker_service *svc);
void *heartbeat_main(void *arg);

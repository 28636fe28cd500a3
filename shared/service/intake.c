/* Each request from Kafka: checked, claimed, run, parked or refused
 * (service_state.h). */
#include "service/service_state.h"

#include "core/cleanup.h"
#include "core/timeutil.h"
#include "job/job_request.h"
#include "job/masker.h"
#include "service/intake_policy.h"

#include <stdlib.h>
#include <string.h>

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
               slots_free_count(svc), svc->slot_count);
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
void intake_update(worker_service *svc) {
  intake_view view = {.paused = svc->paused,
                      .draining = svc->draining,
                      .free_slots = slots_free_count(svc),
                      .waiting_for_slot = waiting_for_slot(svc),
                      .prefetch = (size_t)svc->cfg->worker_prefetch};
  set_paused(svc, intake_policy_pause(&view));
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
  cleanup_free char *event = deliveries_unrun_finished(svc, m, req->job_id, claim->attempt,
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
  deliveries_dead_letter(svc, m, req->job_id, why, event, true, already_taken);
  return true;
}

/* Claims the job in Redis; runs it, parks it, or reports a duplicate.
 * Returns false when no slot was free (the caller parks it). */
static bool try_run(worker_service *svc, rd_kafka_message_t *m, const parked_job *req,
                    bool already_taken) {
  job_slot *slot = slots_take_free(svc);
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
    deliveries_duplicate(svc, m, job_id, claim.attempt, "the job has already finished",
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
  slots_start(svc, slot, m, job_id, claim.attempt, claim.token);
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
      .next_check_ms = intake_policy_first_check(waiting_for_slot, bw_time_monotonic_ms(),
                                                 svc->cfg->worker_heartbeat_interval_ms),
      .waiting_for_slot = waiting_for_slot};
  if (!waiting_for_slot)
    bw_log_fields(svc->log, BW_LOG_INFO,
                  "job is held by a live lease (or Redis is unreachable): waiting for it to "
                  "finish or expire",
                  "job_id", req->job_id, NULL);
}

/* Removes parked entry i, keeping the others in arrival order. */
void intake_unpark(worker_service *svc, size_t i) {
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
  cleanup_free char *finished = deliveries_unrun_finished(svc, m, req->job_id, req->attempt,
                                                          req->component, JOB_REJECTED, reason);
  deliveries_dead_letter(svc, m, req->job_id, reason, finished, false, false);
}

void intake_handle(worker_service *svc, rd_kafka_message_t *m) {
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
  if (!slots_take_free(svc)) {
    park(svc, m, &info, true);
    return;
  }
  if (!try_run(svc, m, &info, false))
    park(svc, m, &info, false);
}

/* Parked jobs: held elsewhere (or waiting for a slot). Look again now and then. */
void intake_check_parked(worker_service *svc) {
  int64_t now = bw_time_monotonic_ms();
  for (size_t i = 0; i < svc->parked_count;) {
    parked_job *p = &svc->parked[i];
    if (!intake_policy_due(p->next_check_ms, now, svc->draining, slots_take_free(svc) != NULL)) {
      i++;
      continue;
    }
    if (try_run(svc, p->msg, p, true)) {
      intake_unpark(svc, i);
      continue;
    }
    p->waiting_for_slot = false; /* a claim said: held by another worker */
    p->next_check_ms =
        intake_policy_first_check(false, now, svc->cfg->worker_heartbeat_interval_ms);
    i++;
  }
}

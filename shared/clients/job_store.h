/* What the workers share about jobs, in Redis: leases (who runs a job now),
 * state records (how each job went), worker heartbeats and cancel flags.
 *
 *   PREFIX "lease:" ID    string: the claiming worker's token, PX ttl
 *   PREFIX "job:" ID      hash: status worker attempt started finished result token crashes
 *                         event delivered (the outbox: the job's job.finished, and
 *                         whether its delivery was confirmed);
 *                         expires 7 days after its last write
 *   PREFIX "worker:" ID   string: the worker's info (JSON), PX ttl
 *   PREFIX "workers"      sorted set: worker id by last heartbeat (epoch ms)
 *   PREFIX "cancel:" ID   string "1", EX 1 day
 *
 * A record's status is "running", "interrupted" (released at shutdown) or a
 * final status (job_status.h: success user_error application_error timeout
 * oom cancelled infra_error rejected). Every read-modify-write is one Lua
 * script, so two workers racing for a job see one consistent answer.
 *
 * Thread-safe: one Redis connection guarded by a mutex, reconnected lazily
 * (one attempt per call, redis.timeout.ms bounding every command). Every
 * Redis failure is BW_ERR_UNAVAILABLE. */
#pragma once

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define JOB_STORE_DEFAULT_PREFIX "bw:" /* serve --redis-prefix and friends */
#define JOB_STORE_TOKEN_LEN 32
#define JOB_STORE_RECORD_TTL_S (7L * 24 * 3600)
#define JOB_STORE_CANCEL_TTL_S 86400L
#define JOB_STORE_WORKERS_WINDOW_MS 3600000L /* heartbeats older than this leave the set */

typedef struct job_store job_store;

typedef enum job_claim_outcome {
  JOB_CLAIM_ACQUIRED, /* the lease is ours: run the job */
  JOB_CLAIM_HELD,     /* another worker's lease is alive: skip */
  JOB_CLAIM_FINISHED, /* the record has a final status: skip */
  JOB_CLAIM_POISONED, /* it took down max_deliveries workers: now final (infra_error) */
} job_claim_outcome;

typedef struct job_claim_request {
  const char *job_id;
  const char *worker_id;
  long attempt; /* the request's; at least 1 */
  bool replay;  /* the request has replay_of */
  long ttl_ms;
  long max_deliveries; /* jobs.max.deliveries; <= 0: no bound */
} job_claim_request;

typedef struct job_claim {
  job_claim_outcome outcome;
  long attempt; /* ACQUIRED: the attempt to run; else the record's (0: none) */
  long crashes; /* workers that vanished running this job (this attempt chain) */
  char token[JOB_STORE_TOKEN_LEN + 1]; /* ACQUIRED only */
  /* FINISHED: the job.finished the outbox holds when its delivery was never
   * confirmed (whoever meets it sends it, before anything else); else NULL. */
  char *undelivered_event;
} job_claim;

void job_claim_free(job_claim *c); /* the event; accepts NULL and a claim twice */

/* cfg and log are borrowed and must outlive the store; prefix ("bw:") is
 * copied. Does not connect: the first call does. */
job_store *job_store_new(const bw_config *cfg, const bw_logger *log, const char *prefix);
void job_store_free(job_store *js); /* accepts NULL */

/* One atomic script:
 *   - the record's status is final: FINISHED, attempt = its attempt, and the
 *     outbox's job.finished when its delivery was not confirmed --
 *     unless `replay` (the request has replay_of), the status is not success
 *     and the requested attempt is above the record's: then as below, a new
 *     run (its crash count starts over);
 *   - else a lease exists: HELD, attempt = the record's attempt (0: none);
 *   - else, when the record is "running" (its worker vanished without a
 *     final record: a crash or a kill), the crash count goes up by one; once
 *     it reaches max_deliveries the answer is POISONED, nothing is changed
 *     or leased (the caller records the end: job_store_finish_unrun);
 *   - else: a new token, the lease SET NX PX ttl_ms, the record rewritten
 *     (status running, worker, token, started now, crashes, no finished or
 *     result) with attempt = the requested attempt, or previous attempt + 1
 *     when that is larger and the previous record is running (its worker
 *     died) or interrupted: ACQUIRED, attempt = that attempt.
 * So a request runs at most max_deliveries times in a row that end with its
 * worker gone; the next delivery is refused. */
/* *out is overwritten: free a previous claim's event first (job_claim_free). */
int job_store_claim(job_store *js, const job_claim_request *req, job_claim *out, bw_error_t *err);
/* Compare-and-PEXPIRE: *still_ours false when the lease expired or another
 * token holds it (nothing is changed then). */
int job_store_extend(job_store *js, const char *job_id, const char *token, long ttl_ms,
                     bool *still_ours, bw_error_t *err);
int job_store_lease_is_ours(job_store *js, const char *job_id, const char *token, bool *ours,
                            bw_error_t *err);
int job_store_lease_alive(job_store *js, const char *job_id, bool *alive, bw_error_t *err);
/* Records a final status (job_status_name(); anything else is BW_ERR_INVALID),
 * result (JSON text; NULL: none) and the job's job.finished (event_json, the
 * outbox; NULL: none), atomically:
 *   - lease ours: record written (status, finished now, result, event with
 *     delivered 0), lease deleted, *was_ours = true;
 *   - lease expired or another token's, record still carrying our token
 *     (nobody claimed the job since): record written the same way, no lease
 *     touched, *was_ours = false -- the job did finish, and a redelivery must
 *     see it finished rather than run it again;
 *   - record carrying another token, or no record: nothing written,
 *     *was_ours = false, *written = false. */
int job_store_finish(job_store *js, const char *job_id, const char *token, const char *status,
                     const char *result_json, const char *event_json, bool *was_ours, bool *written,
                     bw_error_t *err);
/* The end of a poisoned job (it never ran to an end): status, result and its
 * job.finished in the outbox, written only while the record still says
 * running and no lease holds it (*written). */
int job_store_finish_unrun(job_store *js, const char *job_id, const char *status,
                           const char *result_json, const char *event_json, bool *written,
                           bw_error_t *err);
/* The outbox's job.finished (the one whose "event_id" is event_id) was
 * delivered: delivered 1, so no one sends it again. A record holding another
 * event (a later run's) is left alone. */
int job_store_confirm_delivery(job_store *js, const char *job_id, const char *event_id,
                               bw_error_t *err);
/* Graceful shutdown: when the lease is ours, the record's status becomes
 * "interrupted" and the lease is deleted, so the next claim need not wait for
 * the TTL and counts a new attempt. Otherwise nothing changes. */
int job_store_release(job_store *js, const char *job_id, const char *token, bw_error_t *err);
/* Deletes the lease only while it holds token (a restarted worker gives up
 * the leases of its previous process): the record stays as it was, so the
 * next claim counts a vanished worker. */
int job_store_abandon(job_store *js, const char *job_id, const char *token, bw_error_t *err);
/* One MGET: values_out[i] = the lease of job_ids[i] (a new string), or NULL. */
int job_store_leases(job_store *js, const char *const *job_ids, size_t n, char **values_out,
                     bw_error_t *err);
/* The record as an object (status worker started finished token strings,
 * attempt an integer, result the parsed JSON or the raw text when it does not
 * parse); *record_out NULL when there is none. */
int job_store_get(job_store *js, const char *job_id, json_t **record_out, bw_error_t *err);

/* SET PREFIX "worker:" ID (info as JSON text) PX ttl_ms; ZADD PREFIX "workers"
 * now ID; entries older than one hour leave the set. */
int job_store_heartbeat(job_store *js, const char *worker_id, const json_t *info, long ttl_ms,
                        bw_error_t *err);
/* The info of one worker's heartbeat while it is alive (NULL when expired). */
int job_store_worker_info(job_store *js, const char *worker_id, json_t **info_out, bw_error_t *err);
/* The info objects of the workers whose heartbeat key is alive, oldest
 * heartbeat first. A new array in *array_out. */
int job_store_workers(job_store *js, json_t **array_out, bw_error_t *err);

/* SET PREFIX "cancel:" ID 1 EX 86400. */
int job_store_cancel_request(job_store *js, const char *job_id, bw_error_t *err);
/* One MGET: flags_out[i] = is job_ids[i] flagged. n may be 0. */
int job_store_cancel_requested(job_store *js, const char *const *job_ids, size_t n, bool *flags_out,
                               bw_error_t *err);

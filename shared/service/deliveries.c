/* Events, dead letters and duplicates to Kafka, and the offsets that wait
 * for them (service_state.h). */
#include "service/service_state.h"

#include "core/cleanup.h"
#include "core/digest.h"
#include "core/random_id.h"
#include "job/events.h"
#include "job/job_status.h"

#include <stdlib.h>
#include <string.h>

void deliveries_ack_later(worker_service *svc, const rd_kafka_message_t *m, offset_ack **out) {
  offset_ack *ack = bw_xcalloc(1, sizeof(*ack));
  ack->topic = bw_strdup(rd_kafka_topic_name(m->rkt));
  ack->partition = m->partition;
  ack->offset = m->offset;
  ack->pending = 1;
  *out = ack;
}

void deliveries_ack_free(offset_ack *ack) {
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
  delivery *d = bw_xcalloc(1, sizeof(*d));
  d->ack = ack;
  d->kind = kind;
  return d;
}

/* Every event goes out through here: its delivery report comes back to
 * on_delivered for ack (NULL: nothing waits for it). On failure the ack is
 * marked failed and no longer waits for this one. */
int deliveries_publish(worker_service *svc, const char *type, const char *job_id, const char *json,
                       size_t len, offset_ack *ack, bw_error_t *err) {
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

void deliveries_confirm_later(offset_ack *ack, const char *job_id, const char *json, size_t len) {
  if (!job_id)
    return;
  ack->confirm_event_id = event_id_of(json, len);
  if (ack->confirm_event_id)
    ack->confirm_job_id = bw_strdup(job_id);
}

/* All the deliveries of a request are in: commit its offset (unless an
 * event failed), queue the outbox confirmation. Main thread. */
static void ack_settle(worker_service *svc, offset_ack *ack) {
  if (ack->pending > 0)
    return;
  if (!ack->failed)
    offset_tracker_done(svc->tracker, ack->topic, ack->partition, ack->offset);
  if (!ack->failed && ack->confirm_job_id) {
    confirmation *c = bw_xcalloc(1, sizeof(*c));
    c->job_id = steal_pointer(&ack->confirm_job_id);
    c->event_id = steal_pointer(&ack->confirm_event_id);
    pthread_mutex_lock(&svc->confirm_lock);
    c->next = svc->confirmations;
    svc->confirmations = c;
    pthread_mutex_unlock(&svc->confirm_lock);
  }
  deliveries_ack_free(ack);
}

/* Runs on the main loop's thread (kafka_publisher_poll). A partition
 * revoked meanwhile is no longer in the tracker: nothing is committed then.
 * A dead letter's copy that was refused is tried again in its next form
 * (deliveries_retry_dead_letters), never left holding the partition. */
void deliveries_on_delivered(void *ctx, void *opaque, rd_kafka_resp_err_t err) {
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
void deliveries_confirm(worker_service *svc) {
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
char *deliveries_unrun_finished(worker_service *svc, const rd_kafka_message_t *m,
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
void deliveries_retry_dead_letters(worker_service *svc) {
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
void deliveries_dead_letter(worker_service *svc, rd_kafka_message_t *m, const char *job_id,
                            const char *reason, const char *finished, bool confirm,
                            bool already_taken) {
  worker_metrics_dead_letter(svc->opts->metrics);
  bw_log_fields(svc->log, BW_LOG_WARN, "request sent to the dead-letter topic", "reason", reason,
                "job_id", job_id ? job_id : "", "topic", rd_kafka_topic_name(m->rkt), NULL);
  if (!already_taken)
    offset_tracker_take(svc->tracker, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
  offset_ack *ack;
  deliveries_ack_later(svc, m, &ack);
  ack->pending = 2; /* the DLQ record and the job.finished */
  if (confirm)
    deliveries_confirm_later(ack, job_id, finished, strlen(finished));
  ack->dlq_original = m; /* kept for the next forms of the copy, if need be */
  ack->dlq_reason = bw_strdup(reason);
  cleanup_error bw_error_t err = NULL;
  if (deliveries_publish(svc, "job.finished", job_id, finished, strlen(finished), ack, &err) < 0)
    bw_log_error(svc->log, "%s", bw_error_msg(&err));
  send_dead_letter(svc, ack); /* last: it may settle the ack */
}

/* stored: the outbox's job.finished that was never confirmed delivered; it
 * goes out first (the same bytes, so the same event_id), and the offset is
 * committed once both are delivered. */
void deliveries_duplicate(worker_service *svc, rd_kafka_message_t *m, const char *job_id,
                          long attempt, const char *why, const char *stored, bool already_taken) {
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
  deliveries_ack_later(svc, m, &ack);
  if (stored) {
    bw_log_fields(svc->log, BW_LOG_INFO,
                  "the job's job.finished was never confirmed delivered: sending it again from "
                  "the outbox",
                  "job_id", job_id, NULL);
    ack->pending = 2;
    deliveries_confirm_later(ack, job_id, stored, strlen(stored));
    if (deliveries_publish(svc, "job.finished", job_id, stored, strlen(stored), ack, &err) < 0)
      bw_log_error(svc->log, "job %s: %s", job_id, bw_error_msg(&err));
    bw_error_release(&err);
  }
  if (deliveries_publish(svc, "job.duplicate", job_id, text, strlen(text), ack, &err) < 0)
    bw_log_error(svc->log, "job %s: %s", job_id, bw_error_msg(&err));
  if (ack->pending == 0)
    deliveries_ack_free(ack);
  rd_kafka_message_destroy(m);
}

#include "service/worker_service.h"

#include "service/service_state.h"

#include "core/cleanup.h"
#include "core/thread.h"
#include "core/timeutil.h"

#include <stdlib.h>

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
      bw_log_info(svc->log, "draining: no new jobs; %d running get up to %ld s", slots_running(svc),
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
                  level == PIPELINE_CANCEL_NOW ? "killing" : "stopping", slots_running(svc));
      slots_interrupt_all(svc, level);
      interrupted = level;
    }
    if (svc->draining && slots_running(svc) == 0)
      break;
    check_fatal(svc);
    /* While jobs run, look often: a slot that frees should take the next job
     * at once, not after a long poll. Idle, a longer wait costs nothing. */
    int poll_ms = slots_running(svc) > 0 || svc->parked_count > 0 ? 5 : 100;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(svc->consumer, poll_ms);
    if (m)
      intake_handle(svc, m);
    kafka_publisher_poll(svc->pub, 0);
    deliveries_retry_dead_letters(svc);
    slots_reap(svc);
    intake_check_parked(svc);
    consumer_commit(svc, false);
    intake_update(svc);
    worker_metrics_refresh(svc->opts->metrics, svc->consumer, svc->paused, slots_running(svc));
  }
}

static void service_free(worker_service *svc) {
  for (size_t i = 0; i < svc->parked_count; i++) {
    rd_kafka_message_destroy(svc->parked[i].msg);
    free(svc->parked[i].job_id);
    free(svc->parked[i].component);
  }
  free(svc->parked);
  slots_free(svc);
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
  svc.slots = bw_xcalloc((size_t)svc.slot_count, sizeof(job_slot));
  svc.parked = bw_xcalloc(MAX_PARKED, sizeof(parked_job));
  slots_init(&svc);
  svc.store = job_store_new(opts->cfg, opts->log, opts->redis_prefix);
  svc.locks = pull_locks_new(opts->cfg, opts->log, opts->host, opts->redis_prefix);
  heartbeat_sweep_at_start(&svc);
  if (kafka_publisher_new(opts->cfg, opts->log, deliveries_on_delivered, &svc, &svc.pub, err) == 0)
    svc.pub->stop = &svc.kill_now;
  if (!svc.pub || consumer_start(&svc, err) < 0) {
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
    deliveries_retry_dead_letters(&svc);
    slots_reap(&svc);
    if (slots_running(&svc) == 0 && kafka_publisher_flush(svc.pub, 0) == 0)
      break;
  }
  slots_reap(&svc);
  consumer_commit(&svc, true);
  bw_cancel_raise(&svc.heartbeat_stop, 1);
  pthread_join(svc.heartbeat, NULL);
  deliveries_confirm(&svc); /* the heartbeat is gone: the last ones here */
  int left = kafka_publisher_flush(svc.pub, 1000);
  if (left > 0)
    bw_log_error(opts->log, "%d event(s) could not be delivered before exit", left);
  rd_kafka_consumer_close(svc.consumer);
  rd_kafka_destroy(svc.consumer);
  service_free(&svc);
  bw_log_info(opts->log, "worker stopped");
  return 0;
}

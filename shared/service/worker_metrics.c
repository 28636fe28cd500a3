#include "service/worker_metrics.h"

#include "core/error.h"
#include "job/job_status.h"
#include "core/timeutil.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFRESH_MS 1000
#define SLOW_QUERY_EVERY_MS 10000 /* broker queries for the lag, when local figures fall short */
#define SLOW_QUERY_TIMEOUT_MS 200 /* they run on the main loop: keep them short */
#define REACHABLE_MIN_MS 10000

/* Jobs last seconds to hours; their phases milliseconds (start) to hours (run). */
static const double job_buckets[] = {1,    5,    10,   30,   60,    120,   300,  600,
                                     1200, 1800, 3600, 7200, 14400, 28800, 86400};
static const double phase_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,  1,    2.5,
                                       5,     10,   30,    60,   300, 1800, 3600, 14400};
/* The phases of job.finished's phases_ms (pipeline.c). */
static const char *const phases[] = {"prepare", "pull", "start", "run", "outputs", "cleanup", NULL};
static const char *const lag_labels[] = {"topic", "partition", NULL};

/* What the lag needs beyond librdkafka's local figures, per assigned partition. */
typedef struct lag_entry {
  char *topic;
  int32_t partition;
  int64_t queried_high; /* from a broker query while paused; -1 unknown */
  int64_t committed;    /* where reading starts when nothing was read yet; -1 unknown */
} lag_entry;

struct worker_metrics {
  metrics_registry *reg;
  const char *statuses[JOB_STATUS_COUNT + 2]; /* job_status names, "interrupted", NULL */
  int interrupted_series;
  metric *jobs_started, *jobs_finished, *job_duration, *phase_duration;
  metric *pulls, *cache_hits, *pull_failures;
  metric *log_bytes, *log_dropped;
  metric *dead_letters, *duplicates, *dlq_truncated, *dlq_failed;
  metric *slots, *slots_busy, *partitions, *lag;
  /* The main loop's own (refresh). */
  int64_t last_refresh_ms;
  int64_t last_slow_ms;
  bool was_paused;
  lag_entry *lags;
  size_t lag_count;
  /* Readiness: written by the service's threads, read by the HTTP thread. */
  int64_t reachable_ms;
  atomic_bool joined;
  atomic_bool draining;
  _Atomic int64_t redis_ok_ms; /* monotonic; 0: never */
  _Atomic int64_t docker_ok_ms;
};

worker_metrics *worker_metrics_new(long slots, long heartbeat_interval_ms) {
  worker_metrics *wm = bw_xcalloc(1, sizeof(*wm));
  wm->reg = metrics_registry_new();
  for (int i = 0; i < JOB_STATUS_COUNT; i++)
    wm->statuses[i] = job_status_name((job_status)i);
  wm->interrupted_series = JOB_STATUS_COUNT;
  wm->statuses[JOB_STATUS_COUNT] = "interrupted";
  wm->reachable_ms =
      heartbeat_interval_ms * 3 > REACHABLE_MIN_MS ? heartbeat_interval_ms * 3 : REACHABLE_MIN_MS;
  metrics_registry *r = wm->reg;
  wm->jobs_started = metrics_counter(r, "bundle_worker_jobs_started_total",
                                     "Jobs this worker started.", NULL, NULL);
  wm->jobs_finished = metrics_counter(
      r, "bundle_worker_jobs_finished_total",
      "Jobs that ended on this worker, by status (interrupted: stopped by its shutdown, to run "
      "again elsewhere).",
      "status", wm->statuses);
  wm->job_duration = metrics_histogram(
      r, "bundle_worker_job_duration_seconds",
      "Wall time of a job, from taking the request to job.finished (interrupted ones excluded).",
      NULL, NULL, job_buckets, sizeof(job_buckets) / sizeof(job_buckets[0]));
  wm->phase_duration = metrics_histogram(
      r, "bundle_worker_job_phase_duration_seconds",
      "Time of each phase of a job that reached it (job.finished phases_ms).", "phase", phases,
      phase_buckets, sizeof(phase_buckets) / sizeof(phase_buckets[0]));
  wm->pulls = metrics_counter(r, "bundle_worker_image_pulls_total",
                              "Images a job pulled from a registry.", NULL, NULL);
  wm->cache_hits = metrics_counter(r, "bundle_worker_image_cache_hits_total",
                                   "Jobs whose image was already on the host.", NULL, NULL);
  wm->pull_failures = metrics_counter(r, "bundle_worker_image_pull_failures_total",
                                      "Image pulls that failed (after their retries).", NULL, NULL);
  wm->log_bytes = metrics_counter(r, "bundle_worker_job_log_bytes_total",
                                  "Bytes of output the jobs' containers printed.", NULL, NULL);
  wm->log_dropped = metrics_counter(
      r, "bundle_worker_job_log_dropped_bytes_total",
      "Bytes of output not kept (beyond jobs.log.max.bytes: the middle of a long log).", NULL,
      NULL);
  wm->dead_letters = metrics_counter(r, "bundle_worker_dead_letters_total",
                                     "Requests sent to the dead-letter topic.", NULL, NULL);
  wm->dlq_truncated = metrics_counter(
      r, "bundle_worker_dead_letters_truncated_total",
      "Dead letters sent without the whole request (too large to copy; the original stays in "
      "topic.runs, named by the dlq.source.* headers).",
      NULL, NULL);
  wm->dlq_failed = metrics_counter(
      r, "bundle_worker_dead_letter_failures_total",
      "Dead letters that could not be written even without the request: committed anyway, so "
      "the partition goes on (the worker's log names each).",
      NULL, NULL);
  wm->duplicates = metrics_counter(
      r, "bundle_worker_duplicates_total",
      "Redelivered requests not run again: their job had finished (job.duplicate).", NULL, NULL);
  wm->slots =
      metrics_gauge(r, "bundle_worker_slots", "Jobs this worker may run at once.", NULL, NULL);
  metric_set(wm->slots, 0, (double)slots);
  wm->slots_busy =
      metrics_gauge(r, "bundle_worker_slots_busy", "Job slots running a job.", NULL, NULL);
  wm->partitions = metrics_gauge(r, "bundle_worker_partitions_assigned",
                                 "Partitions of topic.runs this worker holds.", NULL, NULL);
  wm->lag = metrics_gauge_table(
      r, "bundle_worker_consumer_lag_messages",
      "Requests in an assigned partition that this worker has not read yet (high watermark "
      "minus its position).",
      lag_labels);
  return wm;
}

static void lags_free(lag_entry *lags, size_t count) {
  for (size_t i = 0; i < count; i++)
    free(lags[i].topic);
  free(lags);
}

void worker_metrics_free(worker_metrics *wm) {
  if (!wm)
    return;
  lags_free(wm->lags, wm->lag_count);
  metrics_registry_free(wm->reg);
  free(wm);
}

metrics_registry *worker_metrics_registry(worker_metrics *wm) {
  return wm ? wm->reg : NULL;
}

void worker_metrics_job_started(worker_metrics *wm) {
  if (wm)
    metric_add(wm->jobs_started, 0, 1);
}

void worker_metrics_job_finished(worker_metrics *wm, const job_result *r, bool interrupted) {
  if (!wm)
    return;
  metric_add(wm->jobs_finished, interrupted ? wm->interrupted_series : (int)r->status, 1);
  if (!interrupted)
    metric_observe(wm->job_duration, 0, (double)r->duration_ms / 1000.0);
  const char *name;
  json_t *ms;
  json_object_foreach(r->phases_ms, name, ms) {
    int series = metric_series(wm->phase_duration, name);
    if (series >= 0 && json_is_integer(ms))
      metric_observe(wm->phase_duration, series, (double)json_integer_value(ms) / 1000.0);
  }
  if (r->image == JOB_IMAGE_PULLED)
    metric_add(wm->pulls, 0, 1);
  else if (r->image == JOB_IMAGE_CACHED)
    metric_add(wm->cache_hits, 0, 1);
  else if (r->image == JOB_IMAGE_FAILED)
    metric_add(wm->pull_failures, 0, 1);
  metric_add(wm->log_bytes, 0, (double)r->log_bytes);
  metric_add(wm->log_dropped, 0, (double)r->log_bytes_dropped);
}

void worker_metrics_dead_letter(worker_metrics *wm) {
  if (wm)
    metric_add(wm->dead_letters, 0, 1);
}

void worker_metrics_dead_letter_truncated(worker_metrics *wm) {
  if (wm)
    metric_add(wm->dlq_truncated, 0, 1);
}

void worker_metrics_dead_letter_failed(worker_metrics *wm) {
  if (wm)
    metric_add(wm->dlq_failed, 0, 1);
}

void worker_metrics_duplicate(worker_metrics *wm) {
  if (wm)
    metric_add(wm->duplicates, 0, 1);
}

void worker_metrics_draining(worker_metrics *wm) {
  if (wm)
    atomic_store(&wm->draining, true);
}

/* ---- consumer lag (main loop) ---------------------------------------------- */

static lag_entry *lag_find(worker_metrics *wm, const char *topic, int32_t partition) {
  for (size_t i = 0; i < wm->lag_count; i++)
    if (wm->lags[i].partition == partition && strcmp(wm->lags[i].topic, topic) == 0)
      return &wm->lags[i];
  return NULL;
}

/* The entries of the current assignment, carrying over what is known. */
static lag_entry *lag_entries(worker_metrics *wm, const rd_kafka_topic_partition_list_t *parts) {
  lag_entry *fresh = bw_xcalloc((size_t)parts->cnt + 1, sizeof(*fresh));
  for (int i = 0; i < parts->cnt; i++) {
    const rd_kafka_topic_partition_t *p = &parts->elems[i];
    const lag_entry *old = lag_find(wm, p->topic, p->partition);
    fresh[i] = (lag_entry){.topic = bw_strdup(p->topic),
                           .partition = p->partition,
                           .queried_high = old ? old->queried_high : -1,
                           .committed = old ? old->committed : -1};
  }
  return fresh;
}

/* Nothing read yet from some partitions: reading starts at their committed offset. */
static void query_committed(rd_kafka_t *consumer, const rd_kafka_topic_partition_list_t *parts,
                            lag_entry *lags) {
  rd_kafka_topic_partition_list_t *missing = rd_kafka_topic_partition_list_new(parts->cnt);
  for (int i = 0; i < parts->cnt; i++)
    if (parts->elems[i].offset < 0 && lags[i].committed < 0)
      rd_kafka_topic_partition_list_add(missing, parts->elems[i].topic, parts->elems[i].partition);
  if (missing->cnt > 0 &&
      rd_kafka_committed(consumer, missing, SLOW_QUERY_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < missing->cnt; i++) {
      const rd_kafka_topic_partition_t *p = &missing->elems[i];
      for (int k = 0; k < parts->cnt; k++)
        if (!p->err && p->offset >= 0 && lags[k].partition == p->partition &&
            strcmp(lags[k].topic, p->topic) == 0)
          lags[k].committed = p->offset;
    }
  }
  rd_kafka_topic_partition_list_destroy(missing);
}

static void refresh_lag(worker_metrics *wm, rd_kafka_t *consumer, bool paused, int64_t now) {
  rd_kafka_topic_partition_list_t *parts = NULL;
  if (rd_kafka_assignment(consumer, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return;
  rd_kafka_position(consumer, parts);
  lag_entry *lags = lag_entries(wm, parts);
  /* librdkafka learns a high watermark from its fetches: none while paused,
   * so ask the broker as soon as intake pauses, and then now and then. */
  bool slow = now - wm->last_slow_ms >= SLOW_QUERY_EVERY_MS || (paused && !wm->was_paused);
  wm->was_paused = paused;
  if (slow) {
    wm->last_slow_ms = now;
    query_committed(consumer, parts, lags);
  }
  metric_row *rows = bw_xcalloc((size_t)parts->cnt + 1, sizeof(*rows));
  char(*numbers)[16] = bw_xcalloc((size_t)parts->cnt + 1, sizeof(*numbers));
  const char **values = bw_xcalloc((size_t)parts->cnt * 2 + 1, sizeof(char *));

  size_t n = 0;
  bool broker_failed = false;
  for (int i = 0; i < parts->cnt; i++) {
    const rd_kafka_topic_partition_t *p = &parts->elems[i];
    int64_t low = -1, high = -1;
    rd_kafka_get_watermark_offsets(consumer, p->topic, p->partition, &low, &high);
    if (slow && paused && !broker_failed) {
      int64_t qlow, qhigh;
      if (rd_kafka_query_watermark_offsets(consumer, p->topic, p->partition, &qlow, &qhigh,
                                           SLOW_QUERY_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        lags[i].queried_high = qhigh;
        if (low < 0)
          low = qlow;
      } else
        broker_failed = true; /* one slow failure per round is enough */
    }
    if (lags[i].queried_high > high)
      high = lags[i].queried_high;
    int64_t position = p->offset >= 0 ? p->offset : lags[i].committed;
    /* Never read nor committed: the worker starts at the earliest message
     * (auto.offset.reset), so everything the partition keeps is lag. */
    if (position < 0)
      position = low;
    if (high < 0 || position < 0)
      continue; /* unknown for now */
    int64_t lag = position < 0 || high < position ? 0 : high - position;
    snprintf(numbers[i], sizeof(numbers[i]), "%" PRId32, p->partition);
    values[2 * n] = p->topic;
    values[2 * n + 1] = numbers[i];
    rows[n] = (metric_row){.values = &values[2 * n], .value = (double)lag};
    n++;
  }
  metric_table_replace(wm->lag, rows, n);
  metric_set(wm->partitions, 0, parts->cnt);
  lags_free(wm->lags, wm->lag_count);
  wm->lags = lags;
  wm->lag_count = (size_t)parts->cnt;
  free(rows);
  free(numbers);
  free(values);
  rd_kafka_topic_partition_list_destroy(parts);
}

void worker_metrics_refresh(worker_metrics *wm, rd_kafka_t *consumer, bool paused, int busy) {
  if (!wm)
    return;
  metric_set(wm->slots_busy, 0, busy);
  int64_t now = bw_time_monotonic_ms();
  if (now - wm->last_refresh_ms < REFRESH_MS)
    return;
  wm->last_refresh_ms = now;
  /* A member id: the consumer has joined its group (with or without partitions). */
  char *member = rd_kafka_memberid(consumer);
  atomic_store(&wm->joined, member && *member);
  if (member)
    rd_kafka_mem_free(consumer, member);
  refresh_lag(wm, consumer, paused, now);
}

/* ---- readiness -------------------------------------------------------------- */

void worker_metrics_redis_reached(worker_metrics *wm, bool ok) {
  if (wm && ok)
    atomic_store(&wm->redis_ok_ms, bw_time_monotonic_ms());
}

void worker_metrics_docker_reached(worker_metrics *wm, bool ok) {
  if (wm && ok)
    atomic_store(&wm->docker_ok_ms, bw_time_monotonic_ms());
}

static bool recent(int64_t ok_ms, int64_t now, int64_t window) {
  return ok_ms > 0 && now - ok_ms <= window;
}

bool worker_metrics_ready(void *ctx, char *reason, size_t len) {
  worker_metrics *wm = ctx;
  int64_t now = bw_time_monotonic_ms();
  long window_s = (long)(wm->reachable_ms / 1000);
  if (atomic_load(&wm->draining))
    snprintf(reason, len, "draining: the worker is shutting down");
  else if (!atomic_load(&wm->joined))
    snprintf(reason, len, "kafka: not in the consumer group yet");
  else if (!recent(atomic_load(&wm->redis_ok_ms), now, wm->reachable_ms))
    snprintf(reason, len, "redis: no heartbeat stored in the last %ld s", window_s);
  else if (!recent(atomic_load(&wm->docker_ok_ms), now, wm->reachable_ms))
    snprintf(reason, len, "docker: the Engine did not answer in the last %ld s", window_s);
  else
    return true;
  return false;
}

/* What `bundle-worker serve` measures and how ready it is: the worker's
 * metrics (bundle_worker_*, docs/metrics.md) over a metrics_registry, and the
 * state behind /readyz. The service reports into it from its threads (every
 * function is thread-safe and does nothing when given NULL); the HTTP server
 * reads it on its own thread. */
#pragma once

#include "service/metrics.h"
#include "pipeline/pipeline.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct worker_metrics worker_metrics;

/* heartbeat_interval_ms: Redis and the Engine count as reachable while their
 * last good answer is younger than three of these (and at least 10 s). */
worker_metrics *worker_metrics_new(long slots, long heartbeat_interval_ms);
void worker_metrics_free(worker_metrics *wm); /* accepts NULL */
metrics_registry *worker_metrics_registry(worker_metrics *wm);

/* The main loop. */
void worker_metrics_job_started(worker_metrics *wm);
/* A job slot was reaped; interrupted: stopped by this worker's shutdown. */
void worker_metrics_job_finished(worker_metrics *wm, const job_result *r, bool interrupted);
void worker_metrics_dead_letter(worker_metrics *wm);
void worker_metrics_dead_letter_truncated(worker_metrics *wm);
void worker_metrics_dead_letter_failed(worker_metrics *wm);
void worker_metrics_duplicate(worker_metrics *wm);
void worker_metrics_draining(worker_metrics *wm);
/* Every loop: slots busy; once a second also group membership and the lag of
 * each assigned partition (local figures; while intake is paused, or for a
 * partition not read yet, a short broker query every 10 s). */
void worker_metrics_refresh(worker_metrics *wm, rd_kafka_t *consumer, bool paused, int busy);

/* The heartbeat thread: did Redis take the heartbeat, did the Engine answer? */
void worker_metrics_redis_reached(worker_metrics *wm, bool ok);
void worker_metrics_docker_reached(worker_metrics *wm, bool ok);

/* /readyz: true when in the consumer group, not draining, and Redis and the
 * Engine answered recently; else false and a short reason. A
 * metrics_ready_fn (metrics_http.h): ctx is the worker_metrics. */
bool worker_metrics_ready(void *ctx, char *reason, size_t len);

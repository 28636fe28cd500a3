/* `bundle-worker serve`: one stateless worker of a consumer group.
 *
 *   Kafka topic.runs --(consumer, cooperative-sticky)--> main loop
 *     main loop: parse and check each request (bad ones go to topic.dlq),
 *                claim its lease in Redis, hand it to a free job slot,
 *                pause the partitions while every slot is busy, commit
 *                offsets once their job.finished is acknowledged
 *     job slot (a thread): the pipeline of `bundle-worker run`; events go
 *                to topic.events (and topic.uploads) through the publisher
 *     heartbeat (a thread): worker key, lease extension, cancel flags,
 *                pull-lock refresh, orphaned containers
 *
 * Nothing in a worker assumes it is alone: leases and state records in Redis
 * decide who runs a redelivered job (docs/service.md). */
#pragma once

#include "job/components.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "service/worker_metrics.h"

#include <signal.h>

typedef struct worker_service_opts {
  const bw_config *cfg;
  const component_registry *components;
  const bw_logger *log;
  const char *host;
  /* Signals received: 1 drains (stop intake, let jobs finish within
   * worker.drain.timeout.seconds, then interrupt them), 2 interrupts at once. */
  const volatile sig_atomic_t *signals; /* read by the main loop (the signals' thread) */
  const char *redis_prefix;             /* "bw:" */
  worker_metrics *metrics;              /* what /metrics and /readyz show; may be NULL */
} worker_service_opts;

/* Runs until drained; returns 0, or -1 when it could not start. */
int worker_service_run(const worker_service_opts *opts, bw_error_t *err);

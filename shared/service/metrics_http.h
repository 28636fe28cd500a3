/* The HTTP endpoints of `bundle-worker serve` (docs/metrics.md), served by
 * libmicrohttpd on one internal thread:
 *   GET /metrics  the registry in the Prometheus text format 0.0.4
 *   GET /healthz  200 while the process serves requests (liveness)
 *   GET /readyz   200 when ready(ctx) says so, else 503 and its reason
 * HEAD as GET without a body; 405 for other methods, 404 for other paths. */
#pragma once

#include "core/error.h"
#include "core/log.h"
#include "service/metrics.h"

#include <stdbool.h>
#include <stddef.h>

/* Called on the server's thread: must be thread-safe. */
typedef bool (*metrics_ready_fn)(void *ctx, char *reason, size_t len);

typedef struct metrics_server metrics_server;

/* Binds `addr` ("HOST:PORT", "[IPV6]:PORT", ":PORT" for every address;
 * the syntax of bw_config_listen_parse) and starts serving. `key` names the
 * setting in error messages ("metrics.listen"). reg, ready's ctx and log
 * must outlive the server. */
int metrics_server_start(const char *key, const char *addr, metrics_registry *reg,
                         metrics_ready_fn ready, void *ready_ctx, const bw_logger *log,
                         metrics_server **out, bw_error_t *err);
/* The port it listens on (useful with port 0). */
int metrics_server_port(const metrics_server *s);
/* Stops the thread and closes the socket; accepts NULL. */
void metrics_server_stop(metrics_server *s);

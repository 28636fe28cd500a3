/* bundle-worker serve: one worker of the consumer group (docs/service.md). */
#include "cli.h"
#include "commands.h"

#include "core/cleanup.h"
#include "job/components.h"
#include "clients/job_store.h"
#include "service/metrics_http.h"
#include "service/worker_metrics.h"
#include "service/worker_service.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The one mutable global: how many stop signals arrived (set by the
 * handler, which runs on the main thread only: every other thread blocks
 * signals, shared/core/thread.h), read by the main loop. */
static volatile sig_atomic_t stop_signals;

static const char usage[] =
    "usage: bundle-worker serve [OPTIONS]\n\n"
    "Takes run requests from Kafka (topic.runs) in the consumer group kafka.group.id\n"
    "(default bundle-workers), runs up to worker.slots jobs at once, publishes their\n"
    "events to topic.events and topic.uploads, and sends requests that cannot run to\n"
    "topic.dlq. Redis holds image-pull locks, job leases and heartbeats.\n"
    "SIGTERM or SIGINT drains: no new jobs, running ones get worker.drain.timeout.seconds,\n"
    "then they are stopped and their requests left for redelivery. A second signal\n"
    "stops them at once.\n"
    "metrics.listen (default 127.0.0.1:9464; off disables) serves /metrics (Prometheus),\n"
    "/healthz and /readyz (docs/metrics.md).\n\n"
    "options:\n"
    "  -C, --components FILE  registered components (default: components.file)\n"
    "      --redis-prefix P   prefix of every Redis key (default bw:)\n" CLI_COMMON_HELP;

static void on_signal(int sig) {
  stop_signals++;
}

int cmd_serve(int argc, char **argv) {
  static const struct option long_options[] = {{"components", required_argument, NULL, 'C'},
                                               {"redis-prefix", required_argument, NULL, 'P'},
                                               CLI_COMMON_LONG_OPTIONS,
                                               {NULL, 0, NULL, 0}};
  cli_context ctx;
  cli_init(&ctx);
  cleanup_error bw_error_t err = NULL;
  component_registry reg = {0};
  const char *components_path = NULL;
  const char *redis_prefix = JOB_STORE_DEFAULT_PREFIX;
  worker_metrics *metrics = NULL;
  metrics_server *server = NULL;
  cleanup_free char *listen_host = NULL;
  int listen_port = 0;
  int rc = EXIT_OK, opt;
  cli_args args = {"serve", argc, argv, "C:" CLI_COMMON_SHORT_OPTIONS, long_options, usage, -1};
  while (cli_next_option(&ctx, &args, &opt)) {
    if (opt == 'C') {
      components_path = optarg;
      continue;
    }
    if (opt == 'P') {
      redis_prefix = optarg;
      continue;
    }
  }
  int exit_now = cli_begin(&ctx, &args, 0, 0, "");
  if (exit_now >= 0) {
    rc = exit_now;
    goto out;
  }
  if (cli_load_components(&ctx, "serve", components_path, true, &reg) < 0) {
    rc = EXIT_USAGE;
    goto out;
  }
  /* Before anything connects: a port in use is a start-up error, said at once. */
  metrics = worker_metrics_new(ctx.cfg.worker_slots, ctx.cfg.worker_heartbeat_interval_ms);
  const char *addr = ctx.cfg.metrics_listen;
  if (bw_config_listen_parse(addr, &listen_host, &listen_port) > 0) {
    if (metrics_server_start("metrics.listen", addr, worker_metrics_registry(metrics),
                             worker_metrics_ready, metrics, &ctx.log, &server, &err) < 0) {
      fprintf(stderr, "bundle-worker serve: %s\n", bw_error_msg(&err));
      rc = EXIT_FAILED;
      goto out;
    }
    char port[8];
    snprintf(port, sizeof(port), "%d", metrics_server_port(server));
    bw_log_fields(&ctx.log, BW_LOG_INFO, "metrics and probes listening", "listen", addr, "port",
                  port, NULL);
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGINT); /* one handler at a time: the count stays right */
  sigaddset(&sa.sa_mask, SIGTERM);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  const char *host = ctx.cfg.worker_host;
  worker_service_opts opts = {.cfg = &ctx.cfg,
                              .components = &reg,
                              .log = &ctx.log,
                              .host = host,
                              .signals = &stop_signals,
                              .redis_prefix = redis_prefix,
                              .metrics = metrics};
  if (worker_service_run(&opts, &err) < 0) {
    fprintf(stderr, "bundle-worker serve: %s\n", bw_error_msg(&err));
    rc = EXIT_FAILED;
  }
out:
  metrics_server_stop(server);
  worker_metrics_free(metrics);
  components_free(&reg);
  cli_free(&ctx);
  return rc;
}

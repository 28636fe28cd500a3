/* bundle-worker run [--components FILE] JOB.json|-: one job, end to end, with
 * nothing but a Docker Engine. Events go to standard output as JSON lines;
 * the exit status says how the job ended. */
#include "cli.h"
#include "commands.h"

#include "core/cleanup.h"
#include "job/components.h"
#include "pipeline/pipeline.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The one mutable global: set by the signal handler, read by the pipeline
 * (on this thread) and its transfers. A lock-free atomic, which C11 lets a
 * handler write (7.14.1.1) like a volatile sig_atomic_t, and which every
 * thread reads safely. */
static bw_cancel cancel_requested;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal flag must be a lock-free atomic");

static const char usage[] =
    "usage: bundle-worker run [OPTIONS] JOB.json\n"
    "       bundle-worker run [OPTIONS] -        (the request on standard input)\n\n"
    "Runs one job: pulls the component's image, prepares /data, runs the container\n"
    "with its limits, follows and masks its logs, classifies how it ended, stores\n"
    "its outputs, cleans up. Writes events as JSON lines to standard output.\n"
    "SIGINT or SIGTERM stops the job (status cancelled).\n\n"
    "exit status (the job's status):\n"
    "  0 success            1 user_error          2 bad arguments or configuration\n"
    "  3 rejected           4 application_error   5 timeout\n"
    "  6 oom                7 cancelled           8 infra_error\n"
    "  9 disk_limit\n\n"
    "options:\n"
    "  -C, --components FILE  registered components (default: components.file)\n" CLI_COMMON_HELP;

static void on_signal(int sig) {
  bw_cancel_raise(&cancel_requested, PIPELINE_CANCEL_STOP);
}

int cmd_run(int argc, char **argv) {
  static const struct option long_options[] = {
      {"components", required_argument, NULL, 'C'}, CLI_COMMON_LONG_OPTIONS, {NULL, 0, NULL, 0}};
  cli_context ctx;
  cli_init(&ctx);
  const char *components_path = NULL;
  int rc = EXIT_OK, opt;
  cleanup_free char *request = NULL;
  size_t request_len = 0;
  component_registry reg = {0};
  cli_args args = {"run", argc, argv, "C:" CLI_COMMON_SHORT_OPTIONS, long_options, usage, -1};
  while (cli_next_option(&ctx, &args, &opt)) {
    if (opt == 'C') {
      components_path = optarg;
      continue;
    }
  }
  int exit_now = cli_begin(&ctx, &args, 1, 1, "JOB.json (or - for standard input)");
  if (exit_now >= 0) {
    rc = exit_now;
    goto out;
  }
  const char *job_path = argv[optind];
  if (cli_read_file(job_path, &request, &request_len) < 0) {
    fprintf(stderr, "bundle-worker run: %s: %s\n", job_path, strerror(errno));
    rc = EXIT_USAGE;
    goto out;
  }
  if (cli_load_components(&ctx, "run", components_path, true, &reg) < 0) {
    rc = EXIT_USAGE;
    goto out;
  }

  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  const char *host = ctx.cfg.worker_host;
  event_sink sink = {.emit = event_sink_stdout, .ctx = stdout};
  pipeline_env env = {.cfg = &ctx.cfg,
                      .components = &reg,
                      .log = &ctx.log,
                      .sink = &sink,
                      .cancel = &cancel_requested,
                      .host = host};
  job_result result;
  pipeline_run(&env, request, request_len, &result);
  rc = cli_exit_status_of(result.status);
  job_result_free(&result);
out:
  components_free(&reg);
  cli_free(&ctx);
  return rc;
}

/* bundle-worker cancel JOB_ID...: asks whichever worker runs a job to stop it.
 * The flag lives in Redis; the owning worker sees it at its next heartbeat,
 * stops the container and reports the job as cancelled. */
#include "cli.h"
#include "commands.h"

#include "core/cleanup.h"
#include "job/job_request.h"
#include "clients/job_store.h"

#include <stdio.h>

static const char usage[] =
    "usage: bundle-worker cancel [OPTIONS] JOB_ID...\n\n"
    "Stops each job wherever it runs (within a heartbeat, worker.heartbeat.interval.ms);\n"
    "its job.finished says cancelled. A job that has not started yet is cancelled as\n"
    "soon as a worker starts it, for a day.\n\n"
    "options:\n"
    "      --redis-prefix P   prefix of every Redis key (default bw:)\n" CLI_COMMON_HELP;

int cmd_cancel(int argc, char **argv) {
  static const struct option long_options[] = {
      {"redis-prefix", required_argument, NULL, 'P'}, CLI_COMMON_LONG_OPTIONS, {NULL, 0, NULL, 0}};
  cli_context ctx;
  cli_init(&ctx);
  const char *redis_prefix = JOB_STORE_DEFAULT_PREFIX;
  job_store *store = NULL;
  int rc = EXIT_OK, opt;
  cli_args args = {"cancel", argc, argv, CLI_COMMON_SHORT_OPTIONS, long_options, usage, -1};
  while (cli_next_option(&ctx, &args, &opt)) {
    if (opt == 'P') {
      redis_prefix = optarg;
      continue;
    }
  }
  int exit_now = cli_begin(&ctx, &args, 1, -1, "JOB_ID");
  if (exit_now >= 0) {
    rc = exit_now;
    goto out;
  }
  store = job_store_new(&ctx.cfg, &ctx.log, redis_prefix);
  for (int i = optind; i < argc; i++) {
    cleanup_error bw_error_t err = NULL;
    if (!job_id_valid(argv[i])) {
      fprintf(stderr, "bundle-worker cancel: '%s' is not a job id\n", argv[i]);
      rc = EXIT_USAGE;
      continue;
    }
    if (job_store_cancel_request(store, argv[i], &err) < 0) {
      fprintf(stderr, "bundle-worker cancel: %s: %s\n", argv[i], bw_error_msg(&err));
      rc = EXIT_FAILED;
      continue;
    }
    printf("cancel requested: %s\n", argv[i]);
  }
out:
  job_store_free(store);
  cli_free(&ctx);
  return rc;
}

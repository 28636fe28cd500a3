/* bundle-worker submit [--wait] FILE...|-: validates run requests with the
 * worker's own validator, produces them to topic.runs (key = job_id), prints
 * their ids; with --wait follows topic.events until each job has finished. */
#include "cli.h"
#include "commands.h"

#include "core/cleanup.h"
#include "job/components.h"
#include "ops/event_follow.h"
#include "ops/job_waits.h"
#include "job/job_request.h"
#include "clients/kafka_client.h"
#include "ops/run_requests.h"
#include "core/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: bundle-worker submit [OPTIONS] JOB.json...   (or - for standard input)\n\n"
    "Checks each request (as the worker will), sends it to topic.runs and prints its\n"
    "job id. Nothing is sent when any request is invalid (exit 3).\n\n"
    "options:\n"
    "  -w, --wait             follow topic.events until every job has finished; print\n"
    "                         one line per job; exit 1 if any did not succeed\n"
    "  -t, --timeout S        give up waiting after S seconds (default 3600; exit 8)\n"
    "  -C, --components FILE  registered components (default: components.file)\n" CLI_COMMON_HELP;

typedef struct submitted {
  char *job_id;
  char *payload;
  size_t len;
} submitted;

/* Follows the events until each job has ended (job_waits.h), printing one
 * line per job as it ends; returns how many are still open. */
static size_t follow(event_follow *events, job_waits *waits, long timeout_s) {
  int64_t deadline = bw_time_monotonic_ms() + timeout_s * 1000;
  while (job_waits_open(waits) > 0 && bw_time_monotonic_ms() < deadline) {
    cleanup_error bw_error_t err = NULL;
    const json_t *ev = NULL;
    const char *raw = NULL;
    size_t raw_len = 0;
    int got = event_follow_next(events, 200, &ev, &raw, &raw_len, &err);
    if (got < 0) {
      fprintf(stderr, "bundle-worker submit: %s\n", bw_error_msg(&err));
      break;
    }
    job_end end;
    if (got == 0 || !ev || !job_waits_feed(waits, ev, &end))
      continue;
    printf("%s  %s", end.job_id, end.status);
    if (json_is_integer(end.exit_code))
      printf("  exit %lld", (long long)json_integer_value(end.exit_code));
    if (end.message && *end.message)
      printf("  %s", end.message);
    printf("\n");
    fflush(stdout);
  }
  return job_waits_open(waits);
}

static int produce_all(const bw_config *cfg, const submitted *jobs, size_t n, bw_error_t *err) {
  run_request_msg *msgs = bw_xcalloc(n ? n : 1, sizeof(*msgs));
  for (size_t i = 0; i < n; i++)
    msgs[i] = (run_request_msg){jobs[i].job_id, jobs[i].payload, jobs[i].len};
  int rc = run_requests_send(cfg, msgs, n, NULL, err);
  free(msgs);
  return rc;
}

/* Reads and checks every request (against the components when given) into
 * jobs[]; *n counts the ones read, for freeing. EXIT_OK, or the status to
 * exit with, the reason printed. */
static int check_all(char **paths, int count, const component_registry *reg, submitted *jobs,
                     size_t *n) {
  cleanup_error bw_error_t err = NULL;
  for (int i = 0; i < count; i++) {
    submitted *s = &jobs[*n];
    if (cli_read_file(paths[i], &s->payload, &s->len) < 0) {
      fprintf(stderr, "bundle-worker submit: %s: %s\n", paths[i], strerror(errno));
      return EXIT_USAGE;
    }
    (*n)++;
    cleanup_job_request job_request req;
    if (job_request_parse(s->payload, s->len, &req, &err) < 0) {
      fprintf(stderr, "bundle-worker submit: %s: %s\n", paths[i], bw_error_msg(&err));
      return EXIT_REJECTED;
    }
    s->job_id = bw_strdup(req.job_id);
    job_plan plan;
    if (reg && job_plan_resolve(&req, reg, &plan, &err) < 0) {
      fprintf(stderr, "bundle-worker submit: %s: %s\n", paths[i], bw_error_msg(&err));
      return EXIT_REJECTED;
    }
    if (reg)
      job_plan_free(&plan);
  }
  return EXIT_OK;
}

/* --wait: one line per job as it ends (job_waits decides); the exit status. */
static int wait_all(event_follow *events, const submitted *jobs, size_t n, long timeout_s) {
  const char **ids = bw_xcalloc(n ? n : 1, sizeof(*ids));
  for (size_t i = 0; i < n; i++)
    ids[i] = jobs[i].job_id;
  job_waits *waits = job_waits_new(ids, n);
  free(ids);
  int rc = EXIT_OK;
  size_t open = follow(events, waits, timeout_s);
  if (open > 0) {
    fprintf(stderr, "bundle-worker submit: %zu job(s) had not finished after %ld s\n", open,
            timeout_s);
    rc = EXIT_UNAVAILABLE;
  } else if (!job_waits_all_succeeded(waits)) {
    rc = EXIT_FAILED;
  }
  job_waits_free(waits);
  return rc;
}

int cmd_submit(int argc, char **argv) {
  static const struct option long_options[] = {{"wait", no_argument, NULL, 'w'},
                                               {"timeout", required_argument, NULL, 't'},
                                               {"components", required_argument, NULL, 'C'},
                                               CLI_COMMON_LONG_OPTIONS,
                                               {NULL, 0, NULL, 0}};
  cli_context ctx;
  cli_init(&ctx);
  cleanup_error bw_error_t err = NULL;
  component_registry reg = {0};
  bool have_components = false, wait = false;
  long timeout_s = 3600;
  const char *components_path = NULL;
  submitted *jobs = NULL;
  size_t n = 0;
  event_follow *events = NULL;
  int rc = EXIT_OK, opt;
  cli_args args = {"submit", argc, argv, "wt:C:" CLI_COMMON_SHORT_OPTIONS, long_options, usage, -1};
  while (cli_next_option(&ctx, &args, &opt)) {
    if (opt == 'w') {
      wait = true;
      continue;
    }
    if (opt == 't') {
      char *end = NULL;
      timeout_s = strtol(optarg, &end, 10);
      if (!*optarg || *end || timeout_s <= 0) {
        args.exit = cli_usage_error("submit", "--timeout: expected seconds, got '%s'", optarg);
        continue;
      }
      continue;
    }
    if (opt == 'C') {
      components_path = optarg;
      continue;
    }
  }
  int exit_now = cli_begin(&ctx, &args, 1, -1, "JOB.json (or - for standard input)");
  if (exit_now >= 0) {
    rc = exit_now;
    goto out;
  }
  int loaded = cli_load_components(&ctx, "submit", components_path, false, &reg);
  if (loaded < 0) {
    rc = EXIT_USAGE;
    goto out;
  }
  have_components = loaded > 0;
  /* Every request is checked before any is sent. */
  jobs = bw_xcalloc((size_t)(argc - optind), sizeof(*jobs));
  rc = check_all(argv + optind, argc - optind, have_components ? &reg : NULL, jobs, &n);
  if (rc != EXIT_OK)
    goto out;
  if (wait && event_follow_open(&ctx.cfg, "submit", EVENT_FOLLOW_END, 0, &events, &err) < 0) {
    fprintf(stderr, "bundle-worker submit: %s\n", bw_error_msg(&err));
    rc = EXIT_UNAVAILABLE;
    goto out;
  }
  if (produce_all(&ctx.cfg, jobs, n, &err) < 0) {
    fprintf(stderr, "bundle-worker submit: %s\n", bw_error_msg(&err));
    /* A request larger than the topic takes is refused, not a broker down. */
    rc = err->kind == BW_ERR_INVALID ? EXIT_REJECTED : EXIT_UNAVAILABLE;
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    printf("submitted %s\n", jobs[i].job_id);
  fflush(stdout);
  if (!wait)
    goto out;
  rc = wait_all(events, jobs, n, timeout_s);
out:
  event_follow_close(events);
  for (size_t i = 0; i < n; i++) {
    free(jobs[i].job_id);
    free(jobs[i].payload);
  }
  free(jobs);
  components_free(&reg);
  cli_free(&ctx);
  return rc;
}

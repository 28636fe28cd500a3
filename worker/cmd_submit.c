/* bundle-worker submit [--wait] FILE...|-: validates run requests with the
 * worker's own validator, produces them to topic.runs (key = job_id), prints
 * their ids; with --wait follows topic.events until each job has finished. */
#include "cli.h"
#include "commands.h"

#include "core/cleanup.h"
#include "job/components.h"
#include "ops/event_follow.h"
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
  char *status; /* once finished */
} submitted;

static int read_request(const char *path, char **out, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
  if (!f)
    return -1;
  char *buf = NULL;
  size_t cap = 0;
  FILE *mem = open_memstream(&buf, &cap);
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    fwrite(chunk, 1, n, mem);
  int failed = ferror(f);
  fclose(mem);
  if (f != stdin)
    fclose(f);
  if (failed) {
    free(buf);
    return -1;
  }
  *out = buf;
  *len = cap;
  return 0;
}

static submitted *find(submitted *jobs, size_t n, const char *job_id) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(jobs[i].job_id, job_id) == 0)
      return &jobs[i];
  return NULL;
}

/* Follows the events until each job has its job.finished (or job.duplicate
 * saying it had finished before); returns how many are still open. */
static size_t follow(event_follow *events, submitted *jobs, size_t n, long timeout_s) {
  size_t open = n;
  int64_t deadline = bw_time_monotonic_ms() + timeout_s * 1000;
  while (open > 0 && bw_time_monotonic_ms() < deadline) {
    cleanup_error bw_error_t err = NULL;
    const json_t *ev = NULL;
    const char *raw = NULL;
    size_t raw_len = 0;
    int got = event_follow_next(events, 200, &ev, &raw, &raw_len, &err);
    if (got < 0) {
      fprintf(stderr, "bundle-worker submit: %s\n", bw_error_msg(&err));
      break;
    }
    if (got == 0 || !ev)
      continue;
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *job_id = json_string_value(json_object_get(ev, "job_id"));
    submitted *s = job_id ? find(jobs, n, job_id) : NULL;
    const char *status = NULL;
    if (s && type && strcmp(type, "job.finished") == 0)
      status = json_string_value(json_object_get(ev, "status"));
    else if (s && type && strcmp(type, "job.duplicate") == 0)
      status = json_string_value(json_object_get(json_object_get(ev, "record"), "status"));
    if (s && status && !s->status) {
      s->status = bw_strdup(status);
      json_t *code = json_object_get(ev, "exit_code");
      const char *msg = json_string_value(json_object_get(ev, "message"));
      printf("%s  %s", job_id, status);
      if (json_is_integer(code))
        printf("  exit %lld", (long long)json_integer_value(code));
      if (msg && *msg)
        printf("  %s", msg);
      printf("\n");
      fflush(stdout);
      open--;
    }
  }
  return open;
}

static int produce_all(const bw_config *cfg, const submitted *jobs, size_t n, bw_error_t *err) {
  run_request_msg *msgs = bw_xcalloc(n ? n : 1, sizeof(*msgs));
  for (size_t i = 0; i < n; i++)
    msgs[i] = (run_request_msg){jobs[i].job_id, jobs[i].payload, jobs[i].len};
  int rc = run_requests_send(cfg, msgs, n, err);
  free(msgs);
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
  if (args.exit >= 0) {
    rc = args.exit;
    goto out;
  }
  if (optind >= argc) {
    rc = cli_usage_error("submit", "missing JOB.json (or - for standard input)");
    goto out;
  }
  if (cli_load_config(&ctx, "submit") < 0) {
    rc = EXIT_USAGE;
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
  for (int i = optind; i < argc; i++) {
    submitted *s = &jobs[n];
    if (read_request(argv[i], &s->payload, &s->len) < 0) {
      fprintf(stderr, "bundle-worker submit: %s: %s\n", argv[i], strerror(errno));
      rc = EXIT_USAGE;
      goto out;
    }
    n++;
    cleanup_job_request job_request req;
    if (job_request_parse(s->payload, s->len, &req, &err) < 0) {
      fprintf(stderr, "bundle-worker submit: %s: %s\n", argv[i], bw_error_msg(&err));
      rc = EXIT_REJECTED;
      goto out;
    }
    s->job_id = bw_strdup(req.job_id);
    job_plan plan;
    if (have_components) {
      if (job_plan_resolve(&req, &reg, &plan, &err) < 0) {
        fprintf(stderr, "bundle-worker submit: %s: %s\n", argv[i], bw_error_msg(&err));
        rc = EXIT_REJECTED;
        goto out;
      }
      job_plan_free(&plan);
    }
  }
  if (wait && event_follow_open(&ctx.cfg, "submit", EVENT_FOLLOW_END, 0, &events, &err) < 0) {
    fprintf(stderr, "bundle-worker submit: %s\n", bw_error_msg(&err));
    rc = EXIT_UNAVAILABLE;
    goto out;
  }
  if (produce_all(&ctx.cfg, jobs, n, &err) < 0) {
    fprintf(stderr, "bundle-worker submit: %s\n", bw_error_msg(&err));
    rc = EXIT_UNAVAILABLE;
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    printf("submitted %s\n", jobs[i].job_id);
  fflush(stdout);
  if (!wait)
    goto out;
  size_t open = follow(events, jobs, n, timeout_s);
  if (open > 0) {
    fprintf(stderr, "bundle-worker submit: %zu job(s) had not finished after %ld s\n", open,
            timeout_s);
    rc = EXIT_UNAVAILABLE;
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    if (strcmp(jobs[i].status, "success") != 0)
      rc = EXIT_FAILED;
out:
  event_follow_close(events);
  for (size_t i = 0; i < n; i++) {
    free(jobs[i].job_id);
    free(jobs[i].payload);
    free(jobs[i].status);
  }
  free(jobs);
  components_free(&reg);
  cli_free(&ctx);
  return rc;
}

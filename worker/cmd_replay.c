/* bundle-worker replay: finds failed jobs in topic.events (job.finished) and
 * topic.dlq by time window, job id, component and status, and sends each
 * original request again as its next attempt (shared/ops/replay.h explains why
 * replaying twice never runs a job twice). */
#include "cli.h"
#include "commands.h"

#include "core/cleanup.h"
#include "job/job_request.h"
#include "clients/job_store.h"
#include "ops/replay.h"
#include "ops/replay_run.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_WINDOW "7d" /* how long a job's Redis record lives */
#define MAX_LISTED 256

static const char usage[] =
    "usage: bundle-worker replay [OPTIONS]\n\n"
    "Selects failed jobs from topic.events (their job.finished) and topic.dlq within a\n"
    "time window, and sends each original request again to topic.runs as its next\n"
    "attempt (with replay_of). A job that has succeeded since, runs now, or was already\n"
    "run again is skipped; replaying the same selection twice runs nothing twice.\n\n"
    "options:\n"
    "  -s, --status LIST      statuses to select (default: user_error,application_error,\n"
    "                         timeout,oom,infra_error,rejected; cancelled only when named)\n"
    "  -j, --job ID           only this job (repeat for more)\n"
    "  -m, --component ID     only jobs of this component (repeat for more)\n"
    "      --since TIME       window start: 2026-11-28T03:00:00Z, 2026-11-28, or an age\n"
    "                         like 30m, 2h, 7d (default " DEFAULT_WINDOW ")\n"
    "      --until TIME       window end (default: now)\n"
    "      --source WHERE     events, dlq or all (default all)\n"
    "  -n, --dry-run          list what would be sent, send nothing\n"
    "      --json             one JSON object per job instead of a table\n"
    "  -C, --components FILE  registered components (default: components.file)\n"
    "      --redis-prefix P   prefix of every Redis key (default bw:)\n" CLI_COMMON_HELP;

typedef struct replay_opts {
  replay_filter filter;
  const char *job_ids[MAX_LISTED];
  const char *components[MAX_LISTED];
  const char *since;
  const char *until;
  bool from_events;
  bool from_dlq;
  bool dry_run;
  bool json;
  const char *components_file;
  const char *redis_prefix;
} replay_opts;

static int parse_args(int argc, char **argv, cli_context *ctx, replay_opts *o) {
  static const struct option long_options[] = {{"status", required_argument, NULL, 's'},
                                               {"job", required_argument, NULL, 'j'},
                                               {"component", required_argument, NULL, 'm'},
                                               {"since", required_argument, NULL, 'S'},
                                               {"until", required_argument, NULL, 'U'},
                                               {"source", required_argument, NULL, 'F'},
                                               {"dry-run", no_argument, NULL, 'n'},
                                               {"json", no_argument, NULL, 'J'},
                                               {"components", required_argument, NULL, 'C'},
                                               {"redis-prefix", required_argument, NULL, 'P'},
                                               CLI_COMMON_LONG_OPTIONS,
                                               {NULL, 0, NULL, 0}};
  int opt;
  cli_args args = {"replay",     argc,  argv, "s:j:m:nC:" CLI_COMMON_SHORT_OPTIONS,
                   long_options, usage, -1};
  while (cli_next_option(ctx, &args, &opt)) {
    cleanup_error bw_error_t err = NULL;
    switch (opt) {
    case 's':
      if (replay_parse_statuses(optarg, &o->filter.statuses, &err) < 0)
        return cli_usage_error("replay", "--status: %s", bw_error_msg(&err));
      break;
    case 'j':
    case 'm': {
      bool job = opt == 'j';
      size_t *n = job ? &o->filter.job_id_count : &o->filter.component_count;
      if (*n == MAX_LISTED)
        return cli_usage_error("replay", "at most %d of --%s", MAX_LISTED,
                               job ? "job" : "component");
      if (job && !job_id_valid(optarg))
        return cli_usage_error("replay", "--job: '%s' is not a job id", optarg);
      (job ? o->job_ids : o->components)[(*n)++] = optarg;
      break;
    }
    case 'S':
      o->since = optarg;
      break;
    case 'U':
      o->until = optarg;
      break;
    case 'F':
      o->from_events = strcmp(optarg, "events") == 0 || strcmp(optarg, "all") == 0;
      o->from_dlq = strcmp(optarg, "dlq") == 0 || strcmp(optarg, "all") == 0;
      if (!o->from_events && !o->from_dlq)
        return cli_usage_error("replay", "--source: '%s' is not events, dlq or all", optarg);
      break;
    case 'n':
      o->dry_run = true;
      break;
    case 'J':
      o->json = true;
      break;
    case 'C':
      o->components_file = optarg;
      break;
    case 'P':
      o->redis_prefix = optarg;
      break;
    }
  }
  if (args.exit >= 0)
    return args.exit;
  if (optind < argc)
    return cli_usage_error("replay", "unexpected argument '%s' (select with --job)", argv[optind]);
  return -1; /* go on */
}

static const char *action_of(const replay_candidate *c, bool dry_run) {
  return !c->send ? "skipped" : dry_run ? "would send" : c->delivered ? "sent" : "not sent";
}

static void print_result(const replay_candidate *c, const replay_opts *o) {
  if (o->json) {
    cleanup_json json_t *row = json_pack(
        "{s:s, s:s?, s:s, s:I, s:s, s:s}", "job_id", c->job_id, "component", c->component, "status",
        c->status, "attempt", (json_int_t)c->attempt, "source",
        c->source == REPLAY_FROM_DLQ ? "dlq" : "events", "action", action_of(c, o->dry_run));
    if (c->send)
      json_object_set_new(row, "new_attempt", json_integer(c->new_attempt));
    if (c->why)
      json_object_set_new(row, "why", json_string(c->why));
    json_dumpf(row, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    return;
  }
  char attempts[48];
  if (c->send)
    snprintf(attempts, sizeof(attempts), "%ld -> %ld", c->attempt, c->new_attempt);
  else
    snprintf(attempts, sizeof(attempts), "%ld", c->attempt);
  printf("%-28s %-9s %-17s %-6s %s%s%s\n", c->job_id, attempts, c->status,
         c->source == REPLAY_FROM_DLQ ? "dlq" : "events", action_of(c, o->dry_run),
         c->why ? ": " : "", c->why ? c->why : "");
}

/* The window, the run, then the table and the summary. */
static int replay_command(cli_context *ctx, replay_opts *o, const component_registry *reg) {
  cleanup_error bw_error_t err = NULL;
  int64_t now = bw_time_epoch_ms(), since = 0, until = 0;
  if (bw_time_parse_point(o->since ? o->since : DEFAULT_WINDOW, now, &since, &err) < 0 ||
      (o->until && bw_time_parse_point(o->until, now, &until, &err) < 0))
    return cli_usage_error("replay", "%s", bw_error_msg(&err));
  if (until > 0 && until < since)
    return cli_usage_error("replay", "--until is before --since");
  replay_request rq = {.filter = &o->filter,
                       .since_ms = since,
                       .until_ms = until,
                       .from_events = o->from_events,
                       .from_dlq = o->from_dlq,
                       .dry_run = o->dry_run,
                       .redis_prefix = o->redis_prefix};
  replay_outcome out;
  if (replay_run(&ctx->cfg, &ctx->log, &rq, reg, &out, &err) < 0) {
    fprintf(stderr, "bundle-worker replay: %s\n", bw_error_msg(&err));
    replay_outcome_free(&out);
    return EXIT_FAILED;
  }
  int rc = EXIT_OK;
  if (out.redis_problem)
    fprintf(stderr,
            "bundle-worker replay: %s: judging by the topics alone (the workers still run each "
            "attempt once)\n",
            out.redis_problem);
  if (out.send_problem) {
    fprintf(stderr,
            "bundle-worker replay: %s (%zu of %zu acknowledged; sending the others again is "
            "safe)\n",
            out.send_problem, out.delivered, out.to_send);
    rc = EXIT_FAILED;
  }
  if (!o->json && out.selected > 0)
    printf("%-28s %-9s %-17s %-6s %s\n", "JOB", "ATTEMPT", "STATUS", "SOURCE", "ACTION");
  for (size_t i = 0; i < out.set.count; i++)
    if (out.set.items[i].matched)
      print_result(&out.set.items[i], o);
  char from[BW_RFC3339_LEN], to[BW_RFC3339_LEN];
  bw_time_rfc3339_from_ms(since, from);
  bw_time_rfc3339_from_ms(until > 0 ? until : now, to);
  fprintf(stderr, "replay: %zu selected, %zu %s, %zu skipped (window %s to %s)\n", out.selected,
          o->dry_run ? out.to_send : out.delivered, o->dry_run ? "to send (dry run)" : "sent",
          out.selected - out.to_send, from, to);
  replay_outcome_free(&out);
  return rc;
}

int cmd_replay(int argc, char **argv) {
  cli_context ctx;
  cli_init(&ctx);
  replay_opts o = {.filter.statuses = replay_default_statuses(),
                   .from_events = true,
                   .from_dlq = true,
                   .redis_prefix = JOB_STORE_DEFAULT_PREFIX};
  o.filter.job_ids = o.job_ids;
  o.filter.components = o.components;
  component_registry reg = {0};
  int rc = parse_args(argc, argv, &ctx, &o);
  if (rc >= 0)
    goto out;
  if (cli_load_config(&ctx, "replay") < 0 ||
      cli_load_components(&ctx, "replay", o.components_file, true, &reg) < 0) {
    rc = EXIT_USAGE;
    goto out;
  }
  rc = replay_command(&ctx, &o, &reg);
out:
  components_free(&reg);
  cli_free(&ctx);
  return rc;
}

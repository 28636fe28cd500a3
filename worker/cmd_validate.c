/* bundle-worker validate [--components FILE] JOB.json...: checks run
 * requests with the very validator the worker uses, without running them. */
#include "cli.h"
#include "commands.h"

#include "core/cleanup.h"
#include "job/components.h"
#include "job/job_request.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: bundle-worker validate [OPTIONS] JOB.json...\n\n"
    "Checks each run request (its shape, and against the registered components when\n"
    "a components file is given or configured) and prints one line per file:\n"
    "  ok    FILE  job JOB_ID, component C, image IMAGE\n"
    "  FAIL  FILE  the JSON path and what was expected\n"
    "Exits 3 when any request is invalid.\n\n"
    "options:\n"
    "  -C, --components FILE  registered components (default: components.file)\n" CLI_COMMON_HELP;

static int validate_one(const char *path, const component_registry *reg) {
  cleanup_error bw_error_t err = NULL;
  json_error_t jerr;
  cleanup_json json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!doc) {
    printf("FAIL  %s  not valid JSON: line %d column %d: %s\n", path, jerr.line, jerr.column,
           jerr.text);
    return -1;
  }
  cleanup_job_request job_request req;
  if (job_request_from_json(doc, &req, &err) < 0) {
    printf("FAIL  %s  %s\n", path, bw_error_msg(&err));
    return -1;
  }
  if (!reg) {
    printf("ok    %s  job %s, component %s (no components file: not resolved)\n", path, req.job_id,
           req.component);
    return 0;
  }
  job_plan plan;
  if (job_plan_resolve(&req, reg, &plan, &err) < 0) {
    printf("FAIL  %s  %s\n", path, bw_error_msg(&err));
    return -1;
  }
  cleanup_free char *image = image_ref_string(&plan.image);
  printf("ok    %s  job %s, component %s, image %s\n", path, req.job_id, req.component, image);
  job_plan_free(&plan);
  return 0;
}

int cmd_validate(int argc, char **argv) {
  static const struct option long_options[] = {
      {"components", required_argument, NULL, 'C'}, CLI_COMMON_LONG_OPTIONS, {NULL, 0, NULL, 0}};
  cli_context ctx;
  cli_init(&ctx);
  const char *components_path = NULL;
  component_registry reg = {0};
  bool have_components = false;
  int rc = EXIT_OK, opt;
  cli_args args = {"validate", argc, argv, "C:" CLI_COMMON_SHORT_OPTIONS, long_options, usage, -1};
  while (cli_next_option(&ctx, &args, &opt)) {
    if (opt == 'C') {
      components_path = optarg;
      continue;
    }
  }
  int exit_now = cli_begin(&ctx, &args, 1, -1, "JOB.json");
  if (exit_now >= 0) {
    rc = exit_now;
    goto out;
  }
  int loaded = cli_load_components(&ctx, "validate", components_path, false, &reg);
  if (loaded < 0) {
    rc = EXIT_USAGE;
    goto out;
  }
  have_components = loaded > 0;
  for (int i = optind; i < argc; i++)
    if (validate_one(argv[i], have_components ? &reg : NULL) < 0)
      rc = EXIT_REJECTED;
out:
  components_free(&reg);
  cli_free(&ctx);
  return rc;
}

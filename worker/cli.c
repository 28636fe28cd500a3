#include "cli.h"

#include "core/cleanup.h"
#include "core/version.h"

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

void cli_init(cli_context *ctx) {
  memset(ctx, 0, sizeof(*ctx));
  bw_config_init(&ctx->cfg);
  bw_logger_init(&ctx->log, ctx->cfg.log_level, 2, ctx->cfg.worker_id);
}

void cli_free(cli_context *ctx) {
  free(ctx->sets);
  bw_config_free(&ctx->cfg);
}

void cli_print_version(void) {
  printf("bundle-worker %s (librdkafka %s, libcurl %s, jansson %s, hiredis %d.%d.%d)\n", BW_VERSION,
         rd_kafka_version_str(), curl_version_info(CURLVERSION_NOW)->version, JANSSON_VERSION,
         HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
}

/* Handles a common option; returns 1 when handled, 0 when not a common one,
 * and for --help/--version prints and sets *exit_now to the exit status. */
static int cli_common_option(cli_context *ctx, int opt, const char *arg, const char *usage,
                             int *exit_now) {
  switch (opt) {
  case 'c':
    ctx->config_path = arg;
    return 1;
  case 'X': {
    char **grown = bw_xrealloc(ctx->sets, (ctx->set_count + 1) * sizeof(char *));
    ctx->sets = grown;
    ctx->sets[ctx->set_count++] = (char *)arg;
    return 1;
  }
  case 'h':
    fputs(usage, stdout);
    *exit_now = EXIT_OK;
    return 1;
  case 'V':
    cli_print_version();
    *exit_now = EXIT_OK;
    return 1;
  default:
    return 0;
  }
}

bool cli_next_option(cli_context *ctx, cli_args *args, int *opt) {
  while (args->exit < 0) {
    *opt = getopt_long(args->argc, args->argv, args->short_options, args->long_options, NULL);
    if (*opt == -1)
      return false;
    int exit_now = -1;
    if (!cli_common_option(ctx, *opt, optarg, args->usage, &exit_now)) {
      if (*opt != '?' && *opt != ':')
        return true; /* the command's own */
      args->exit = cli_usage_error(args->command, "unknown option");
    } else if (exit_now >= 0) {
      args->exit = exit_now;
    }
  }
  return false;
}

int cli_usage_error(const char *command, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *msg = bw_strdup_vprintf(fmt, ap);
  va_end(ap);
  fprintf(stderr, "bundle-worker %s: %s (see bundle-worker %s --help)\n", command, msg, command);
  return EXIT_USAGE;
}

int cli_operands_check(const cli_args *args, int min, int max, const char *missing) {
  if (args->exit >= 0)
    return args->exit;
  int given = args->argc - optind;
  if (given < min)
    return cli_usage_error(args->command, "missing %s", missing);
  if (max >= 0 && given > max)
    return cli_usage_error(args->command, "unexpected argument '%s'", args->argv[optind + max]);
  return -1;
}

int cli_begin(cli_context *ctx, const cli_args *args, int min, int max, const char *missing) {
  int exit_now = cli_operands_check(args, min, max, missing);
  if (exit_now >= 0)
    return exit_now;
  return cli_load_config(ctx, args->command) < 0 ? EXIT_USAGE : -1;
}

int cli_load_config(cli_context *ctx, const char *command) {
  cleanup_error bw_error_t err = NULL;
  const char *path = ctx->config_path ? ctx->config_path : getenv(BW_CONFIG_ENV_FILE);
  if (path && *path && bw_config_load_file(&ctx->cfg, path, &err) < 0)
    goto fail;
  if (bw_config_apply_env(&ctx->cfg, environ, &err) < 0)
    goto fail;
  for (size_t i = 0; i < ctx->set_count; i++) {
    const char *eq = strchr(ctx->sets[i], '=');
    if (!eq) {
      bw_error_set(&err, BW_ERR_INVALID, "--set %s: expected KEY=VALUE", ctx->sets[i]);
      goto fail;
    }
    cleanup_free char *key = strndup(ctx->sets[i], (size_t)(eq - ctx->sets[i]));
    /* The error names the key after the origin: "--set: worker.slots: ..." */
    if (bw_config_set(&ctx->cfg, key, eq + 1, "--set", &err) < 0)
      goto fail;
  }
  bw_logger_init(&ctx->log, ctx->cfg.log_level, 2, ctx->cfg.worker_id);
  return 0;
fail:
  fprintf(stderr, "bundle-worker %s: configuration: %s\n", command, bw_error_msg(&err));
  return -1;
}

int cli_load_components(const cli_context *ctx, const char *command, const char *path,
                        bool required, component_registry *out) {
  if (!path || !*path)
    path = ctx->cfg.components_file;
  if (!path || !*path) {
    if (!required)
      return 0;
    cli_usage_error(command, "no components file: give --components FILE or set components.file");
    return -1;
  }
  cleanup_error bw_error_t err = NULL;
  if (components_load_file(path, out, &err) < 0) {
    fprintf(stderr, "bundle-worker %s: %s\n", command, bw_error_msg(&err));
    return -1;
  }
  return 1;
}

int cli_exit_status_of(job_status status) {
  static const int map[JOB_STATUS_COUNT] = {
      [JOB_SUCCESS] = EXIT_OK,
      [JOB_USER_ERROR] = EXIT_FAILED,
      [JOB_REJECTED] = EXIT_REJECTED,
      [JOB_APPLICATION_ERROR] = EXIT_APPLICATION_ERROR,
      [JOB_TIMEOUT] = EXIT_TIMEOUT,
      [JOB_OOM] = EXIT_OOM,
      [JOB_CANCELLED] = EXIT_CANCELLED,
      [JOB_INFRA_ERROR] = EXIT_UNAVAILABLE,
      [JOB_DISK_LIMIT] = EXIT_DISK_LIMIT,
  };
  return map[status];
}

int cli_read_file(const char *path, char **out, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
  if (!f)
    return -1;
  char *buf = NULL;
  size_t size = 0;
  FILE *mem = open_memstream(&buf, &size);
  if (!mem) {
    if (f != stdin)
      fclose(f);
    return -1;
  }
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    fwrite(chunk, 1, n, mem);
  int failed = ferror(f);
  int saved = errno;
  fclose(mem);
  if (f != stdin)
    fclose(f);
  if (failed) {
    free(buf);
    errno = saved ? saved : EIO;
    return -1;
  }
  *out = buf;
  *len = size;
  return 0;
}

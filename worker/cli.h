/* What every subcommand shares: the common options (--config, --set, --help,
 * --version), loading the configuration and setting up the logger. */
#pragma once

#include "job/components.h"
#include "job/job_status.h"
#include "core/config.h"
#include "core/log.h"

#include <getopt.h>
#include <stdbool.h>

/* Exit statuses of the program, in one place (docs/cli.md). `run` exits with
 * its job's status (cli_exit_status_of); the other commands use the same
 * numbers for the same meanings: 3 a request is invalid, 8 a service (Kafka)
 * could not be reached or a wait ran out. */
enum {
  EXIT_OK = 0,
  EXIT_FAILED = 1, /* the command ran and found a failure; run: user_error */
  EXIT_USAGE = 2,  /* bad arguments or configuration: nothing was done */
  EXIT_REJECTED = 3,
  EXIT_APPLICATION_ERROR = 4,
  EXIT_TIMEOUT = 5,
  EXIT_OOM = 6,
  EXIT_CANCELLED = 7,
  EXIT_UNAVAILABLE = 8, /* run: infra_error */
  EXIT_DISK_LIMIT = 9,
};

/* The exit status of `run` for its job's status. */
int cli_exit_status_of(job_status status);

typedef struct cli_context {
  const char *config_path;
  char **sets; /* "KEY=VALUE" from --set, in order */
  size_t set_count;
  bw_config cfg;
  bw_logger log;
} cli_context;

/* Long options every subcommand accepts; append to a command's own list. */
#define CLI_COMMON_LONG_OPTIONS                                                                    \
  {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 'X'},                 \
      {"help", no_argument, NULL, 'h'}, {                                                          \
    "version", no_argument, NULL, 'V'                                                              \
  }
#define CLI_COMMON_SHORT_OPTIONS "c:X:hV"
#define CLI_COMMON_HELP                                                                            \
  "  -c, --config FILE     configuration file (default: $" BW_CONFIG_ENV_FILE ", else none)\n"     \
  "  -X, --set KEY=VALUE   set one configuration key (after the file and environment)\n"           \
  "  -h, --help            this help\n"                                                            \
  "  -V, --version         the program's version\n"

/* The arguments of one command, parsed by cli_next_option. */
typedef struct cli_args {
  const char *command; /* "run": messages say "bundle-worker run: ..." */
  int argc;
  char **argv;
  const char *short_options; /* the command's own, then CLI_COMMON_SHORT_OPTIONS */
  const struct option *long_options;
  const char *usage; /* printed by --help */
  int exit;          /* -1 while parsing; then the status the command exits with */
} cli_args;

/* The one option loop of every command. Returns true with *opt set (and
 * optarg its argument) for each of the command's own options; handles the
 * common ones (--config, --set, --help, --version) itself; returns false at
 * the end of the options (optind is the first operand), or when the command
 * is to exit now: --help or --version (args->exit 0), an unknown option or a
 * missing argument (a usage error, args->exit EXIT_USAGE). A command that
 * finds an own option's value wrong sets args->exit (cli_usage_error) and the
 * next call returns false. */
bool cli_next_option(cli_context *ctx, cli_args *args, int *opt);

void cli_init(cli_context *ctx);
void cli_free(cli_context *ctx);
/* Defaults, then the file, then BUNDLE_WORKER_* variables, then --set; on
 * error prints one line to stderr and returns -1. Sets up ctx->log. */
int cli_load_config(cli_context *ctx, const char *command);
/* After the option loop: the status to exit with now, or -1 to go on. The
 * status is args->exit after --help, --version or a usage error; a usage
 * error ("missing MISSING", "unexpected argument 'X'") when fewer than `min`
 * or more than `max` operands follow the options (max -1: any number). */
int cli_operands_check(const cli_args *args, int min, int max, const char *missing);
/* cli_operands_check, then cli_load_config (EXIT_USAGE when it fails): what
 * every command does between its options and its work. */
int cli_begin(cli_context *ctx, const cli_args *args, int min, int max, const char *missing);
/* Prints "bundle-worker COMMAND: message" for a usage error; returns EXIT_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_print_version(void);
/* Loads the registered components from `path` (--components), else from
 * components.file. Returns 1 when loaded, 0 when none is configured and
 * `required` is false; otherwise prints one line and returns -1 (the caller
 * exits EXIT_USAGE). */
int cli_load_components(const cli_context *ctx, const char *command, const char *path,
                        bool required, component_registry *out);

/* The whole of a file a command was given (a run request), or of standard
 * input for "-"; 0, or -1 with errno set. The caller frees *out. */
int cli_read_file(const char *path, char **out, size_t *len);

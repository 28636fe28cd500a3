/* bundle-worker: parses the subcommand and dispatches; nothing else. */
#include "cli.h"
#include "commands.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

typedef struct command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"run", "run one job (a run request as JSON) through the Docker Engine", cmd_run},
    {"serve", "be a worker: take run requests from Kafka, publish events back", cmd_serve},
    {"submit", "send run requests to Kafka; --wait follows them to their end", cmd_submit},
    {"replay", "send failed jobs again (from topic.events and the DLQ)", cmd_replay},
    {"cancel", "stop a job wherever it runs", cmd_cancel},
    {"watch", "a live view of workers, running jobs and finishes (or --json events)", cmd_watch},
    {"validate", "check run requests without running them", cmd_validate},
    {"doctor", "check Kafka, Redis, the Docker Engine and the registry", cmd_doctor},
    {"config", "print the effective configuration, or every key (config keys)", cmd_config},
};

static void usage(FILE *out) {
  fprintf(out, "usage: bundle-worker COMMAND [OPTIONS] [ARGS]\n\n"
               "Runs registered Docker images as jobs taken from Kafka.\n\ncommands:\n");
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\nbundle-worker COMMAND --help describes each command.\n"
               "options of every command:\n" CLI_COMMON_HELP);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0 ||
      strcmp(argv[1], "version") == 0) {
    cli_print_version();
    return EXIT_OK;
  }
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
    if (strcmp(argv[1], commands[i].name) == 0) {
      curl_global_init(CURL_GLOBAL_DEFAULT);
      int rc = commands[i].run(argc - 1, argv + 1);
      curl_global_cleanup();
      return rc;
    }
  }
  fprintf(stderr, "bundle-worker: unknown command '%s' (bundle-worker --help lists them)\n",
          argv[1]);
  return EXIT_USAGE;
}

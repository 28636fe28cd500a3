/* bundle-worker config [keys]: what the configuration is, and could be. */
#include "cli.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: bundle-worker config [OPTIONS]        print the effective configuration\n"
    "       bundle-worker config keys             list every key with its default\n\n"
    "Secrets are shown as [hidden]. Each line says where its value came from.\n\n"
    "options:\n" CLI_COMMON_HELP;

int cmd_config(int argc, char **argv) {
  static const struct option long_options[] = {CLI_COMMON_LONG_OPTIONS, {NULL, 0, NULL, 0}};
  cli_context ctx;
  cli_init(&ctx);
  int rc = EXIT_OK;
  int opt;
  cli_args args = {"config", argc, argv, CLI_COMMON_SHORT_OPTIONS, long_options, usage, -1};
  while (cli_next_option(&ctx, &args, &opt)) {
  }
  /* "config keys" lists the keys without loading a configuration. */
  bool keys = args.exit < 0 && optind < argc && strcmp(argv[optind], "keys") == 0;
  int exit_now = keys ? cli_operands_check(&args, 1, 1, "") : cli_begin(&ctx, &args, 0, 0, "");
  if (exit_now >= 0) {
    rc = exit_now;
    goto out;
  }
  if (keys) {
    bw_config_print_keys(stdout);
    goto out;
  }
  bw_config_print(&ctx.cfg, stdout);
out:
  cli_free(&ctx);
  return rc;
}

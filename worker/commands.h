/* One entry point per subcommand, each in its own file (cmd_NAME.c). */
#pragma once

int cmd_doctor(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_watch(int argc, char **argv);

/* bundle-worker watch: a live view of the fleet, like top -- the workers from
 * their Redis heartbeats, the running jobs and the recent finishes from
 * topic.events -- or, with --json, the events themselves, one per line. */
#include "cli.h"
#include "commands.h"

#include "core/cleanup.h"
#include "ops/event_follow.h"
#include "ops/fleet_redis.h"
#include "ops/fleet_render.h"
#include "ops/fleet_view.h"
#include "ops/term_screen.h"
#include "core/timeutil.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The one mutable global: which signals arrived (set by the handler, taken
 * by the main loop). */
static volatile sig_atomic_t signal_seen[NSIG];

static const char usage[] =
    "usage: bundle-worker watch [OPTIONS]\n\n"
    "A live view of the workers, like top: the workers (from their Redis heartbeats:\n"
    "host, busy slots, last seen), the running jobs (component, phase, elapsed), the\n"
    "recent finishes with their status, and jobs per minute. q or Ctrl-C quits.\n"
    "With --json, the events of topic.events are printed instead, one JSON object per\n"
    "line as they arrive, for scripts.\n\n"
    "options:\n"
    "  -j, --json              stream the events (one per line) instead of the view\n"
    "      --from-beginning    start from the oldest event the topic keeps\n"
    "      --since DURATION    start from the events of the last DURATION (30s, 10m, 2h, 1d)\n"
    "  -i, --interval DURATION redraw and re-read the heartbeats this often (default 1s)\n"
    "      --redis-prefix P    prefix of every Redis key (default bw:)\n" CLI_COMMON_HELP;

#define EVENTS_PER_TURN 500
#define REDRAW_AFTER_EVENT_MS 200

typedef struct watch_opts {
  bool json;
  event_follow_from from;
  int64_t since_ms; /* epoch */
  int64_t interval_ms;
  const char *redis_prefix;
} watch_opts;

static void on_signal(int sig) {
  signal_seen[sig] = 1;
}

static bool take_signal(int sig) {
  if (!signal_seen[sig])
    return false;
  signal_seen[sig] = 0;
  return true;
}

static bool stop_requested(void) {
  return signal_seen[SIGINT] || signal_seen[SIGTERM] || signal_seen[SIGHUP] || signal_seen[SIGPIPE];
}

static void install_signals(bool tui) {
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGPIPE, &sa, NULL); /* a reader that went away: a quiet end */
  if (tui) {
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGTSTP, &sa, NULL);
  }
}

/* "1.5" (seconds), "500ms", "30s", "10m", "2h", "1d" -> milliseconds. */
static bool parse_duration_ms(const char *s, int64_t *out) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || !isfinite(v) || v < 0)
    return false;
  double unit = 1000;
  if (strcmp(end, "ms") == 0)
    unit = 1;
  else if (*end == '\0' || strcmp(end, "s") == 0)
    unit = 1000;
  else if (strcmp(end, "m") == 0)
    unit = 60000;
  else if (strcmp(end, "h") == 0)
    unit = 3600000;
  else if (strcmp(end, "d") == 0)
    unit = 86400000;
  else
    return false;
  double ms = v * unit;
  if (ms > 1e15)
    return false;
  *out = (int64_t)ms;
  return true;
}

/* ---- --json ---- */

/* The reader of our standard output went away (`| head` has exited): a pipe
 * whose reading end is closed polls as POLLERR. Without this check a quiet
 * topic would keep us waiting for an event to fail writing. */
static bool reader_gone(void) {
  struct pollfd p = {.fd = STDOUT_FILENO, .events = 0};
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

/* One event per line, flushed, as they arrive. A closed pipe ends it quietly. */
static int watch_json(event_follow *events) {
  while (!stop_requested()) {
    cleanup_error bw_error_t err = NULL;
    const json_t *ev = NULL;
    const char *raw = NULL;
    size_t len = 0;
    int got = event_follow_next(events, 200, &ev, &raw, &len, &err);
    if (got < 0) {
      fprintf(stderr, "bundle-worker watch: %s\n", bw_error_msg(&err));
      return EXIT_UNAVAILABLE;
    }
    if (got == 0) {
      if (reader_gone())
        return EXIT_OK;
      continue;
    }
    if (!ev) {
      fprintf(stderr, "bundle-worker watch: skipped a message that is not a JSON object\n");
      continue;
    }
    /* The event as it was sent, unless it spans lines: then re-serialised. */
    cleanup_free char *compact = memchr(raw, '\n', len) ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (compact) {
      raw = compact;
      len = strlen(compact);
    }
    if (fwrite(raw, 1, len, stdout) != len || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
      return EXIT_OK; /* the reader went away (EPIPE): nothing left to do */
  }
  return EXIT_OK;
}

/* ---- the view ---- */

typedef struct tui {
  const watch_opts *opts;
  event_follow *events;
  fleet_view *view;
  redis_store_conn redis;
  term_screen screen;
  int64_t next_workers_ms, next_draw_ms; /* monotonic */
  bool dirty;
} tui;

static void read_workers(tui *t) {
  cleanup_error bw_error_t err = NULL;
  fleet_worker *ws = NULL;
  size_t n = 0;
  if (fleet_redis_workers(&t->redis, t->opts->redis_prefix, &ws, &n, &err) < 0) {
    cleanup_free char *notice = bw_strdup_printf("! %s", bw_error_msg(&err));
    fleet_view_set_notice(t->view, notice);
    return;
  }
  fleet_view_set_notice(t->view, NULL);
  fleet_view_set_workers(t->view, ws, n, bw_time_epoch_ms());
}

static int draw(tui *t, bw_error_t *err) {
  int width = 80, height = 24;
  term_screen_size(t->screen.out_fd, &width, &height);
  cleanup_free char *frame = fleet_view_render(t->view, width, height, bw_time_epoch_ms());
  return term_screen_draw(&t->screen, frame, err);
}

/* Takes what events have come (waiting up to wait_ms for the first). */
static int take_events(tui *t, int wait_ms, bw_error_t *err) {
  for (int i = 0; i < EVENTS_PER_TURN; i++) {
    const json_t *ev = NULL;
    const char *raw = NULL;
    size_t len = 0;
    int got = event_follow_next(t->events, i == 0 ? wait_ms : 0, &ev, &raw, &len, err);
    if (got <= 0)
      return got;
    if (ev && fleet_view_event(t->view, ev, bw_time_epoch_ms()))
      t->dirty = true;
  }
  return 0;
}

/* Ctrl-Z: give the terminal back, stop, and take it again on fg. */
static int suspend(tui *t, bw_error_t *err) {
  term_screen_leave(&t->screen);
  raise(SIGSTOP);
  return term_screen_enter(&t->screen, STDIN_FILENO, STDOUT_FILENO, err);
}

/* Runs until q, Ctrl-C or a stop signal; the terminal is restored on every
 * way out of this function. */
static int tui_loop(tui *t, bw_error_t *err) {
  if (term_screen_enter(&t->screen, STDIN_FILENO, STDOUT_FILENO, err) < 0)
    return -1;
  int rc = 0;
  bool force = true;
  while (!stop_requested()) {
    if (take_signal(SIGTSTP)) {
      if ((rc = suspend(t, err)) < 0)
        break;
      force = true;
    }
    if (take_signal(SIGWINCH))
      force = true;
    int key;
    bool quit = false;
    while ((key = term_screen_key(&t->screen)) >= 0) {
      if (key == 'q' || key == 'Q' || key == 3 /* Ctrl-C as a byte */)
        quit = true;
      else if (key == 12 /* Ctrl-L */)
        force = true;
    }
    if (quit)
      break;
    int64_t now = bw_time_monotonic_ms();
    if (now >= t->next_workers_ms) {
      read_workers(t);
      t->next_workers_ms = now + t->opts->interval_ms;
      t->dirty = true;
    }
    if (force || now >= t->next_draw_ms ||
        (t->dirty && now >= t->next_draw_ms - t->opts->interval_ms + REDRAW_AFTER_EVENT_MS)) {
      if ((rc = draw(t, err)) < 0)
        break;
      force = t->dirty = false;
      t->next_draw_ms = now + t->opts->interval_ms;
    }
    if ((rc = take_events(t, 100, err)) < 0)
      break;
  }
  term_screen_leave(&t->screen);
  return rc < 0 ? -1 : 0;
}

static int watch_tui(const cli_context *ctx, const watch_opts *opts, event_follow *events) {
  /* Redis outages are shown in the frame; a log line would tear it. */
  bw_logger quiet;
  bw_logger_init(&quiet, BW_LOG_ERROR, STDERR_FILENO, ctx->cfg.worker_id);
  int64_t now = bw_time_epoch_ms();
  int64_t observed_from = opts->from == EVENT_FOLLOW_END     ? now
                          : opts->from == EVENT_FOLLOW_SINCE ? opts->since_ms
                                                             : 0;
  cleanup_free char *title = bw_strdup_printf("%s", ctx->cfg.topic_events);
  tui t = {.opts = opts, .events = events, .view = fleet_view_new(title, observed_from)};
  redis_store_conn_init(&t.redis, &ctx->cfg, &quiet, "the workers are not shown until it is back");
  cleanup_error bw_error_t err = NULL;
  int rc = tui_loop(&t, &err);
  redis_store_conn_destroy(&t.redis);
  fleet_view_free(t.view);
  if (rc < 0) {
    fprintf(stderr, "bundle-worker watch: %s\n", bw_error_msg(&err));
    return EXIT_UNAVAILABLE;
  }
  return EXIT_OK;
}

/* ---- options ---- */

static int parse_options(int argc, char **argv, cli_context *ctx, watch_opts *o) {
  enum { OPT_FROM_BEGINNING = 256, OPT_SINCE, OPT_REDIS_PREFIX };
  static const struct option long_options[] = {
      {"json", no_argument, NULL, 'j'},
      {"from-beginning", no_argument, NULL, OPT_FROM_BEGINNING},
      {"since", required_argument, NULL, OPT_SINCE},
      {"interval", required_argument, NULL, 'i'},
      {"redis-prefix", required_argument, NULL, OPT_REDIS_PREFIX},
      CLI_COMMON_LONG_OPTIONS,
      {NULL, 0, NULL, 0}};
  int opt;
  int64_t since = 0;
  bool have_since = false, from_beginning = false;
  cli_args args = {"watch", argc, argv, "ji:" CLI_COMMON_SHORT_OPTIONS, long_options, usage, -1};
  while (cli_next_option(ctx, &args, &opt)) {
    switch (opt) {
    case 'j':
      o->json = true;
      continue;
    case OPT_FROM_BEGINNING:
      from_beginning = true;
      continue;
    case OPT_SINCE:
      if (!parse_duration_ms(optarg, &since))
        return cli_usage_error("watch", "--since: expected a duration (30s, 10m, 2h), got '%s'",
                               optarg);
      have_since = true;
      continue;
    case 'i':
      if (!parse_duration_ms(optarg, &o->interval_ms) || o->interval_ms < 100)
        return cli_usage_error("watch",
                               "--interval: expected a duration of at least 100ms, "
                               "got '%s'",
                               optarg);
      continue;
    case OPT_REDIS_PREFIX:
      o->redis_prefix = optarg;
      continue;
    }
  }
  int exit_now = cli_operands_check(&args, 0, 0, "");
  if (exit_now >= 0)
    return exit_now;
  if (have_since && from_beginning)
    return cli_usage_error("watch", "--since and --from-beginning exclude each other");
  if (from_beginning)
    o->from = EVENT_FOLLOW_BEGINNING;
  if (have_since) {
    o->from = EVENT_FOLLOW_SINCE;
    o->since_ms = bw_time_epoch_ms() - since;
  }
  return -1;
}

int cmd_watch(int argc, char **argv) {
  cli_context ctx;
  cli_init(&ctx);
  watch_opts opts = {.from = EVENT_FOLLOW_END, .interval_ms = 1000, .redis_prefix = "bw:"};
  int rc = parse_options(argc, argv, &ctx, &opts);
  event_follow *events = NULL;
  cleanup_error bw_error_t err = NULL;
  if (rc >= 0)
    goto out;
  rc = EXIT_OK;
  if (!opts.json && !isatty(STDOUT_FILENO)) {
    fprintf(stderr, "bundle-worker watch: standard output is not a terminal; use --json to stream "
                    "the events as JSON lines instead\n");
    rc = EXIT_USAGE;
    goto out;
  }
  if (cli_load_config(&ctx, "watch") < 0) {
    rc = EXIT_USAGE;
    goto out;
  }
  install_signals(!opts.json);
  if (event_follow_open(&ctx.cfg, "watch", opts.from, opts.since_ms, &events, &err) < 0) {
    fprintf(stderr, "bundle-worker watch: %s\n", bw_error_msg(&err));
    rc = EXIT_UNAVAILABLE;
    goto out;
  }
  if (opts.json) {
    /* Said once the offsets are fixed: from here on nothing sent is missed. */
    fprintf(stderr, "bundle-worker watch: following %s (%d partitions) from %s\n",
            ctx.cfg.topic_events, event_follow_partitions(events),
            opts.from == EVENT_FOLLOW_END         ? "the end"
            : opts.from == EVENT_FOLLOW_BEGINNING ? "the beginning"
                                                  : "the requested time");
    rc = watch_json(events);
  } else {
    rc = watch_tui(&ctx, &opts, events);
  }
out:
  event_follow_close(events);
  cli_free(&ctx);
  return rc;
}

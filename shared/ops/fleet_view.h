/* What `bundle-worker watch` shows, as pure logic: fed pipeline events
 * (docs/events.md) and snapshots of the workers' heartbeats, it keeps the
 * running jobs with their current phase and start, the last finishes, and a
 * jobs-per-minute rate over a sliding window; it renders a frame for a given
 * terminal size. No I/O: the caller reads Kafka and Redis and draws. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLEET_VIEW_MAX_FINISHES 50
#define FLEET_VIEW_RATE_WINDOW_MS (5 * 60000L)
/* A job whose worker has no live heartbeat and that sent nothing for this
 * long is dropped from the running list (its worker died; the request will
 * run again, as a new attempt, elsewhere). */
#define FLEET_VIEW_STALE_MS 30000L

/* One worker as its heartbeat describes it (shared/clients/job_store.h). */
typedef struct fleet_worker {
  char *id;
  char *host;
  char *version;
  long slots;
  long busy;
  long jobs_started;
  int64_t last_seen_ms; /* epoch ms of its last heartbeat */
  int64_t started_ms;   /* epoch ms the worker started; 0 when unknown */
  char **jobs;          /* the ids of the jobs it runs */
  size_t job_count;
} fleet_worker;

/* Fills *out from a heartbeat's info object; false when it is not one (no
 * "worker" string). */
bool fleet_worker_from_json(const json_t *info, int64_t last_seen_ms, fleet_worker *out);
void fleet_worker_free(fleet_worker *w); /* the contents; accepts NULL */
void fleet_workers_free(fleet_worker *ws, size_t n);

typedef struct fleet_job {
  char *job_id;
  char *component; /* NULL until job.started is seen */
  char *worker;
  char *phase; /* received, prepare, start, run, outputs, ... or "?" */
  long attempt;
  int64_t start_ms;    /* epoch ms: its job.started, else the first event seen */
  bool start_known;    /* false: started before we looked (the elapsed time is a floor) */
  int64_t last_ms;     /* epoch ms of its last event (receive time when ts is unreadable) */
  bool heartbeat_only; /* seen only in a heartbeat's jobs, no event yet */
} fleet_job;

typedef struct fleet_finish {
  char *job_id;
  char *component; /* may be NULL */
  char *worker;
  char *status;  /* job.finished's status, or "interrupted" */
  char *message; /* may be NULL */
  long attempt;
  long exit_code;      /* -1 when none */
  int64_t duration_ms; /* -1 when unknown */
  int64_t end_ms;      /* epoch ms */
} fleet_finish;

typedef struct fleet_view fleet_view;

/* `title` is copied (shown on the frame's first line, e.g. the topic);
 * observed_from_ms is the epoch ms from which events will be seen (now when
 * following the end of the topic, earlier for --since, 0 for the beginning):
 * the rate is not averaged over time nothing was seen of. */
fleet_view *fleet_view_new(const char *title, int64_t observed_from_ms);
void fleet_view_free(fleet_view *fv); /* accepts NULL */

/* One event; events that are not objects or carry no job_id are ignored.
 * now_ms (epoch) stands in for an unreadable ts. Returns true when the view
 * changed. */
bool fleet_view_event(fleet_view *fv, const json_t *ev, int64_t now_ms);
/* Replaces the workers with a new snapshot (takes ws and its contents). */
void fleet_view_set_workers(fleet_view *fv, fleet_worker *ws, size_t n, int64_t now_ms);
/* A line about why the workers could not be read (NULL: clears it). */
void fleet_view_set_notice(fleet_view *fv, const char *notice);

const char *fleet_view_title(const fleet_view *fv);
const char *fleet_view_notice(const fleet_view *fv); /* NULL when none */
/* The running jobs, in no particular order. */
size_t fleet_view_running(const fleet_view *fv, const fleet_job **jobs);
/* The last FLEET_VIEW_MAX_FINISHES finishes: i = 0 is the newest. */
size_t fleet_view_finish_count(const fleet_view *fv);
const fleet_finish *fleet_view_finish_at(const fleet_view *fv, size_t i);
/* Finishes (job.finished) seen in all, and of one status. */
long fleet_view_finished_total(const fleet_view *fv, const char *status /* NULL: all */);
/* The last snapshot, by worker id; have_snapshot false before the first. */
size_t fleet_view_workers(const fleet_view *fv, const fleet_worker **ws, bool *have_snapshot);
/* Finishes per minute over the last FLEET_VIEW_RATE_WINDOW_MS (or since the
 * view began, at least one minute, when that is shorter). */
double fleet_view_jobs_per_minute(const fleet_view *fv, int64_t now_ms);

/* "2026-11-28T00:10:00.001Z" -> epoch ms; false when it is not RFC 3339 UTC. */
bool fleet_parse_rfc3339(const char *s, int64_t *epoch_ms);

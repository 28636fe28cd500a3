#include "ops/fleet_view.h"

#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct status_count {
  char *status;
  long n;
} status_count;

struct fleet_view {
  char *title;
  int64_t observed_from_ms;
  char *notice;
  fleet_job *running;
  size_t running_n, running_cap;
  fleet_finish finishes[FLEET_VIEW_MAX_FINISHES]; /* a ring */
  size_t fin_next, fin_n;
  int64_t *ends; /* end times of the finishes inside the rate window */
  size_t ends_n, ends_cap;
  status_count *counts;
  size_t counts_n;
  long finished_total;
  fleet_worker *workers;
  size_t worker_n;
  bool have_workers;
};

/* ---- small helpers ---- */

static char *dup_or_null(const char *s) {
  return s ? bw_strdup(s) : NULL;
}

static void replace_str(char **slot, const char *s) {
  if (!s || (*slot && strcmp(*slot, s) == 0))
    return;
  free(*slot);
  *slot = bw_strdup(s);
}

static const char *str_field(const json_t *o, const char *key) {
  return json_string_value(json_object_get(o, key));
}

static long int_field(const json_t *o, const char *key, long fallback) {
  json_t *v = json_object_get(o, key);
  return json_is_integer(v) ? (long)json_integer_value(v) : fallback;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap)
    return p;
  size_t n = *cap ? *cap * 2 : 8;
  while (n < need)
    n *= 2;
  void *q = bw_xrealloc(p, n * size);
  *cap = n;
  return q;
}

bool fleet_parse_rfc3339(const char *s, int64_t *epoch_ms) {
  if (!s)
    return false;
  struct tm tm = {0};
  int ms = 0, consumed = 0;
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19)
    return false;
  const char *rest = s + consumed;
  if (*rest == '.') {
    int digits = 0;
    for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
      if (digits < 3)
        ms = ms * 10 + (*rest - '0');
    if (digits == 0)
      return false;
    for (; digits < 3; digits++)
      ms *= 10;
  }
  if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
    return false;
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60)
    return false;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  if (t == (time_t)-1)
    return false;
  *epoch_ms = (int64_t)t * 1000 + ms;
  return true;
}

/* ---- workers ---- */

bool fleet_worker_from_json(const json_t *info, int64_t last_seen_ms, fleet_worker *out) {
  memset(out, 0, sizeof(*out));
  const char *id = str_field(info, "worker");
  if (!json_is_object(info) || !id || !*id)
    return false;
  out->id = bw_strdup(id);
  out->host = dup_or_null(str_field(info, "host"));
  out->version = dup_or_null(str_field(info, "version"));
  out->slots = int_field(info, "slots", 0);
  out->busy = int_field(info, "busy", 0);
  out->jobs_started = int_field(info, "jobs_started", 0);
  out->last_seen_ms = last_seen_ms;
  if (!fleet_parse_rfc3339(str_field(info, "started"), &out->started_ms))
    out->started_ms = 0;
  const json_t *jobs = json_object_get(info, "jobs");
  size_t n = json_is_array(jobs) ? json_array_size(jobs) : 0;
  out->jobs = bw_xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) {
    const char *job = json_string_value(json_array_get(jobs, i));
    if (job && *job)
      out->jobs[out->job_count++] = bw_strdup(job);
  }
  return true;
}

void fleet_worker_free(fleet_worker *w) {
  if (!w)
    return;
  free(w->id);
  free(w->host);
  free(w->version);
  for (size_t i = 0; i < w->job_count; i++)
    free(w->jobs[i]);
  free(w->jobs);
  memset(w, 0, sizeof(*w));
}

void fleet_workers_free(fleet_worker *ws, size_t n) {
  for (size_t i = 0; ws && i < n; i++)
    fleet_worker_free(&ws[i]);
  free(ws);
}

/* ---- the view ---- */

fleet_view *fleet_view_new(const char *title, int64_t observed_from_ms) {
  fleet_view *fv = bw_xcalloc(1, sizeof(*fv));
  fv->title = bw_strdup(title ? title : "");
  fv->observed_from_ms = observed_from_ms;
  return fv;
}

static void job_free(fleet_job *j) {
  free(j->job_id);
  free(j->component);
  free(j->worker);
  free(j->phase);
}

static void finish_free(fleet_finish *f) {
  free(f->job_id);
  free(f->component);
  free(f->worker);
  free(f->status);
  free(f->message);
  memset(f, 0, sizeof(*f));
}

void fleet_view_free(fleet_view *fv) {
  if (!fv)
    return;
  for (size_t i = 0; i < fv->running_n; i++)
    job_free(&fv->running[i]);
  free(fv->running);
  for (size_t i = 0; i < FLEET_VIEW_MAX_FINISHES; i++)
    finish_free(&fv->finishes[i]);
  free(fv->ends);
  for (size_t i = 0; i < fv->counts_n; i++)
    free(fv->counts[i].status);
  free(fv->counts);
  fleet_workers_free(fv->workers, fv->worker_n);
  free(fv->notice);
  free(fv->title);
  free(fv);
}

const char *fleet_view_title(const fleet_view *fv) {
  return fv->title;
}

const char *fleet_view_notice(const fleet_view *fv) {
  return fv->notice;
}

void fleet_view_set_notice(fleet_view *fv, const char *notice) {
  free(fv->notice);
  fv->notice = notice ? bw_strdup(notice) : NULL;
}

static fleet_job *running_find(fleet_view *fv, const char *job_id) {
  for (size_t i = 0; i < fv->running_n; i++)
    if (strcmp(fv->running[i].job_id, job_id) == 0)
      return &fv->running[i];
  return NULL;
}

static fleet_job *running_add(fleet_view *fv, const char *job_id, int64_t start_ms) {
  fv->running = grow(fv->running, &fv->running_cap, fv->running_n + 1, sizeof(fleet_job));
  fleet_job *j = &fv->running[fv->running_n++];
  memset(j, 0, sizeof(*j));
  j->job_id = bw_strdup(job_id);
  j->phase = bw_strdup("?");
  j->start_ms = start_ms;
  j->last_ms = start_ms;
  return j;
}

static void running_remove(fleet_view *fv, fleet_job *j) {
  job_free(j);
  size_t i = (size_t)(j - fv->running);
  memmove(&fv->running[i], &fv->running[i + 1], (fv->running_n - i - 1) * sizeof(fleet_job));
  fv->running_n--;
}

size_t fleet_view_running(const fleet_view *fv, const fleet_job **jobs) {
  *jobs = fv->running;
  return fv->running_n;
}

size_t fleet_view_finish_count(const fleet_view *fv) {
  return fv->fin_n;
}

const fleet_finish *fleet_view_finish_at(const fleet_view *fv, size_t i) {
  if (i >= fv->fin_n)
    return NULL;
  size_t at = (fv->fin_next + FLEET_VIEW_MAX_FINISHES - 1 - i) % FLEET_VIEW_MAX_FINISHES;
  return &fv->finishes[at];
}

long fleet_view_finished_total(const fleet_view *fv, const char *status) {
  if (!status)
    return fv->finished_total;
  for (size_t i = 0; i < fv->counts_n; i++)
    if (strcmp(fv->counts[i].status, status) == 0)
      return fv->counts[i].n;
  return 0;
}

size_t fleet_view_workers(const fleet_view *fv, const fleet_worker **ws, bool *have_snapshot) {
  *ws = fv->workers;
  if (have_snapshot)
    *have_snapshot = fv->have_workers;
  return fv->worker_n;
}

/* ---- events ---- */

static void count_status(fleet_view *fv, const char *status) {
  fv->finished_total++;
  for (size_t i = 0; i < fv->counts_n; i++)
    if (strcmp(fv->counts[i].status, status) == 0) {
      fv->counts[i].n++;
      return;
    }
  status_count *grown = bw_xrealloc(fv->counts, (fv->counts_n + 1) * sizeof(*grown));
  fv->counts = grown;
  fv->counts[fv->counts_n++] = (status_count){bw_strdup(status), 1};
}

static void prune_ends(fleet_view *fv, int64_t now_ms) {
  size_t kept = 0;
  for (size_t i = 0; i < fv->ends_n; i++)
    if (fv->ends[i] > now_ms - FLEET_VIEW_RATE_WINDOW_MS)
      fv->ends[kept++] = fv->ends[i];
  fv->ends_n = kept;
}

static bool on_finish(fleet_view *fv, const json_t *ev, const char *type, const char *job_id,
                      int64_t ts, int64_t now_ms) {
  bool finished = strcmp(type, "job.finished") == 0;
  fleet_job *j = running_find(fv, job_id);
  fleet_finish *f = &fv->finishes[fv->fin_next];
  finish_free(f);
  fv->fin_next = (fv->fin_next + 1) % FLEET_VIEW_MAX_FINISHES;
  if (fv->fin_n < FLEET_VIEW_MAX_FINISHES)
    fv->fin_n++;
  const char *status = finished ? str_field(ev, "status") : "interrupted";
  f->job_id = bw_strdup(job_id);
  f->status = bw_strdup(status ? status : "?");
  f->component = dup_or_null(str_field(ev, "component"));
  if (!f->component && j)
    f->component = dup_or_null(j->component);
  f->worker = dup_or_null(str_field(ev, "worker"));
  const char *msg = str_field(ev, "message");
  f->message = msg && *msg ? bw_strdup(msg) : NULL;
  f->attempt = int_field(ev, "attempt", j ? j->attempt : 1);
  f->exit_code = int_field(ev, "exit_code", -1);
  f->duration_ms = int_field(ev, "duration_ms", -1);
  if (f->duration_ms < 0 && j && j->start_known)
    f->duration_ms = ts > j->start_ms ? ts - j->start_ms : 0;
  f->end_ms = ts;
  if (j)
    running_remove(fv, j);
  if (finished) {
    count_status(fv, f->status);
    prune_ends(fv, now_ms);
    fv->ends = grow(fv->ends, &fv->ends_cap, fv->ends_n + 1, sizeof(int64_t));
    fv->ends[fv->ends_n++] = ts;
  }
  return true;
}

/* The phase an event shows the job is in: the phase that follows it (a
 * job.started is followed by preparing /data, an image.pulled by creating
 * and starting the container). An explicit "phase" field wins. */
static const char *phase_after(const json_t *ev, const char *type, const char *current) {
  const char *explicit_phase = str_field(ev, "phase");
  if (explicit_phase && *explicit_phase)
    return explicit_phase;
  if (strcmp(type, "job.received") == 0)
    return "received";
  if (strcmp(type, "job.started") == 0)
    return "prepare";
  if (strcmp(type, "image.pulled") == 0)
    return "start";
  if (strcmp(type, "container.started") == 0)
    return "run";
  if (strcmp(type, "job.log") == 0 || strcmp(type, "job.log.trimmed") == 0)
    return strcmp(current, "outputs") == 0 ? NULL : "run";
  if (strncmp(type, "artifact.", 9) == 0)
    return "outputs";
  return NULL;
}

bool fleet_view_event(fleet_view *fv, const json_t *ev, int64_t now_ms) {
  const char *type = str_field(ev, "type");
  const char *job_id = str_field(ev, "job_id");
  if (!json_is_object(ev) || !type || !job_id || !*job_id)
    return false;
  /* A redelivered request of a job that had already finished: nothing ran. */
  if (strcmp(type, "job.duplicate") == 0)
    return false;
  int64_t ts = now_ms;
  if (!fleet_parse_rfc3339(str_field(ev, "ts"), &ts))
    ts = now_ms;
  if (strcmp(type, "job.finished") == 0 || strcmp(type, "job.interrupted") == 0)
    return on_finish(fv, ev, type, job_id, ts, now_ms);

  bool begins = strcmp(type, "job.started") == 0 || strcmp(type, "job.received") == 0;
  long attempt = int_field(ev, "attempt", 1);
  fleet_job *j = running_find(fv, job_id);
  if (!j) {
    j = running_add(fv, job_id, ts);
    j->start_known = begins;
    j->attempt = attempt;
  } else if (attempt > j->attempt || j->heartbeat_only || (begins && !j->start_known)) {
    /* A new attempt, or the first event of a job known only from a heartbeat. */
    j->start_ms = ts;
    j->start_known = begins;
    j->attempt = attempt;
  }
  j->heartbeat_only = false;
  j->last_ms = ts;
  replace_str(&j->worker, str_field(ev, "worker"));
  replace_str(&j->component, str_field(ev, "component"));
  const char *phase = phase_after(ev, type, j->phase);
  replace_str(&j->phase, phase);
  return true;
}

/* ---- heartbeat snapshots ---- */

static int by_id(const void *a, const void *b) {
  return strcmp(((const fleet_worker *)a)->id, ((const fleet_worker *)b)->id);
}

static const fleet_worker *worker_of(const fleet_view *fv, const char *id) {
  for (size_t i = 0; id && i < fv->worker_n; i++)
    if (strcmp(fv->workers[i].id, id) == 0)
      return &fv->workers[i];
  return NULL;
}

static bool listed(const fleet_view *fv, const char *job_id) {
  for (size_t i = 0; i < fv->worker_n; i++)
    for (size_t k = 0; k < fv->workers[i].job_count; k++)
      if (strcmp(fv->workers[i].jobs[k], job_id) == 0)
        return true;
  return false;
}

static bool recently_finished(const fleet_view *fv, const char *job_id) {
  for (size_t i = 0; i < fv->fin_n; i++)
    if (strcmp(fleet_view_finish_at(fv, i)->job_id, job_id) == 0)
      return true;
  return false;
}

void fleet_view_set_workers(fleet_view *fv, fleet_worker *ws, size_t n, int64_t now_ms) {
  fleet_workers_free(fv->workers, fv->worker_n);
  fv->workers = ws;
  fv->worker_n = n;
  fv->have_workers = true;
  if (n > 1)
    qsort(fv->workers, n, sizeof(fleet_worker), by_id);
  /* Jobs the heartbeats list that no event has shown yet (they began before
   * we looked): known to run, but not since when. */
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < ws[i].job_count; k++) {
      const char *job_id = ws[i].jobs[k];
      if (running_find(fv, job_id) || recently_finished(fv, job_id))
        continue;
      fleet_job *j = running_add(fv, job_id, now_ms);
      j->heartbeat_only = true;
      replace_str(&j->worker, ws[i].id);
    }
  for (size_t i = 0; i < fv->running_n;) {
    fleet_job *j = &fv->running[i];
    bool gone = j->heartbeat_only
                    ? !listed(fv, j->job_id)
                    : !worker_of(fv, j->worker) && now_ms - j->last_ms > FLEET_VIEW_STALE_MS;
    if (gone)
      running_remove(fv, j);
    else
      i++;
  }
}

double fleet_view_jobs_per_minute(const fleet_view *fv, int64_t now_ms) {
  int64_t window = FLEET_VIEW_RATE_WINDOW_MS;
  int64_t seen_for = now_ms - fv->observed_from_ms;
  if (seen_for < window)
    window = seen_for < 60000 ? 60000 : seen_for;
  long n = 0;
  for (size_t i = 0; i < fv->ends_n; i++)
    if (fv->ends[i] >= now_ms - window && fv->ends[i] <= now_ms)
      n++;
  return (double)n * 60000.0 / (double)window;
}

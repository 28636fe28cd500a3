/* shared/ops/fleet_view.h: the model and the frame of `bundle-worker watch`. */
#include "ops/fleet_render.h"
#include "ops/fleet_view.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* 2026-11-28T00:00:00.000Z */
#define T0 1795824000000LL

static json_t *event_at(const char *type, const char *job_id, int64_t ms) {
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char date[32], ts[48];
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts, sizeof(ts), "%s.%03dZ", date, (int)(ms % 1000));
  return json_pack("{s:i, s:s, s:s, s:i, s:s, s:s, s:s}", "schema_version", 1, "type", type,
                   "job_id", job_id, "attempt", 1, "ts", ts, "worker", "w1", "host", "vm");
}

static void feed(fleet_view *fv, json_t *ev, int64_t now) {
  fleet_view_event(fv, ev, now);
  json_decref(ev);
}

static void feed_finished(fleet_view *fv, const char *job_id, const char *status, int64_t ms) {
  json_t *ev = event_at("job.finished", job_id, ms);
  json_object_set_new(ev, "status", json_string(status));
  json_object_set_new(ev, "exit_code", json_integer(strcmp(status, "success") == 0 ? 0 : 1));
  json_object_set_new(ev, "duration_ms", json_integer(1234));
  json_object_set_new(ev, "message", json_string("the container exited"));
  feed(fv, ev, ms);
}

static const fleet_job *running_job(const fleet_view *fv, const char *job_id) {
  const fleet_job *jobs;
  size_t n = fleet_view_running(fv, &jobs);
  for (size_t i = 0; i < n; i++)
    if (strcmp(jobs[i].job_id, job_id) == 0)
      return &jobs[i];
  return NULL;
}

static size_t running_count(const fleet_view *fv) {
  const fleet_job *jobs;
  return fleet_view_running(fv, &jobs);
}

static fleet_worker *workers_of(const char *const *ids, const char *const *jobs, size_t n,
                                int64_t seen) {
  fleet_worker *ws = calloc(n + 1, sizeof(*ws));
  for (size_t i = 0; i < n; i++) {
    json_t *info = json_pack("{s:s, s:s, s:s, s:i, s:i, s:[], s:s, s:i}", "worker", ids[i], "host",
                             "vm", "version", "0.1.0", "slots", 2, "busy", jobs[i] ? 1 : 0, "jobs",
                             "started", "2026-11-27T23:00:00.000Z", "jobs_started", 7);
    if (jobs[i])
      json_array_append_new(json_object_get(info, "jobs"), json_string(jobs[i]));
    assert_true(fleet_worker_from_json(info, seen, &ws[i]));
    json_decref(info);
  }
  return ws;
}

static void test_rfc3339(void **state) {
  int64_t ms = 0;
  assert_true(fleet_parse_rfc3339("2026-11-28T00:00:00.000Z", &ms));
  assert_int_equal(ms, T0);
  assert_true(fleet_parse_rfc3339("2026-11-28T00:00:01.5Z", &ms));
  assert_int_equal(ms, T0 + 1500);
  assert_true(fleet_parse_rfc3339("2026-11-28T00:00:02Z", &ms));
  assert_int_equal(ms, T0 + 2000);
  assert_true(fleet_parse_rfc3339("2026-11-28T00:00:02.123456+00:00", &ms));
  assert_int_equal(ms, T0 + 2123);
  assert_false(fleet_parse_rfc3339(NULL, &ms));
  assert_false(fleet_parse_rfc3339("", &ms));
  assert_false(fleet_parse_rfc3339("2026-11-28", &ms));
  assert_false(fleet_parse_rfc3339("2026-11-28T00:00:00", &ms));
  assert_false(fleet_parse_rfc3339("2026-11-28T00:00:00+02:00", &ms));
  assert_false(fleet_parse_rfc3339("2026-13-28T00:00:00Z", &ms));
  assert_false(fleet_parse_rfc3339("2026-11-28T00:00:00.Z", &ms));
  assert_false(fleet_parse_rfc3339("2026-11-28T00:00:00Zjunk", &ms));
}

static void test_job_lifecycle(void **state) {
  fleet_view *fv = fleet_view_new("bundle.events", T0);
  json_t *ev = event_at("job.started", "j1", T0 + 1000);
  json_object_set_new(ev, "component", json_string("bundle.sample"));
  assert_true(fleet_view_event(fv, ev, T0 + 1000));
  json_decref(ev);
  const fleet_job *j = running_job(fv, "j1");
  assert_non_null(j);
  assert_string_equal(j->phase, "prepare");
  assert_string_equal(j->component, "bundle.sample");
  assert_string_equal(j->worker, "w1");
  assert_true(j->start_known);
  assert_int_equal(j->start_ms, T0 + 1000);

  feed(fv, event_at("image.pulled", "j1", T0 + 2000), T0 + 2000);
  assert_string_equal(running_job(fv, "j1")->phase, "start");
  feed(fv, event_at("container.started", "j1", T0 + 3000), T0 + 3000);
  assert_string_equal(running_job(fv, "j1")->phase, "run");
  feed(fv, event_at("job.log", "j1", T0 + 3500), T0 + 3500);
  assert_string_equal(running_job(fv, "j1")->phase, "run");
  feed(fv, event_at("artifact.uploaded", "j1", T0 + 4000), T0 + 4000);
  assert_string_equal(running_job(fv, "j1")->phase, "outputs");
  feed(fv, event_at("job.log", "j1", T0 + 4100), T0 + 4100); /* a late log line */
  assert_string_equal(running_job(fv, "j1")->phase, "outputs");
  /* the start is the job.started's, whatever came later */
  assert_int_equal(running_job(fv, "j1")->start_ms, T0 + 1000);

  ev = event_at("job.finished", "j1", T0 + 5000);
  json_object_set_new(ev, "status", json_string("user_error"));
  json_object_set_new(ev, "exit_code", json_integer(1));
  json_object_set_new(ev, "message", json_string("exit 1"));
  assert_true(fleet_view_event(fv, ev, T0 + 5000));
  json_decref(ev);
  assert_null(running_job(fv, "j1"));
  assert_int_equal(fleet_view_finish_count(fv), 1);
  const fleet_finish *f = fleet_view_finish_at(fv, 0);
  assert_string_equal(f->job_id, "j1");
  assert_string_equal(f->status, "user_error");
  assert_string_equal(f->component, "bundle.sample"); /* from its job.started */
  assert_string_equal(f->message, "exit 1");
  assert_int_equal(f->exit_code, 1);
  assert_int_equal(f->duration_ms, 4000); /* no duration_ms: from its start */
  assert_int_equal(fleet_view_finished_total(fv, NULL), 1);
  assert_int_equal(fleet_view_finished_total(fv, "user_error"), 1);
  assert_int_equal(fleet_view_finished_total(fv, "success"), 0);
  assert_null(fleet_view_finish_at(fv, 1));
  fleet_view_free(fv);
}

static void test_events_ignored_and_mid_run(void **state) {
  fleet_view *fv = fleet_view_new("t", T0);
  json_t *bad = json_string("not an object");
  assert_false(fleet_view_event(fv, bad, T0));
  json_decref(bad);
  json_t *no_id = json_pack("{s:s, s:n}", "type", "job.started", "job_id");
  assert_false(fleet_view_event(fv, no_id, T0));
  json_decref(no_id);
  json_t *dup = event_at("job.duplicate", "old", T0);
  assert_false(fleet_view_event(fv, dup, T0));
  json_decref(dup);
  assert_int_equal(running_count(fv), 0);
  assert_int_equal(fleet_view_finish_count(fv), 0);

  /* a job that began before we looked: its start is a floor */
  feed(fv, event_at("job.log", "mid", T0 + 100), T0 + 100);
  const fleet_job *j = running_job(fv, "mid");
  assert_non_null(j);
  assert_false(j->start_known);
  assert_string_equal(j->phase, "run");
  assert_null(j->component);

  /* an explicit phase wins; an unreadable ts stands in for now */
  json_t *ev = event_at("job.phase", "mid", T0);
  json_object_set_new(ev, "phase", json_string("upload"));
  json_object_set_new(ev, "ts", json_string("yesterday"));
  feed(fv, ev, T0 + 777);
  assert_string_equal(running_job(fv, "mid")->phase, "upload");
  assert_int_equal(running_job(fv, "mid")->last_ms, T0 + 777);

  /* a new attempt restarts the clock */
  ev = event_at("job.started", "mid", T0 + 9000);
  json_object_set_new(ev, "attempt", json_integer(2));
  feed(fv, ev, T0 + 9000);
  assert_int_equal(running_job(fv, "mid")->attempt, 2);
  assert_int_equal(running_job(fv, "mid")->start_ms, T0 + 9000);
  assert_true(running_job(fv, "mid")->start_known);

  /* an interrupted job leaves the running list but is no finish of the job */
  feed(fv, event_at("job.interrupted", "mid", T0 + 9500), T0 + 9500);
  assert_int_equal(running_count(fv), 0);
  assert_int_equal(fleet_view_finish_count(fv), 1);
  assert_string_equal(fleet_view_finish_at(fv, 0)->status, "interrupted");
  assert_int_equal(fleet_view_finished_total(fv, NULL), 0);
  fleet_view_free(fv);
}

static void test_finishes_ring(void **state) {
  fleet_view *fv = fleet_view_new("t", T0);
  char id[32];
  for (int i = 0; i < FLEET_VIEW_MAX_FINISHES + 7; i++) {
    snprintf(id, sizeof(id), "job-%d", i);
    feed_finished(fv, id, i % 2 ? "success" : "oom", T0 + i);
  }
  assert_int_equal(fleet_view_finish_count(fv), FLEET_VIEW_MAX_FINISHES);
  snprintf(id, sizeof(id), "job-%d", FLEET_VIEW_MAX_FINISHES + 6);
  assert_string_equal(fleet_view_finish_at(fv, 0)->job_id, id);
  assert_string_equal(fleet_view_finish_at(fv, FLEET_VIEW_MAX_FINISHES - 1)->job_id, "job-7");
  assert_int_equal(fleet_view_finished_total(fv, NULL), FLEET_VIEW_MAX_FINISHES + 7);
  assert_int_equal(fleet_view_finished_total(fv, "oom"), (FLEET_VIEW_MAX_FINISHES + 8) / 2);
  fleet_view_free(fv);
}

static void test_jobs_per_minute(void **state) {
  /* watching for an hour: the 5-minute window */
  int64_t now = T0 + 3600000;
  fleet_view *fv = fleet_view_new("t", T0);
  for (int i = 0; i < 10; i++)
    feed_finished(fv, "in-window", "success", now - 10000 - i * 20000);
  feed_finished(fv, "too-old", "success", now - FLEET_VIEW_RATE_WINDOW_MS - 1000);
  assert_float_equal(fleet_view_jobs_per_minute(fv, now), 2.0, 0.001);
  /* five minutes later they have all left the window */
  assert_float_equal(fleet_view_jobs_per_minute(fv, now + FLEET_VIEW_RATE_WINDOW_MS), 0.0, 0.001);
  fleet_view_free(fv);

  /* watching for 30 s: averaged over a minute, not over 5 */
  fv = fleet_view_new("t", T0);
  for (int i = 0; i < 3; i++)
    feed_finished(fv, "early", "success", T0 + 1000 * i);
  assert_float_equal(fleet_view_jobs_per_minute(fv, T0 + 30000), 3.0, 0.001);
  /* watching for 2 minutes: over those 2 */
  assert_float_equal(fleet_view_jobs_per_minute(fv, T0 + 120000), 1.5, 0.001);
  fleet_view_free(fv);
}

static void test_worker_from_json(void **state) {
  fleet_worker w;
  json_t *info = json_pack("{s:s, s:s, s:s, s:i, s:i, s:[s, i, s], s:s, s:i}", "worker", "w9",
                           "host", "box", "version", "1.2.3", "slots", 4, "busy", 2, "jobs", "a", 5,
                           "b", "started", "2026-11-28T00:00:10.000Z", "jobs_started", 42);
  assert_true(fleet_worker_from_json(info, T0 + 20000, &w));
  assert_string_equal(w.id, "w9");
  assert_string_equal(w.host, "box");
  assert_string_equal(w.version, "1.2.3");
  assert_int_equal(w.slots, 4);
  assert_int_equal(w.busy, 2);
  assert_int_equal(w.jobs_started, 42);
  assert_int_equal(w.started_ms, T0 + 10000);
  assert_int_equal(w.last_seen_ms, T0 + 20000);
  assert_int_equal(w.job_count, 2); /* the number is not an id */
  assert_string_equal(w.jobs[1], "b");
  fleet_worker_free(&w);
  fleet_worker_free(NULL);
  json_decref(info);

  json_t *no_id = json_pack("{s:s}", "host", "box");
  assert_false(fleet_worker_from_json(no_id, 0, &w));
  json_decref(no_id);
  assert_false(fleet_worker_from_json(NULL, 0, &w));
  fleet_worker_free(&w);
}

static void test_heartbeat_snapshots(void **state) {
  fleet_view *fv = fleet_view_new("t", T0);
  feed(fv, event_at("job.started", "ev-job", T0), T0); /* on w1 */
  feed_finished(fv, "done-job", "success", T0 + 10);

  /* w2 runs a job we saw nothing of; w1 lists a job that has finished meanwhile */
  const char *ids[] = {"w2", "w1"};
  const char *jobs[] = {"hb-job", "done-job"};
  fleet_view_set_workers(fv, workers_of(ids, jobs, 2, T0), 2, T0 + 1000);
  const fleet_worker *ws;
  bool have = false;
  assert_int_equal(fleet_view_workers(fv, &ws, &have), 2);
  assert_true(have);
  assert_string_equal(ws[0].id, "w1"); /* by id */
  const fleet_job *hb = running_job(fv, "hb-job");
  assert_non_null(hb);
  assert_true(hb->heartbeat_only);
  assert_string_equal(hb->worker, "w2");
  assert_null(running_job(fv, "done-job"));
  assert_non_null(running_job(fv, "ev-job"));

  /* the heartbeat no longer lists it: gone; w1 is gone too, but its job sent
   * an event recently: kept until it has been quiet for FLEET_VIEW_STALE_MS */
  const char *ids2[] = {"w2"};
  const char *jobs2[] = {NULL};
  fleet_view_set_workers(fv, workers_of(ids2, jobs2, 1, T0 + 2000), 1, T0 + 2000);
  assert_null(running_job(fv, "hb-job"));
  assert_non_null(running_job(fv, "ev-job"));
  fleet_view_set_workers(fv, workers_of(ids2, jobs2, 1, T0), 1, T0 + FLEET_VIEW_STALE_MS + 1);
  assert_null(running_job(fv, "ev-job"));

  /* an event for a job known from a heartbeat makes it a real one */
  const char *jobs3[] = {"late"};
  fleet_view_set_workers(fv, workers_of(ids2, jobs3, 1, T0), 1, T0 + 50000);
  assert_true(running_job(fv, "late")->heartbeat_only);
  feed(fv, event_at("container.started", "late", T0 + 50500), T0 + 50500);
  assert_false(running_job(fv, "late")->heartbeat_only);
  assert_string_equal(running_job(fv, "late")->phase, "run");
  assert_int_equal(running_job(fv, "late")->start_ms, T0 + 50500);

  fleet_view_set_notice(fv, "! redis down");
  assert_string_equal(fleet_view_notice(fv), "! redis down");
  fleet_view_set_notice(fv, NULL);
  assert_null(fleet_view_notice(fv));
  fleet_view_free(fv);
  fleet_view_free(NULL);
}

/* ---- rendering ---- */

static fleet_view *busy_view(int running, int finished) {
  fleet_view *fv = fleet_view_new("bundle.events", T0);
  char id[64];
  for (int i = 0; i < running; i++) {
    snprintf(id, sizeof(id), "running-job-with-a-long-name-%d", i);
    json_t *ev = event_at("job.started", id, T0 + i * 1000);
    json_object_set_new(ev, "component", json_string("bundle.sample"));
    feed(fv, ev, T0 + i * 1000);
  }
  for (int i = 0; i < finished; i++) {
    snprintf(id, sizeof(id), "finished-%d", i);
    feed_finished(fv, id, i % 3 ? "success" : "application_error", T0 + 60000 + i);
  }
  const char *ids[] = {"w1", "worker-two"};
  const char *jobs[] = {NULL, NULL};
  fleet_view_set_workers(fv, workers_of(ids, jobs, 2, T0 + 100000), 2, T0 + 100000);
  return fv;
}

/* Every line within the width, printable ASCII, no more lines than the height. */
static void check_frame(const char *frame, int width, int height) {
  int lines = 1, col = 0;
  for (const char *p = frame; *p; p++) {
    if (*p == '\n') {
      lines++;
      col = 0;
      continue;
    }
    assert_true(*p >= 0x20 && *p < 0x7f);
    col++;
    if (col > width)
      fail_msg("a line of %d columns in a %dx%d frame:\n%s", col, width, height, frame);
  }
  if (lines > height)
    fail_msg("%d lines in a %dx%d frame:\n%s", lines, width, height, frame);
}

static void test_render_wide(void **state) {
  fleet_view *fv = busy_view(3, 4);
  char *frame = fleet_view_render(fv, 160, 40, T0 + 100500);
  check_frame(frame, 160, 40);
  assert_non_null(strstr(frame, "bundle-worker watch"));
  assert_non_null(strstr(frame, "bundle.events"));
  assert_non_null(strstr(frame, "workers 2"));
  assert_non_null(strstr(frame, "running 3"));
  assert_non_null(strstr(frame, "WORKERS (2, 0 of 4 slots busy)"));
  assert_non_null(strstr(frame, "worker-two"));
  assert_non_null(strstr(frame, "0/2"));
  assert_non_null(strstr(frame, "RUNNING (3)"));
  assert_non_null(strstr(frame, "running-job-with-a-long-name-0"));
  assert_non_null(strstr(frame, "COMPONENT"));
  assert_non_null(strstr(frame, "bundle.sample"));
  assert_non_null(strstr(frame, "prepare"));
  assert_non_null(strstr(frame, "1m40")); /* the oldest job's elapsed time */
  assert_non_null(strstr(frame, "RECENT FINISHES (4"));
  assert_non_null(strstr(frame, "application_error"));
  assert_non_null(strstr(frame, "the container exited"));
  /* newest first */
  assert_true(strstr(frame, "finished-3") < strstr(frame, "finished-0"));
  free(frame);
  fleet_view_free(fv);
}

static void test_render_narrow_drops_columns(void **state) {
  fleet_view *fv = busy_view(2, 2);
  char *frame = fleet_view_render(fv, 40, 40, T0 + 100500);
  check_frame(frame, 40, 40);
  assert_non_null(strstr(frame, "JOB"));
  assert_non_null(strstr(frame, "ELAPSED"));
  assert_non_null(strstr(frame, "STATUS"));
  assert_null(strstr(frame, "VERSION"));
  assert_null(strstr(frame, "MESSAGE"));
  /* long ids are cut, with a mark */
  assert_non_null(strstr(frame, "~"));
  free(frame);
  fleet_view_free(fv);
}

static void test_render_short_says_more(void **state) {
  fleet_view *fv = busy_view(30, 30);
  char *frame = fleet_view_render(fv, 100, 16, T0 + 100500);
  check_frame(frame, 100, 16);
  assert_non_null(strstr(frame, "RUNNING (30)"));
  assert_non_null(strstr(frame, "more"));
  assert_non_null(strstr(frame, "WORKERS (2, 0 of 4 slots busy)"));
  free(frame);
  fleet_view_free(fv);
}

static void test_render_every_size(void **state) {
  fleet_view *fv = busy_view(5, 12);
  fleet_view_set_notice(fv, "! redis 127.0.0.1:6379: Connection refused");
  for (int w = 1; w <= 200; w += 3)
    for (int h = 1; h <= 45; h += 2) {
      char *frame = fleet_view_render(fv, w, h, T0 + 100500);
      check_frame(frame, w, h);
      free(frame);
    }
  fleet_view_free(fv);
}

static void test_render_empty_and_hostile_text(void **state) {
  fleet_view *fv = fleet_view_new("bundle.events", T0);
  char *frame = fleet_view_render(fv, 80, 24, T0);
  check_frame(frame, 80, 24);
  assert_non_null(strstr(frame, "WORKERS: none (no heartbeat read yet)"));
  assert_non_null(strstr(frame, "RUNNING: none"));
  assert_non_null(strstr(frame, "RECENT FINISHES: none"));
  free(frame);

  json_t *ev = event_at("job.finished", "evil", T0 + 10);
  json_object_set_new(ev, "status", json_string("user_error"));
  json_object_set_new(ev, "message",
                      json_string("line one\nline two\t\033[2J caf\xc3\xa9 \xe2\x9c\x93"));
  feed(fv, ev, T0 + 10);
  frame = fleet_view_render(fv, 200, 24, T0 + 20);
  check_frame(frame, 200, 24);
  assert_non_null(strstr(frame, "line one line two  [2J caf? ?"));
  free(frame);
  fleet_view_free(fv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc3339),
      cmocka_unit_test(test_job_lifecycle),
      cmocka_unit_test(test_events_ignored_and_mid_run),
      cmocka_unit_test(test_finishes_ring),
      cmocka_unit_test(test_jobs_per_minute),
      cmocka_unit_test(test_worker_from_json),
      cmocka_unit_test(test_heartbeat_snapshots),
      cmocka_unit_test(test_render_wide),
      cmocka_unit_test(test_render_narrow_drops_columns),
      cmocka_unit_test(test_render_short_says_more),
      cmocka_unit_test(test_render_every_size),
      cmocka_unit_test(test_render_empty_and_hostile_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

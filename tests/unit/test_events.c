/* shared/job/events.h: common fields, emit through a sink, masking of the serialised event. */
#include "job/events.h"

#include "core/error.h"

#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SECRET "s3cr3t-value"
#define SECRET_B64 "czNjcjN0LXZhbHVl" /* base64 of SECRET, no padding needed */

/* What a capturing sink saw: every call, in order. */
typedef struct captured {
  char *type;
  char *job_id; /* NULL when the sink got NULL */
  char *json;
  size_t len;
} captured;

typedef struct capture {
  captured calls[8];
  size_t count;
  int result; /* what emit returns */
} capture;

static int capture_emit(void *ctx, const char *type, const char *job_id, const char *json,
                        size_t len) {
  capture *c = ctx;
  if (c->count >= sizeof(c->calls) / sizeof(c->calls[0]))
    fail_msg("capture sink: too many events");
  captured *e = &c->calls[c->count++];
  e->type = bw_strdup(type);
  e->job_id = job_id ? bw_strdup(job_id) : NULL;
  e->json = malloc(len + 1);
  assert_non_null(e->json);
  memcpy(e->json, json, len);
  e->json[len] = '\0';
  e->len = len;
  return c->result;
}

static void capture_free(capture *c) {
  for (size_t i = 0; i < c->count; i++) {
    free(c->calls[i].type);
    free(c->calls[i].job_id);
    free(c->calls[i].json);
  }
  c->count = 0;
}

/* The captured text parsed back; fails the test when it is not a JSON object. */
static json_t *parse_back(const captured *e) {
  json_error_t jerr;
  json_t *v = json_loadb(e->json, e->len, JSON_REJECT_DUPLICATES, &jerr);
  if (!v)
    fail_msg("emitted text is not JSON (%s): %s", jerr.text, e->json);
  if (!json_is_object(v))
    fail_msg("emitted text is not an object: %s", e->json);
  return v;
}

static job_events make_events(const event_sink *sink, const masker *mask, const char *job_id) {
  return (job_events){.sink = sink,
                      .mask = mask,
                      .job_id = job_id,
                      .attempt = 3,
                      .worker_id = "worker-a",
                      .host = "host-1"};
}

static void expect_rfc3339_ms_utc(const char *ts) {
  regex_t re;
  assert_int_equal(regcomp(&re,
                           "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):"
                           "[0-5][0-9]:[0-5][0-9]\\.[0-9]{3}Z$",
                           REG_EXTENDED | REG_NOSUB),
                   0);
  int rc = regexec(&re, ts, 0, NULL, 0);
  regfree(&re);
  if (rc != 0)
    fail_msg("ts '%s' is not RFC 3339 UTC with milliseconds", ts);
}

/* ---- event_new ---- */

static void test_new_has_the_common_fields(void **state) {
  event_sink sink = {.emit = capture_emit};
  job_events je = make_events(&sink, NULL, "job-1");
  json_t *ev = event_new(&je, "job.started");
  assert_non_null(ev);
  assert_int_equal(json_object_size(ev), 8);
  const char *id = json_string_value(json_object_get(ev, "event_id"));
  assert_non_null(id);
  assert_int_equal(strlen(id), 32);
  assert_int_equal(strspn(id, "0123456789abcdef"), 32);
  json_t *other = event_new(&je, "job.started");
  assert_string_not_equal(json_string_value(json_object_get(other, "event_id")), id);
  json_decref(other);
  assert_true(json_is_integer(json_object_get(ev, "schema_version")));
  assert_int_equal(json_integer_value(json_object_get(ev, "schema_version")), EVENT_SCHEMA_VERSION);
  assert_int_equal(EVENT_SCHEMA_VERSION, 1);
  assert_string_equal(json_string_value(json_object_get(ev, "type")), "job.started");
  assert_string_equal(json_string_value(json_object_get(ev, "job_id")), "job-1");
  assert_true(json_is_integer(json_object_get(ev, "attempt")));
  assert_int_equal(json_integer_value(json_object_get(ev, "attempt")), 3);
  const char *ts = json_string_value(json_object_get(ev, "ts"));
  assert_non_null(ts);
  expect_rfc3339_ms_utc(ts);
  assert_string_equal(json_string_value(json_object_get(ev, "worker")), "worker-a");
  assert_string_equal(json_string_value(json_object_get(ev, "host")), "host-1");
  json_decref(ev);
}

static void test_new_without_job_id_has_null(void **state) {
  event_sink sink = {.emit = capture_emit};
  job_events je = make_events(&sink, NULL, NULL);
  json_t *ev = event_new(&je, "job.finished");
  json_t *id = json_object_get(ev, "job_id");
  assert_non_null(id); /* present, as null */
  assert_true(json_is_null(id));
  json_decref(ev);
}

static void test_new_without_worker_and_host_has_empty_strings(void **state) {
  job_events je = {.job_id = "j", .attempt = 1};
  json_t *ev = event_new(&je, "job.started");
  assert_string_equal(json_string_value(json_object_get(ev, "worker")), "");
  assert_string_equal(json_string_value(json_object_get(ev, "host")), "");
  assert_int_equal(json_integer_value(json_object_get(ev, "attempt")), 1);
  json_decref(ev);
}

/* ---- event_emit ---- */

static void test_emit_without_masker(void **state) {
  capture cap = {0};
  event_sink sink = {.emit = capture_emit, .ctx = &cap};
  job_events je = make_events(&sink, NULL, "job-1");
  json_t *ev = event_new(&je, "job.log");
  json_object_set_new(ev, "line", json_string("token is " SECRET));
  assert_int_equal(event_emit(&je, ev), 0);

  assert_int_equal(cap.count, 1);
  assert_string_equal(cap.calls[0].type, "job.log");
  assert_string_equal(cap.calls[0].job_id, "job-1");
  assert_int_equal(cap.calls[0].len, strlen(cap.calls[0].json));
  assert_null(strchr(cap.calls[0].json, '\n')); /* one line, the sink adds none */
  json_t *back = parse_back(&cap.calls[0]);
  assert_int_equal(json_integer_value(json_object_get(back, "schema_version")), 1);
  assert_string_equal(json_string_value(json_object_get(back, "type")), "job.log");
  assert_string_equal(json_string_value(json_object_get(back, "job_id")), "job-1");
  assert_int_equal(json_integer_value(json_object_get(back, "attempt")), 3);
  expect_rfc3339_ms_utc(json_string_value(json_object_get(back, "ts")));
  assert_string_equal(json_string_value(json_object_get(back, "worker")), "worker-a");
  assert_string_equal(json_string_value(json_object_get(back, "host")), "host-1");
  /* nothing registered, nothing hidden */
  assert_string_equal(json_string_value(json_object_get(back, "line")), "token is " SECRET);
  json_decref(back);
  capture_free(&cap);
}

static void test_emit_keeps_field_order(void **state) {
  capture cap = {0};
  event_sink sink = {.emit = capture_emit, .ctx = &cap};
  job_events je = make_events(&sink, NULL, "job-1");
  json_t *ev = event_new(&je, "container.started");
  json_object_set_new(ev, "container_id", json_string("4f1c"));
  assert_int_equal(event_emit(&je, ev), 0);
  static const char head[] = "{\"schema_version\":1,\"type\":\"container.started\","
                             "\"event_id\":\"";
  const char *text = cap.calls[0].json;
  assert_true(cap.calls[0].len > sizeof(head));
  assert_memory_equal(text, head, sizeof(head) - 1);
  assert_non_null(strstr(text, "\",\"job_id\":\"job-1\",\"attempt\":3,\"ts\":\""));
  assert_non_null(strstr(text, "\",\"worker\":\"worker-a\",\"host\":\"host-1\","
                               "\"container_id\":\"4f1c\"}"));
  capture_free(&cap);
}

static void test_emit_without_job_id_passes_null_to_the_sink(void **state) {
  capture cap = {0};
  event_sink sink = {.emit = capture_emit, .ctx = &cap};
  job_events je = make_events(&sink, NULL, NULL);
  assert_int_equal(event_emit(&je, event_new(&je, "job.finished")), 0);
  assert_null(cap.calls[0].job_id);
  json_t *back = parse_back(&cap.calls[0]);
  assert_true(json_is_null(json_object_get(back, "job_id")));
  json_decref(back);
  capture_free(&cap);
}

static masker *masker_with_secret(void) {
  masker *m = masker_new();
  json_error_t jerr;
  json_t *config = json_loads("{\"parameters\": {\"#password\": \"" SECRET "\"}}", 0, &jerr);
  assert_non_null(config);
  assert_int_equal(masker_add_config(m, config), 1);
  json_decref(config);
  return m;
}

static void test_emit_masks_every_field_holding_the_secret(void **state) {
  masker *m = masker_with_secret();
  capture cap = {0};
  event_sink sink = {.emit = capture_emit, .ctx = &cap};
  job_events je = make_events(&sink, m, "job-1");
  json_t *ev = event_new(&je, "job.finished");
  json_object_set_new(ev, "message", json_string("login with " SECRET " failed"));
  json_object_set_new(ev, "exact", json_string(SECRET));
  json_object_set_new(ev, "encoded", json_string("Authorization: Basic " SECRET_B64));
  json_object_set_new(ev, "state",
                      json_pack("{s:{s:s, s:[s, s, i]}, s:s}", "deep", "password", SECRET, "list",
                                "a", SECRET SECRET, 7, "keep", "visible"));
  assert_int_equal(event_emit(&je, ev), 0);

  assert_int_equal(cap.count, 1);
  const captured *e = &cap.calls[0];
  assert_null(strstr(e->json, SECRET));
  assert_null(strstr(e->json, SECRET_B64));
  json_t *back = parse_back(e);
  assert_string_equal(json_string_value(json_object_get(back, "message")),
                      "login with [hidden] failed");
  assert_string_equal(json_string_value(json_object_get(back, "exact")), "[hidden]");
  assert_string_equal(json_string_value(json_object_get(back, "encoded")),
                      "Authorization: Basic [hidden]");
  json_t *st = json_object_get(back, "state");
  assert_string_equal(json_string_value(json_object_get(json_object_get(st, "deep"), "password")),
                      "[hidden]");
  json_t *list = json_object_get(json_object_get(st, "deep"), "list");
  assert_int_equal(json_array_size(list), 3);
  assert_string_equal(json_string_value(json_array_get(list, 0)), "a");
  assert_string_equal(json_string_value(json_array_get(list, 1)), "[hidden][hidden]");
  assert_int_equal(json_integer_value(json_array_get(list, 2)), 7);
  assert_string_equal(json_string_value(json_object_get(st, "keep")), "visible");
  /* the common fields are untouched */
  assert_string_equal(json_string_value(json_object_get(back, "job_id")), "job-1");
  assert_string_equal(json_string_value(json_object_get(back, "worker")), "worker-a");
  json_decref(back);
  capture_free(&cap);
  masker_free(m);
}

static void test_emit_masks_secret_in_a_key(void **state) {
  masker *m = masker_with_secret();
  capture cap = {0};
  event_sink sink = {.emit = capture_emit, .ctx = &cap};
  job_events je = make_events(&sink, m, "job-1");
  json_t *ev = event_new(&je, "artifact.uploaded");
  json_object_set_new(ev, "manifest", json_pack("{s:s}", SECRET, "x"));
  assert_int_equal(event_emit(&je, ev), 0);
  assert_null(strstr(cap.calls[0].json, SECRET));
  json_t *back = parse_back(&cap.calls[0]);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(back, "manifest"), "[hidden]")), "x");
  json_decref(back);
  capture_free(&cap);
  masker_free(m);
}

/* Secrets that look like JSON numbers or literals: the event stays valid JSON
 * (masking works on values, not on the serialised text). */
static void test_emit_stays_json_with_number_and_literal_secrets(void **state) {
  masker *m = masker_new();
  json_t *config = json_pack("{s:{s:i, s:s, s:s}}", "parameters", "#pin", 1234, "#flag", "true",
                             "#comma", "\",\"");
  masker_add_config(m, config);
  json_decref(config);
  capture cap = {0};
  event_sink sink = {.emit = capture_emit, .ctx = &cap};
  job_events je = make_events(&sink, m, "job-1");
  json_t *ev = event_new(&je, "job.finished");
  json_object_set_new(ev, "duration_ms", json_integer(1234));
  json_object_set_new(ev, "cached", json_true());
  json_object_set_new(ev, "message", json_string("a \",\" b"));
  assert_int_equal(event_emit(&je, ev), 0);
  json_t *back = parse_back(&cap.calls[0]);
  assert_string_equal(json_string_value(json_object_get(back, "duration_ms")), "[hidden]");
  assert_true(json_is_true(json_object_get(back, "cached")));
  assert_string_equal(json_string_value(json_object_get(back, "message")), "a [hidden] b");
  assert_string_equal(json_string_value(json_object_get(back, "job_id")), "job-1");
  json_decref(back);
  capture_free(&cap);
  masker_free(m);
}

/* A secret with characters JSON escapes is hidden in its escaped form. */
static void test_emit_masks_secret_that_json_escapes(void **state) {
  masker *m = masker_new();
  json_t *config = json_pack("{s:s}", "#pw", "q\"uo\\te\tp\xc3\xa4ss");
  assert_int_equal(masker_add_config(m, config), 1);
  json_decref(config);
  capture cap = {0};
  event_sink sink = {.emit = capture_emit, .ctx = &cap};
  job_events je = make_events(&sink, m, "job-1");
  json_t *ev = event_new(&je, "job.log");
  json_object_set_new(ev, "line", json_string("pw=q\"uo\\te\tp\xc3\xa4ss!"));
  assert_int_equal(event_emit(&je, ev), 0);
  json_t *back = parse_back(&cap.calls[0]);
  assert_string_equal(json_string_value(json_object_get(back, "line")), "pw=[hidden]!");
  json_decref(back);
  capture_free(&cap);
  masker_free(m);
}

static void test_emit_with_masker_but_no_secret_in_the_event(void **state) {
  masker *m = masker_with_secret();
  capture cap = {0};
  event_sink sink = {.emit = capture_emit, .ctx = &cap};
  job_events je = make_events(&sink, m, "job-1");
  json_t *ev = event_new(&je, "job.log");
  json_object_set_new(ev, "line", json_string("s3cr3t-valu is not it"));
  assert_int_equal(event_emit(&je, ev), 0);
  json_t *back = parse_back(&cap.calls[0]);
  assert_string_equal(json_string_value(json_object_get(back, "line")), "s3cr3t-valu is not it");
  json_decref(back);
  capture_free(&cap);
  masker_free(m);
}

/* Hiding a secret that is not UTF-8 can leave bytes JSON cannot carry: the
 * event must still come out, without the other secrets (found by
 * fuzz_log_path: the value was kept whole, its secrets in it). */
static void test_masking_that_breaks_utf8_fails_closed(void **state) {
  capture cap = {0};
  event_sink sink = {.emit = capture_emit, .ctx = &cap};
  masker *m = masker_new();
  masker_add_secret(m, "\xbd ok");
  masker_add_secret(m, "hunter2");
  job_events je = make_events(&sink, m, "job-1");
  json_t *ev = event_new(&je, "job.log");
  json_object_set_new(ev, "line", json_string("\xEF\xBF\xBD ok, password hunter2"));
  assert_int_equal(event_emit(&je, ev), 0);
  assert_null(strstr(cap.calls[0].json, "hunter2"));
  json_t *back = parse_back(&cap.calls[0]);
  assert_non_null(json_string_value(json_object_get(back, "line")));
  json_decref(back);
  capture_free(&cap);
  masker_free(m);
}

/* The common fields are the worker's own: a secret "job" must not turn the
 * type job.finished into something the service no longer recognises. */
static void test_common_fields_are_never_masked(void **state) {
  capture cap = {0};
  event_sink sink = {.emit = capture_emit, .ctx = &cap};
  masker *m = masker_new();
  masker_add_secret(m, "job");
  job_events je = make_events(&sink, m, "job-1");
  json_t *ev = event_new(&je, "job.finished");
  json_object_set_new(ev, "message", json_string("the job ended"));
  assert_int_equal(event_emit(&je, ev), 0);
  assert_string_equal(cap.calls[0].type, "job.finished");
  json_t *back = parse_back(&cap.calls[0]);
  assert_string_equal(json_string_value(json_object_get(back, "type")), "job.finished");
  assert_string_equal(json_string_value(json_object_get(back, "job_id")), "job-1");
  assert_string_equal(json_string_value(json_object_get(back, "message")), "the [hidden] ended");
  json_decref(back);
  capture_free(&cap);
  masker_free(m);
}

static void test_sink_error_is_returned(void **state) {
  capture cap = {.result = -1};
  event_sink sink = {.emit = capture_emit, .ctx = &cap};
  job_events je = make_events(&sink, NULL, "job-1");
  assert_int_equal(event_emit(&je, event_new(&je, "job.started")), -1);
  assert_int_equal(cap.count, 1); /* it was offered, and the event is freed (LeakSanitizer) */

  cap.result = -7; /* any negative value comes back as it was */
  masker *m = masker_with_secret();
  je.mask = m;
  assert_int_equal(event_emit(&je, event_new(&je, "job.started")), -7);
  assert_int_equal(cap.count, 2);
  masker_free(m);
  capture_free(&cap);
}

static void test_emit_of_an_event_without_type(void **state) {
  capture cap = {0};
  event_sink sink = {.emit = capture_emit, .ctx = &cap};
  job_events je = make_events(&sink, NULL, "job-1");
  assert_int_equal(event_emit(&je, json_pack("{s:i}", "n", 1)), 0);
  assert_string_equal(cap.calls[0].type, "");
  assert_string_equal(cap.calls[0].json, "{\"n\":1}");
  capture_free(&cap);
}

static void test_stdout_sink_writes_one_line(void **state) {
  FILE *f = tmpfile();
  assert_non_null(f);
  assert_int_equal(event_sink_stdout(f, "t", "j", "{\"a\":1}", 7), 0);
  assert_int_equal(event_sink_stdout(f, "t", NULL, "{\"b\":2}xyz", 7), 0); /* only len bytes */
  rewind(f);
  char buf[64] = {0};
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  assert_int_equal(n, 16);
  assert_string_equal(buf, "{\"a\":1}\n{\"b\":2}\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_has_the_common_fields),
      cmocka_unit_test(test_new_without_job_id_has_null),
      cmocka_unit_test(test_new_without_worker_and_host_has_empty_strings),
      cmocka_unit_test(test_emit_without_masker),
      cmocka_unit_test(test_emit_keeps_field_order),
      cmocka_unit_test(test_emit_without_job_id_passes_null_to_the_sink),
      cmocka_unit_test(test_masking_that_breaks_utf8_fails_closed),
      cmocka_unit_test(test_common_fields_are_never_masked),
      cmocka_unit_test(test_emit_masks_every_field_holding_the_secret),
      cmocka_unit_test(test_emit_masks_secret_in_a_key),
      cmocka_unit_test(test_emit_stays_json_with_number_and_literal_secrets),
      cmocka_unit_test(test_emit_masks_secret_that_json_escapes),
      cmocka_unit_test(test_emit_with_masker_but_no_secret_in_the_event),
      cmocka_unit_test(test_sink_error_is_returned),
      cmocka_unit_test(test_emit_of_an_event_without_type),
      cmocka_unit_test(test_stdout_sink_writes_one_line),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

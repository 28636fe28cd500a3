/* shared/service/metrics.h (the registry and its text format, read back by a small
 * parser of the exposition format), worker_metrics.h (what a reaped job
 * adds, readiness), metrics_http.h (the endpoints, over loopback) and the
 * metrics.listen setting. */
#include "core/cleanup.h"
#include "core/config.h"
#include "service/metrics.h"
#include "service/metrics_http.h"
#include "service/worker_metrics.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- a parser of the text format 0.0.4, strict enough to catch mistakes ---- */

#define MAX_SAMPLES 512
#define MAX_LABELS 4

typedef struct sample {
  char name[128];
  char label_names[MAX_LABELS][32];
  char label_values[MAX_LABELS][128];
  int label_count;
  double value;
} sample;

typedef struct exposition {
  sample samples[MAX_SAMPLES];
  int count;
  char types[64][160]; /* "name type" */
  int type_count;
  char helps[64][256]; /* "name text" (unescaped) */
  int help_count;
} exposition;

static const char *parse_quoted(const char *p, char *out, size_t len, bool help) {
  size_t n = 0;
  for (; *p && (help || *p != '"'); p++) {
    char c = *p;
    if (c == '\\') {
      p++;
      c = *p == 'n' ? '\n' : *p;
      assert_true(*p == 'n' || *p == '\\' || (*p == '"' && !help));
    }
    assert_true(n + 1 < len);
    out[n++] = c;
  }
  out[n] = '\0';
  return p;
}

static double parse_value(const char *text) {
  if (strcmp(text, "+Inf") == 0)
    return INFINITY;
  if (strcmp(text, "-Inf") == 0)
    return -INFINITY;
  if (strcmp(text, "NaN") == 0)
    return NAN;
  char *end = NULL;
  double v = strtod(text, &end);
  assert_true(end != text && *end == '\0');
  return v;
}

static void parse_line(exposition *e, const char *line) {
  if (strncmp(line, "# TYPE ", 7) == 0) {
    snprintf(e->types[e->type_count++], sizeof(e->types[0]), "%s", line + 7);
    return;
  }
  if (strncmp(line, "# HELP ", 7) == 0) {
    parse_quoted(line + 7, e->helps[e->help_count++], sizeof(e->helps[0]), true);
    return;
  }
  assert_true(line[0] != '#');
  sample *s = &e->samples[e->count++];
  assert_true(e->count <= MAX_SAMPLES);
  memset(s, 0, sizeof(*s));
  size_t n = strcspn(line, "{ ");
  assert_true(n > 0 && n < sizeof(s->name));
  memcpy(s->name, line, n);
  const char *p = line + n;
  if (*p == '{') {
    p++;
    while (*p != '}') {
      size_t k = strcspn(p, "=");
      assert_true(k > 0 && k < sizeof(s->label_names[0]) && s->label_count < MAX_LABELS);
      memcpy(s->label_names[s->label_count], p, k);
      p += k;
      assert_true(p[0] == '=' && p[1] == '"');
      p = parse_quoted(p + 2, s->label_values[s->label_count], sizeof(s->label_values[0]), false);
      assert_true(*p == '"');
      p++;
      s->label_count++;
      if (*p == ',')
        p++;
      else
        assert_true(*p == '}');
    }
    p++;
  }
  assert_true(*p == ' ');
  s->value = parse_value(p + 1);
}

static void parse(exposition *e, const char *text) {
  memset(e, 0, sizeof(*e));
  assert_true(text[strlen(text) - 1] == '\n');
  cleanup_free char *copy = bw_strdup(text);
  char *save = NULL;
  for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
    parse_line(e, line);
}

/* The value of the sample `name` whose labels include label=value (NULL: any). */
static double value_of(const exposition *e, const char *name, const char *label,
                       const char *value) {
  for (int i = 0; i < e->count; i++) {
    const sample *s = &e->samples[i];
    if (strcmp(s->name, name) != 0)
      continue;
    if (!label)
      return s->value;
    for (int k = 0; k < s->label_count; k++)
      if (strcmp(s->label_names[k], label) == 0 && strcmp(s->label_values[k], value) == 0)
        return s->value;
  }
  fail_msg("no sample %s{%s=\"%s\"}", name, label ? label : "", value ? value : "");
  return NAN;
}

static double bucket(const exposition *e, const char *name, const char *le) {
  char full[160];
  snprintf(full, sizeof(full), "%s_bucket", name);
  return value_of(e, full, "le", le);
}

static void render_parse(metrics_registry *reg, exposition *e) {
  size_t len = 0;
  cleanup_free char *text = metrics_render(reg, &len);
  assert_int_equal(len, strlen(text));
  parse(e, text);
}

/* ---- the registry ------------------------------------------------------------ */

static void test_counter_and_gauge(void **state) {
  metrics_registry *reg = metrics_registry_new();
  static const char *const colors[] = {"red", "green", NULL};
  metric *c = metrics_counter(reg, "t_things_total", "Things.", "color", colors);
  metric *g = metrics_gauge(reg, "t_level", "A level.", NULL, NULL);
  assert_int_equal(metric_series(c, "green"), 1);
  assert_int_equal(metric_series(c, "blue"), -1);
  metric_add(c, metric_series(c, "green"), 2);
  metric_add(c, 1, 1);
  metric_add(c, 0, -5);  /* a counter never goes down */
  metric_add(c, 7, 1);   /* no such series: ignored */
  metric_add(c, 0, NAN); /* ignored */
  metric_set(g, 0, 2.5);
  metric_add(g, 0, -1); /* a gauge may go down */
  static exposition e;
  render_parse(reg, &e);
  assert_int_equal(e.count, 3);
  assert_true(value_of(&e, "t_things_total", "color", "red") == 0);
  assert_true(value_of(&e, "t_things_total", "color", "green") == 3);
  assert_true(value_of(&e, "t_level", NULL, NULL) == 1.5);
  assert_int_equal(e.type_count, 2);
  assert_string_equal(e.types[0], "t_things_total counter");
  assert_string_equal(e.types[1], "t_level gauge");
  assert_string_equal(e.helps[0], "t_things_total Things.");
  metrics_registry_free(reg);
}

static void test_exact_text(void **state) {
  metrics_registry *reg = metrics_registry_new();
  metric *g = metrics_gauge(reg, "t_g", "Help with \\ and\nnewline.", NULL, NULL);
  metric_set(g, 0, 0.1);
  size_t len;
  cleanup_free char *text = metrics_render(reg, &len);
  assert_string_equal(text, "# HELP t_g Help with \\\\ and\\nnewline.\n"
                            "# TYPE t_g gauge\n"
                            "t_g 0.1\n");
  metrics_registry_free(reg);
}

static void test_histogram(void **state) {
  metrics_registry *reg = metrics_registry_new();
  static const double bounds[] = {0.5, 1, 10};
  static const char *const phases[] = {"pull", "run", NULL};
  metric *h = metrics_histogram(reg, "t_seconds", "Durations.", "phase", phases, bounds, 3);
  metric_observe(h, 1, 0.25);
  metric_observe(h, 1, 1); /* on a bound: counted in that bucket (le) */
  metric_observe(h, 1, 3);
  metric_observe(h, 1, 100);
  metric_observe(h, 1, NAN); /* ignored */
  static exposition e;
  render_parse(reg, &e);
  assert_int_equal(e.count, 2 * (4 + 2));
  assert_true(bucket(&e, "t_seconds", "0.5") == 0); /* the pull series comes first */
  /* The run series: find its samples by both labels. */
  int seen = 0;
  for (int i = 0; i < e.count; i++) {
    const sample *s = &e.samples[i];
    if (strcmp(s->label_values[0], "run") != 0)
      continue;
    assert_string_equal(s->label_names[0], "phase");
    if (strcmp(s->name, "t_seconds_bucket") == 0) {
      assert_string_equal(s->label_names[1], "le");
      const char *le = s->label_values[1];
      double want = strcmp(le, "0.5") == 0    ? 1
                    : strcmp(le, "1") == 0    ? 2
                    : strcmp(le, "10") == 0   ? 3
                    : strcmp(le, "+Inf") == 0 ? 4
                                              : -1;
      assert_true(s->value == want);
    } else if (strcmp(s->name, "t_seconds_sum") == 0) {
      assert_true(s->value == 104.25);
    } else {
      assert_string_equal(s->name, "t_seconds_count");
      assert_true(s->value == 4);
    }
    seen++;
  }
  assert_int_equal(seen, 6);
  assert_string_equal(e.types[0], "t_seconds histogram");
  metrics_registry_free(reg);
}

static void test_label_values_escaped(void **state) {
  metrics_registry *reg = metrics_registry_new();
  static const char *const labels[] = {"topic", "partition", NULL};
  metric *t = metrics_gauge_table(reg, "t_lag", "Lag.", labels);
  const char *nasty[] = {"a\"b\\c\nd", "7"};
  const char *plain[] = {"runs", "0"};
  metric_row rows[] = {{nasty, 5}, {plain, 0}};
  metric_table_replace(t, rows, 2);
  static exposition e;
  render_parse(reg, &e);
  assert_int_equal(e.count, 2);
  assert_string_equal(e.samples[0].label_values[0], "a\"b\\c\nd");
  assert_string_equal(e.samples[0].label_values[1], "7");
  assert_true(e.samples[0].value == 5);
  /* Replaced whole: the old series go. */
  metric_table_replace(t, rows + 1, 1);
  render_parse(reg, &e);
  assert_int_equal(e.count, 1);
  assert_string_equal(e.samples[0].label_values[0], "runs");
  metric_table_replace(t, NULL, 0);
  render_parse(reg, &e);
  assert_int_equal(e.count, 0);
  assert_int_equal(e.type_count, 1); /* HELP and TYPE stay */
  metrics_registry_free(reg);
}

static void test_values_read_back(void **state) {
  metrics_registry *reg = metrics_registry_new();
  static const char *const names[] = {"a", "b", "c", "d", "e", "f", NULL};
  metric *g = metrics_gauge(reg, "t_v", "Values.", "k", names);
  const double values[] = {1e-9,     123456789012345.0, 1.0 / 3,
                           INFINITY, -INFINITY,         9007199254740993.0};
  for (int i = 0; i < 6; i++)
    metric_set(g, i, values[i]);
  size_t len;
  cleanup_free char *text = metrics_render(reg, &len);
  assert_non_null(strstr(text, "t_v{k=\"d\"} +Inf\n"));
  assert_non_null(strstr(text, "t_v{k=\"e\"} -Inf\n"));
  assert_non_null(strstr(text, "t_v{k=\"b\"} 123456789012345\n"));
  static exposition e;
  parse(&e, text);
  for (int i = 0; i < 6; i++)
    assert_true(e.samples[i].value == values[i]);
  metric_set(g, 0, NAN);
  render_parse(reg, &e);
  assert_true(isnan(e.samples[0].value));
  metrics_registry_free(reg);
}

typedef struct adder {
  metric *c;
  metric *h;
} adder;

static void *add_many(void *arg) {
  adder *a = arg;
  for (int i = 0; i < 20000; i++) {
    metric_add(a->c, 0, 1);
    metric_observe(a->h, 0, 0.5);
  }
  return NULL;
}

static void test_threads(void **state) {
  metrics_registry *reg = metrics_registry_new();
  static const double bounds[] = {1};
  adder a = {metrics_counter(reg, "t_n_total", "N.", NULL, NULL),
             metrics_histogram(reg, "t_h", "H.", NULL, NULL, bounds, 1)};
  pthread_t threads[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&threads[i], NULL, add_many, &a), 0);
  for (int i = 0; i < 20; i++) { /* scrapes meanwhile */
    size_t len;
    free(metrics_render(reg, &len));
  }
  for (int i = 0; i < 4; i++)
    pthread_join(threads[i], NULL);
  static exposition e;
  render_parse(reg, &e);
  assert_true(value_of(&e, "t_n_total", NULL, NULL) == 80000);
  assert_true(value_of(&e, "t_h_count", NULL, NULL) == 80000);
  assert_true(bucket(&e, "t_h", "1") == 80000);
  metrics_registry_free(reg);
}

/* ---- the worker's metrics ------------------------------------------------- */

static void test_worker_job_finished(void **state) {
  worker_metrics *wm = worker_metrics_new(3, 3000);
  job_result r = {.status = JOB_USER_ERROR,
                  .duration_ms = 2500,
                  .phases_ms = json_pack("{s:i, s:i, s:i}", "prepare", 4, "run", 2000, "new", 1),
                  .image = JOB_IMAGE_PULLED,
                  .log_bytes = 1000,
                  .log_bytes_dropped = 200};
  worker_metrics_job_started(wm);
  worker_metrics_job_finished(wm, &r, false);
  r.status = JOB_SUCCESS;
  r.image = JOB_IMAGE_CACHED;
  worker_metrics_job_finished(wm, &r, false);
  worker_metrics_job_finished(wm, &r, true);
  worker_metrics_dead_letter(wm);
  worker_metrics_duplicate(wm);
  worker_metrics_duplicate(wm);
  json_decref(r.phases_ms);
  static exposition e;
  render_parse(worker_metrics_registry(wm), &e);
  const char *jobs = "bundle_worker_jobs_finished_total";
  assert_true(value_of(&e, "bundle_worker_jobs_started_total", NULL, NULL) == 1);
  assert_true(value_of(&e, jobs, "status", "user_error") == 1);
  assert_true(value_of(&e, jobs, "status", "success") == 1);
  assert_true(value_of(&e, jobs, "status", "interrupted") == 1);
  assert_true(value_of(&e, jobs, "status", "timeout") == 0);
  assert_true(value_of(&e, "bundle_worker_job_duration_seconds_count", NULL, NULL) == 2);
  assert_true(value_of(&e, "bundle_worker_job_duration_seconds_sum", NULL, NULL) == 5);
  assert_true(bucket(&e, "bundle_worker_job_duration_seconds", "1") == 0);
  assert_true(bucket(&e, "bundle_worker_job_duration_seconds", "5") == 2);
  assert_true(value_of(&e, "bundle_worker_job_phase_duration_seconds_count", "phase", "run") == 3);
  assert_true(
      fabs(value_of(&e, "bundle_worker_job_phase_duration_seconds_sum", "phase", "prepare") -
           0.012) < 1e-9);
  assert_true(value_of(&e, "bundle_worker_job_phase_duration_seconds_count", "phase", "pull") == 0);
  assert_true(value_of(&e, "bundle_worker_image_pulls_total", NULL, NULL) == 1);
  assert_true(value_of(&e, "bundle_worker_image_cache_hits_total", NULL, NULL) == 2);
  assert_true(value_of(&e, "bundle_worker_image_pull_failures_total", NULL, NULL) == 0);
  assert_true(value_of(&e, "bundle_worker_job_log_bytes_total", NULL, NULL) == 3000);
  assert_true(value_of(&e, "bundle_worker_job_log_dropped_bytes_total", NULL, NULL) == 600);
  assert_true(value_of(&e, "bundle_worker_dead_letters_total", NULL, NULL) == 1);
  assert_true(value_of(&e, "bundle_worker_duplicates_total", NULL, NULL) == 2);
  assert_true(value_of(&e, "bundle_worker_slots", NULL, NULL) == 3);
  /* Every family is named with the prefix, and counters end in _total. */
  for (int i = 0; i < e.type_count; i++) {
    assert_true(strncmp(e.types[i], "bundle_worker_", 14) == 0);
    if (strstr(e.types[i], " counter"))
      assert_non_null(strstr(e.types[i], "_total counter"));
  }
  worker_metrics_free(wm);
  worker_metrics_free(NULL);
  worker_metrics_job_finished(NULL, &r, false); /* NULL: nothing measured */
}

static void test_worker_readiness(void **state) {
  worker_metrics *wm = worker_metrics_new(1, 500);
  char reason[128] = "";
  assert_false(worker_metrics_ready(wm, reason, sizeof(reason)));
  assert_string_equal(reason, "kafka: not in the consumer group yet");
  worker_metrics_redis_reached(wm, true);
  worker_metrics_docker_reached(wm, true);
  assert_false(worker_metrics_ready(wm, reason, sizeof(reason)));
  worker_metrics_draining(wm);
  assert_false(worker_metrics_ready(wm, reason, sizeof(reason)));
  assert_string_equal(reason, "draining: the worker is shutting down");
  worker_metrics_free(wm);
}

/* ---- metrics.listen --------------------------------------------------------- */

static void test_listen_parse(void **state) {
  static const struct {
    const char *text;
    int rc;
    const char *host;
    int port;
  } cases[] = {
      {"127.0.0.1:9464", 1, "127.0.0.1", 9464},
      {":9464", 1, "", 9464},
      {"0.0.0.0:0", 1, "0.0.0.0", 0},
      {"[::1]:80", 1, "::1", 80},
      {"[::]:9464", 1, "::", 9464},
      {"localhost:65535", 1, "localhost", 65535},
      {"", 0, NULL, 0},
      {"off", 0, NULL, 0},
      {"9464", -1, NULL, 0},
      {"host:", -1, NULL, 0},
      {"host:65536", -1, NULL, 0},
      {"host:-1", -1, NULL, 0},
      {"host:+80", -1, NULL, 0},
      {"host:80x", -1, NULL, 0},
      {"::1:80", -1, NULL, 0},
      {"[]:80", -1, NULL, 0},
      {"a b:80", -1, NULL, 0},
      {"http://x:80", -1, NULL, 0},
      {"host:0000080", -1, NULL, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    cleanup_free char *host = NULL;
    int port = -1;
    int rc = bw_config_listen_parse(cases[i].text, &host, &port);
    if (rc != cases[i].rc)
      fail_msg("'%s': got %d, want %d", cases[i].text, rc, cases[i].rc);
    if (rc == 1) {
      assert_string_equal(host, cases[i].host);
      assert_int_equal(port, cases[i].port);
    }
  }
}

static void test_listen_key(void **state) {
  bw_config cfg;
  bw_config_init(&cfg);
  assert_string_equal(cfg.metrics_listen, "127.0.0.1:9464");
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(bw_config_set(&cfg, "metrics.listen", "off", "--set", &err), 0);
  assert_string_equal(cfg.metrics_listen, "off");
  assert_int_equal(bw_config_set(&cfg, "metrics.listen", ":9100", "--set", &err), 0);
  assert_true(bw_config_set(&cfg, "metrics.listen", "9100", "w.conf:3", &err) < 0);
  assert_non_null(strstr(bw_error_msg(&err), "w.conf:3: metrics.listen: expected HOST:PORT"));
  assert_non_null(strstr(bw_error_msg(&err), "got '9100'"));
  bw_config_free(&cfg);
}

/* ---- the endpoints, over loopback ------------------------------------------------ */

typedef struct reply {
  long status;
  char *body;
  size_t len;
  char content_type[128];
} reply;

static size_t on_body(char *data, size_t size, size_t n, void *ctx) {
  FILE *f = ctx;
  return fwrite(data, size, n, f);
}

static void http(int port, const char *method, const char *path, reply *r) {
  memset(r, 0, sizeof(*r));
  CURL *curl = curl_easy_init();
  assert_non_null(curl);
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
  FILE *f = open_memstream(&r->body, &r->len);
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  if (strcmp(method, "HEAD") == 0)
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  assert_int_equal(curl_easy_perform(curl), CURLE_OK);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
  char *type = NULL;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
  snprintf(r->content_type, sizeof(r->content_type), "%s", type ? type : "");
  curl_easy_cleanup(curl);
  fclose(f);
}

static bool ready_answer(void *ctx, char *reason, size_t len) {
  const int *ready = ctx;
  if (!*ready)
    snprintf(reason, len, "kafka: not in the consumer group yet");
  return *ready;
}

static void test_http_endpoints(void **state) {
  bw_logger log;
  bw_logger_init(&log, BW_LOG_ERROR, 2, "t");
  metrics_registry *reg = metrics_registry_new();
  metric *c = metrics_counter(reg, "t_jobs_total", "Jobs.", NULL, NULL);
  metric_add(c, 0, 3);
  int ready = 0;
  metrics_server *srv = NULL;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(metrics_server_start("metrics.listen", "127.0.0.1:0", reg, ready_answer, &ready,
                                        &log, &srv, &err),
                   0);
  int port = metrics_server_port(srv);
  assert_true(port > 0);
  reply r;
  http(port, "GET", "/metrics", &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  static exposition e;
  parse(&e, r.body);
  assert_true(value_of(&e, "t_jobs_total", NULL, NULL) == 3);
  free(r.body);
  http(port, "HEAD", "/metrics", &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.len, 0);
  free(r.body);
  http(port, "GET", "/healthz", &r);
  assert_int_equal(r.status, 200);
  free(r.body);
  http(port, "GET", "/readyz", &r);
  assert_int_equal(r.status, 503);
  assert_string_equal(r.body, "kafka: not in the consumer group yet\n");
  free(r.body);
  ready = 1;
  http(port, "GET", "/readyz?verbose", &r);
  assert_int_equal(r.status, 200);
  free(r.body);
  http(port, "GET", "/other", &r);
  assert_int_equal(r.status, 404);
  free(r.body);
  http(port, "POST", "/metrics", &r);
  assert_int_equal(r.status, 405);
  free(r.body);

  /* The port taken: a clear error naming the key and the address. */
  char addr[32];
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
  metrics_server *second = NULL;
  assert_true(metrics_server_start("metrics.listen", addr, reg, NULL, NULL, &log, &second, &err) <
              0);
  assert_null(second);
  char want[96];
  snprintf(want, sizeof(want), "metrics.listen: cannot listen on %s: Address already in use", addr);
  assert_string_equal(bw_error_msg(&err), want);
  bw_error_release(&err);
  assert_true(metrics_server_start("metrics.listen", "no-such-host.invalid:1", reg, NULL, NULL,
                                   &log, &second, &err) < 0);
  assert_non_null(strstr(bw_error_msg(&err), "metrics.listen: no-such-host.invalid:1: "));
  metrics_server_stop(srv);
  metrics_server_stop(NULL);
  metrics_registry_free(reg);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counter_and_gauge),   cmocka_unit_test(test_exact_text),
      cmocka_unit_test(test_histogram),           cmocka_unit_test(test_label_values_escaped),
      cmocka_unit_test(test_values_read_back),    cmocka_unit_test(test_threads),
      cmocka_unit_test(test_worker_job_finished), cmocka_unit_test(test_worker_readiness),
      cmocka_unit_test(test_listen_parse),        cmocka_unit_test(test_listen_key),
      cmocka_unit_test(test_http_endpoints),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}

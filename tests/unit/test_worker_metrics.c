/* shared/service/worker_metrics.h and metrics_http.h: the worker's metrics,
 * metrics.listen, and /metrics, /healthz, /readyz over loopback. */
#include "metrics_fixture.h"

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
      cmocka_unit_test(test_worker_job_finished), cmocka_unit_test(test_worker_readiness),
      cmocka_unit_test(test_listen_parse),        cmocka_unit_test(test_listen_key),
      cmocka_unit_test(test_http_endpoints),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}

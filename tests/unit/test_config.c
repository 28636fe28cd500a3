/* shared/core/config.h: defaults, and configuration files with their errors. */
#include "config_fixture.h"

/* ---- defaults ---- */

static void test_defaults(void **state) {
  const bw_config *cfg = *state;
  assert_non_null(cfg->worker_id);
  assert_true(strlen(cfg->worker_id) > 0); /* the host name, or "worker" */
  assert_int_equal(cfg->worker_slots, 2);
  assert_int_equal(cfg->worker_drain_timeout_s, 300);
  assert_int_equal(cfg->worker_heartbeat_interval_ms, 3000);
  assert_int_equal(cfg->log_level, BW_LOG_INFO);
  assert_string_equal(cfg->topic_runs, "bundle.runs");
  assert_string_equal(cfg->topic_events, "bundle.events");
  assert_string_equal(cfg->topic_uploads, "bundle.uploads");
  assert_string_equal(cfg->topic_dlq, "bundle.runs.dlq");
  assert_string_equal(cfg->redis_host, "127.0.0.1");
  assert_int_equal(cfg->redis_port, 6379);
  assert_string_equal(cfg->redis_password, "");
  assert_int_equal(cfg->redis_db, 0);
  assert_int_equal(cfg->redis_timeout_ms, 2000);
  assert_string_equal(cfg->docker_socket, "/var/run/docker.sock");
  assert_int_equal(cfg->docker_timeout_ms, 30000);
  assert_string_equal(cfg->components_file, "");
  assert_string_equal(cfg->data_root, "/var/tmp/bundle-worker/jobs");
  assert_string_equal(cfg->artifacts_url, "file:///var/tmp/bundle-worker/artifacts");
  assert_false(cfg->keep_failed_data);
  assert_int_equal(cfg->log_max_bytes, 10485760);
  assert_int_equal(cfg->kafka_count, 0);
  assert_null(bw_config_kafka_get(cfg, "bootstrap.servers"));
}

static void test_free_twice_is_harmless(void **state) {
  bw_config cfg;
  bw_config_init(&cfg);
  bw_config_free(&cfg);
  bw_config_free(&cfg);
  bw_config_free(NULL);
}

/* ---- files ---- */

static const char good_file[] = "# bundle-worker test configuration\n"
                                "\n"
                                "   # an indented comment\n"
                                "worker.slots=4\n"
                                "redis.port = 7000\n"
                                "  log.level   =   debug  \n"
                                "\t\n"
                                "jobs.keep.failed.data = yes\n"
                                "worker.id = w-1.a_B\n"
                                "topic.runs = runs = with equals\n"
                                "components.file =\n"
                                "kafka.bootstrap.servers = broker1:9092,broker2:9092\n"
                                "kafka.security.protocol = SASL_SSL\n"
                                "redis.db = 3"; /* no final newline */

static void test_good_file(void **state) {
  bw_config *cfg = *state;
  bw_error_t err = NULL;
  if (load(cfg, good_file, &err) < 0)
    fail_msg("%s", bw_error_msg(&err));
  assert_int_equal(cfg->worker_slots, 4);
  assert_int_equal(cfg->redis_port, 7000);
  assert_int_equal(cfg->log_level, BW_LOG_DEBUG);
  assert_true(cfg->keep_failed_data);
  assert_string_equal(cfg->worker_id, "w-1.a_B");
  assert_string_equal(cfg->topic_runs, "runs = with equals"); /* only the first '=' splits */
  assert_string_equal(cfg->components_file, "");
  assert_int_equal(cfg->redis_db, 3);
  assert_int_equal(cfg->kafka_count, 2);
  assert_string_equal(cfg->kafka[0].key, "bootstrap.servers"); /* in file order */
  assert_string_equal(cfg->kafka[0].value, "broker1:9092,broker2:9092");
  assert_string_equal(cfg->kafka[1].key, "security.protocol");
  assert_string_equal(bw_config_kafka_get(cfg, "security.protocol"), "SASL_SSL");
  assert_null(bw_config_kafka_get(cfg, "acks"));
}

static void test_crlf_line_ends(void **state) {
  bw_config *cfg = *state;
  bw_error_t err = NULL;
  assert_int_equal(load(cfg, "redis.host = db.local\r\n# c\r\n\r\nredis.port = 1\r\n", &err), 0);
  assert_string_equal(cfg->redis_host, "db.local");
  assert_int_equal(cfg->redis_port, 1);
}

static void test_empty_text(void **state) {
  bw_config *cfg = *state;
  bw_error_t err = NULL;
  assert_int_equal(bw_config_load_string(cfg, "t.conf", "", 0, &err), 0);
  assert_int_equal(load(cfg, "\n\n# only comments\n", &err), 0);
  assert_int_equal(cfg->redis_port, 6379);
}

static void test_bools(void **state) {
  static const struct {
    const char *text;
    bool value;
  } cases[] = {
      {"true", true}, {"1", true}, {"yes", true}, {"false", false}, {"0", false}, {"no", false},
  };
  bw_config *cfg = *state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    bw_error_t err = NULL;
    cfg->keep_failed_data = !cases[i].value;
    assert_int_equal(bw_config_set(cfg, "jobs.keep.failed.data", cases[i].text, "--set", &err), 0);
    assert_int_equal(cfg->keep_failed_data, cases[i].value);
  }
}

static void test_int_bounds_are_inclusive(void **state) {
  bw_config *cfg = *state;
  bw_error_t err = NULL;
  assert_int_equal(bw_config_set(cfg, "redis.port", "65535", "--set", &err), 0);
  assert_int_equal(cfg->redis_port, 65535);
  assert_int_equal(bw_config_set(cfg, "redis.port", "1", "--set", &err), 0);
  assert_int_equal(bw_config_set(cfg, "worker.slots", "256", "--set", &err), 0);
  assert_int_equal(bw_config_set(cfg, "redis.db", "0", "--set", &err), 0);
}

static void test_kafka_key_set_twice_keeps_one_entry(void **state) {
  bw_config *cfg = *state;
  bw_error_t err = NULL;
  assert_int_equal(load(cfg, "kafka.acks = 1\nkafka.client.id = a\nkafka.acks = all\n", &err), 0);
  assert_int_equal(cfg->kafka_count, 2);
  assert_string_equal(bw_config_kafka_get(cfg, "acks"), "all");
  assert_string_equal(cfg->kafka[0].key, "acks");
}

/* Each bad line, alone in a file, and the exact message it gives. */
static void test_bad_lines(void **state) {
  static const struct {
    const char *text;
    const char *message;
  } cases[] = {
      {"worker.slots 4", "t.conf:1: expected 'key = value', got 'worker.slots 4'"},
      {"# ok\n\nredis.port", "t.conf:3: expected 'key = value', got 'redis.port'"},
      {"= 4", "t.conf:1: missing key before '='"},
      {"\n   = 4", "t.conf:2: missing key before '='"},
      {"nope = 1", "t.conf:1: unknown key 'nope' (bundle-worker config keys lists them)"},
      {"redis.port.x = 1",
       "t.conf:1: unknown key 'redis.port.x' (bundle-worker config keys lists them)"},
      {"REDIS.PORT = 1",
       "t.conf:1: unknown key 'REDIS.PORT' (bundle-worker config keys lists them)"},
      {"redis.port = abc", "t.conf:1: redis.port: expected an integer from 1 to 65535, got 'abc'"},
      {"redis.port = 70000",
       "t.conf:1: redis.port: expected an integer from 1 to 65535, got '70000'"},
      {"redis.port = 0", "t.conf:1: redis.port: expected an integer from 1 to 65535, got '0'"},
      {"redis.port = -1", "t.conf:1: redis.port: expected an integer from 1 to 65535, got '-1'"},
      {"redis.port = 12abc",
       "t.conf:1: redis.port: expected an integer from 1 to 65535, got '12abc'"},
      {"redis.port = 6379.0",
       "t.conf:1: redis.port: expected an integer from 1 to 65535, got '6379.0'"},
      {"redis.port =", "t.conf:1: redis.port: expected an integer from 1 to 65535, got ''"},
      {"redis.port = 99999999999999999999",
       "t.conf:1: redis.port: expected an integer from 1 to 65535, got '99999999999999999999'"},
      {"worker.slots = 0", "t.conf:1: worker.slots: expected an integer from 1 to 256, got '0'"},
      {"jobs.keep.failed.data = maybe",
       "t.conf:1: jobs.keep.failed.data: expected true or false, got 'maybe'"},
      {"jobs.keep.failed.data = TRUE",
       "t.conf:1: jobs.keep.failed.data: expected true or false, got 'TRUE'"},
      {"log.level = loud", "t.conf:1: log.level: expected debug, info, warn or error, got 'loud'"},
      {"log.level = INFO", "t.conf:1: log.level: expected debug, info, warn or error, got 'INFO'"},
      {"worker.id = bad id",
       "t.conf:1: worker.id: expected 1 to 64 characters of [A-Za-z0-9._-], got 'bad id'"},
      {"worker.id =", "t.conf:1: worker.id: expected 1 to 64 characters of [A-Za-z0-9._-], got ''"},
      {"worker.id = w/1",
       "t.conf:1: worker.id: expected 1 to 64 characters of [A-Za-z0-9._-], got 'w/1'"},
      {"kafka.no.such.property = 1",
       "t.conf:1: kafka.no.such.property: librdkafka has no such property"},
      {"kafka. = 1", "t.conf:1: 'kafka.' needs a librdkafka property name"},
      {"worker.slots = 3\nredis.host = h\nlog.level = warn\nnope = 1",
       "t.conf:4: unknown key 'nope' (bundle-worker config keys lists them)"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    bw_config cfg;
    bw_config_init(&cfg);
    bw_error_t err = NULL;
    if (load(&cfg, cases[i].text, &err) == 0)
      fail_msg("accepted: %s", cases[i].text);
    assert_int_equal(err->kind, BW_ERR_INVALID);
    if (strcmp(err->msg, cases[i].message) != 0)
      fail_msg("%s\n  got      '%s'\n  expected '%s'", cases[i].text, err->msg, cases[i].message);
    bw_error_release(&err);
    bw_config_free(&cfg);
  }
}

static void test_bad_value_keeps_the_old_one(void **state) {
  bw_config *cfg = *state;
  bw_error_t err = NULL;
  assert_int_equal(load(cfg, "redis.port = 70000", &err), -1);
  assert_int_equal(cfg->redis_port, 6379);
  bw_error_release(&err);
}

static void test_worker_id_of_64_and_65_characters(void **state) {
  bw_config *cfg = *state;
  char id[66];
  memset(id, 'w', 65);
  id[65] = '\0';
  bw_error_t err = NULL;
  assert_int_equal(bw_config_set(cfg, "worker.id", id, "--set", &err), -1);
  assert_non_null(strstr(err->msg, "--set: worker.id: expected 1 to 64 characters"));
  bw_error_release(&err);
  id[64] = '\0';
  assert_int_equal(bw_config_set(cfg, "worker.id", id, "--set", &err), 0);
  assert_string_equal(cfg->worker_id, id);
}

static void test_invalid_kafka_value_quotes_librdkafka(void **state) {
  bw_config *cfg = *state;
  bw_error_t err = NULL;
  assert_int_equal(load(cfg, "\nkafka.acks = banana\n", &err), -1);
  assert_non_null(strstr(err->msg, "t.conf:2: kafka.acks: "));
  assert_non_null(strstr(err->msg, "Invalid value")); /* librdkafka's own words */
  assert_int_equal(cfg->kafka_count, 0);
  bw_error_release(&err);
}

static void test_nul_byte_is_refused(void **state) {
  bw_config *cfg = *state;
  static const char text[] = "worker.slots = 3\nredis.host = a\0b\n";
  bw_error_t err = NULL;
  assert_int_equal(bw_config_load_string(cfg, "t.conf", text, sizeof(text) - 1, &err), -1);
  assert_string_equal(err->msg, "t.conf: contains a NUL byte: not a text file");
  assert_int_equal(cfg->worker_slots, 2); /* nothing applied */
  bw_error_release(&err);
}

static void test_load_file(void **state) {
  bw_config *cfg = *state;
  char path[] = "/tmp/bw-test-config-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  static const char text[] = "redis.port = 7100\nworker.slots = 5\n";
  assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
  close(fd);
  bw_error_t err = NULL;
  int rc = bw_config_load_file(cfg, path, &err);
  unlink(path);
  if (rc < 0)
    fail_msg("%s", bw_error_msg(&err));
  assert_int_equal(cfg->redis_port, 7100);
  assert_int_equal(cfg->worker_slots, 5);
  char *out = printed(cfg);
  char *want = bw_strdup_printf("redis.port = 7100    # from %s:1\n", path);
  assert_non_null(strstr(out, want));
  free(want);
  free(out);
}

static void test_load_file_error_names_path_and_line(void **state) {
  bw_config *cfg = *state;
  char path[] = "/tmp/bw-test-config-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  static const char text[] = "# header\nredis.port = x\n";
  assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
  close(fd);
  bw_error_t err = NULL;
  assert_int_equal(bw_config_load_file(cfg, path, &err), -1);
  unlink(path);
  char *want = bw_strdup_printf("%s:2: redis.port: expected an integer", path);
  assert_non_null(strstr(err->msg, want));
  free(want);
  bw_error_release(&err);
}

static void test_missing_file_names_the_path(void **state) {
  bw_config *cfg = *state;
  bw_error_t err = NULL;
  assert_int_equal(bw_config_load_file(cfg, "/nonexistent/bw/worker.conf", &err), -1);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  assert_string_equal(err->msg,
                      "config file /nonexistent/bw/worker.conf: No such file or directory");
  bw_error_release(&err);
}

static void test_directory_is_not_a_file(void **state) {
  bw_config *cfg = *state;
  bw_error_t err = NULL;
  assert_int_equal(bw_config_load_file(cfg, "/tmp", &err), -1);
  assert_non_null(strstr(err->msg, "config file /tmp"));
  bw_error_release(&err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      WITH_CONFIG(test_defaults),
      cmocka_unit_test(test_free_twice_is_harmless),
      WITH_CONFIG(test_good_file),
      WITH_CONFIG(test_crlf_line_ends),
      WITH_CONFIG(test_empty_text),
      WITH_CONFIG(test_bools),
      WITH_CONFIG(test_int_bounds_are_inclusive),
      WITH_CONFIG(test_kafka_key_set_twice_keeps_one_entry),
      cmocka_unit_test(test_bad_lines),
      WITH_CONFIG(test_bad_value_keeps_the_old_one),
      WITH_CONFIG(test_worker_id_of_64_and_65_characters),
      WITH_CONFIG(test_invalid_kafka_value_quotes_librdkafka),
      WITH_CONFIG(test_nul_byte_is_refused),
      WITH_CONFIG(test_load_file),
      WITH_CONFIG(test_load_file_error_names_path_and_line),
      WITH_CONFIG(test_missing_file_names_the_path),
      WITH_CONFIG(test_directory_is_not_a_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

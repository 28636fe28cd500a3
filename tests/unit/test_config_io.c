/* shared/core/config.h: the environment, the precedence of file, environment
 * and --set, and printing (secrets hidden). */
#include "config_fixture.h"

/* ---- environment ---- */

static void test_env_sets_keys_and_ignores_others(void **state) {
  bw_config *cfg = *state;
  char *envp[] = {
      "PATH=/usr/bin",
      "BUNDLE_WORKER_REDIS_PORT=7000",
      "BUNDLE_WORKER_CONFIG=/etc/bundle-worker/worker.conf",
      "BUNDLE_WORKER_KAFKA_BOOTSTRAP_SERVERS=h:1",
      "BUNDLE_WORKER_WORKER_DRAIN_TIMEOUT_SECONDS=5",
      "BUNDLE_WORKER_LOG_LEVEL=error",
      "bundle_worker_redis_port=1", /* the prefix is upper case */
      "BUNDLE_WORKER_NO_EQUALS_SIGN",
      "HOME=/root",
      NULL,
  };
  bw_error_t err = NULL;
  if (bw_config_apply_env(cfg, envp, &err) < 0)
    fail_msg("%s", bw_error_msg(&err));
  assert_int_equal(cfg->redis_port, 7000);
  assert_string_equal(bw_config_kafka_get(cfg, "bootstrap.servers"), "h:1");
  assert_int_equal(cfg->worker_drain_timeout_s, 5);
  assert_int_equal(cfg->log_level, BW_LOG_ERROR);
  char *out = printed(cfg);
  assert_non_null(
      strstr(out, "redis.port = 7000    # from environment BUNDLE_WORKER_REDIS_PORT\n"));
  free(out);
}

static void test_env_null_and_empty(void **state) {
  bw_config *cfg = *state;
  bw_error_t err = NULL;
  assert_int_equal(bw_config_apply_env(cfg, NULL, &err), 0);
  char *none[] = {NULL};
  assert_int_equal(bw_config_apply_env(cfg, none, &err), 0);
  assert_int_equal(cfg->redis_port, 6379);
}

static void test_env_kafka_properties_with_underscores(void **state) {
  bw_config *cfg = *state;
  char *envp[] = {"BUNDLE_WORKER_KAFKA_LOG_LEVEL=7", "BUNDLE_WORKER_KAFKA_ENABLED_EVENTS=1", NULL};
  bw_error_t err = NULL;
  if (bw_config_apply_env(cfg, envp, &err) < 0)
    fail_msg("%s", bw_error_msg(&err));
  assert_string_equal(bw_config_kafka_get(cfg, "log_level"), "7");
  assert_string_equal(bw_config_kafka_get(cfg, "enabled_events"), "1");
}

static void test_env_errors_name_the_variable(void **state) {
  static const struct {
    const char *entry;
    const char *message;
  } cases[] = {
      {"BUNDLE_WORKER_NOPE=1",
       "environment BUNDLE_WORKER_NOPE: no such configuration key (bundle-worker config keys lists "
       "them)"},
      {"BUNDLE_WORKER_=1", "environment BUNDLE_WORKER_: no such configuration key"},
      {"BUNDLE_WORKER_REDIS_PORT=x",
       "environment BUNDLE_WORKER_REDIS_PORT: redis.port: expected an integer from 1 to 65535, got "
       "'x'"},
      {"BUNDLE_WORKER_KAFKA_NO_SUCH=1",
       "environment BUNDLE_WORKER_KAFKA_NO_SUCH: kafka.no.such: librdkafka has no such property"},
      {"BUNDLE_WORKER_KAFKA_=1", "environment BUNDLE_WORKER_KAFKA_: 'kafka.' needs a librdkafka"},
      {"BUNDLE_WORKER_KAFKA_ACKS=banana", "environment BUNDLE_WORKER_KAFKA_ACKS: kafka.acks: "},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    bw_config cfg;
    bw_config_init(&cfg);
    char *envp[] = {"BUNDLE_WORKER_REDIS_DB=1", (char *)cases[i].entry, NULL};
    bw_error_t err = NULL;
    assert_int_equal(bw_config_apply_env(&cfg, envp, &err), -1);
    if (strncmp(err->msg, cases[i].message, strlen(cases[i].message)) != 0)
      fail_msg("%s\n  got      '%s'\n  expected '%s...'", cases[i].entry, err->msg,
               cases[i].message);
    bw_error_release(&err);
    bw_config_free(&cfg);
  }
}

/* ---- precedence: file, then environment, then --set ---- */

static void test_precedence(void **state) {
  bw_config *cfg = *state;
  bw_error_t err = NULL;
  assert_int_equal(load(cfg, "redis.port = 7000\nredis.db = 3\nredis.host = from-file\n", &err), 0);
  char *envp[] = {"BUNDLE_WORKER_REDIS_PORT=7001", "BUNDLE_WORKER_REDIS_HOST=from-env", NULL};
  assert_int_equal(bw_config_apply_env(cfg, envp, &err), 0);
  assert_int_equal(cfg->redis_port, 7001);
  assert_string_equal(cfg->redis_host, "from-env");
  assert_int_equal(bw_config_set(cfg, "redis.port", "7002", "--set", &err), 0);
  assert_int_equal(cfg->redis_port, 7002);
  assert_string_equal(cfg->redis_host, "from-env");
  assert_int_equal(cfg->redis_db, 3);

  char *out = printed(cfg);
  assert_non_null(strstr(out, "redis.port = 7002    # from --set\n"));
  assert_non_null(
      strstr(out, "redis.host = from-env    # from environment BUNDLE_WORKER_REDIS_HOST\n"));
  assert_non_null(strstr(out, "redis.db = 3    # from t.conf:2\n"));
  assert_non_null(strstr(out, "worker.slots = 2    # from default\n"));
  free(out);
}

static void test_set_unknown_key(void **state) {
  bw_config *cfg = *state;
  bw_error_t err = NULL;
  assert_int_equal(bw_config_set(cfg, "redis.prot", "1", "--set", &err), -1);
  assert_string_equal(err->msg,
                      "--set: unknown key 'redis.prot' (bundle-worker config keys lists them)");
  bw_error_release(&err);
}

/* ---- printing ---- */

static void test_print_hides_secrets(void **state) {
  bw_config *cfg = *state;
  bw_error_t err = NULL;
  assert_int_equal(load(cfg,
                        "redis.password = hunter2\n"
                        "kafka.sasl.password = kafka-s3cret\n"
                        "kafka.sasl.username = alice\n",
                        &err),
                   0);
  char *out = printed(cfg);
  assert_non_null(strstr(out, "redis.password = [hidden]    # from t.conf:1\n"));
  assert_non_null(strstr(out, "kafka.sasl.password = [hidden]\n"));
  assert_non_null(strstr(out, "kafka.sasl.username = alice\n"));
  assert_null(strstr(out, "hunter2"));
  assert_null(strstr(out, "kafka-s3cret"));
  free(out);
}

static void test_print_empty_password_is_empty(void **state) {
  char *out = printed(*state);
  assert_non_null(strstr(out, "redis.password =     # from default\n"));
  assert_non_null(strstr(out, "log.level = info    # from default\n"));
  assert_non_null(strstr(out, "jobs.keep.failed.data = false    # from default\n"));
  free(out);
}

static void test_print_keys_lists_names_variables_and_defaults(void **state) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  bw_config_print_keys(f);
  fclose(f);
  assert_non_null(strstr(text, "redis.port"));
  assert_non_null(strstr(text, "BUNDLE_WORKER_REDIS_PORT"));
  assert_non_null(strstr(text, "default: 6379"));
  assert_non_null(strstr(text, "BUNDLE_WORKER_WORKER_DRAIN_TIMEOUT_SECONDS"));
  assert_non_null(strstr(text, "BUNDLE_WORKER_KAFKA_PROPERTY"));
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      WITH_CONFIG(test_env_sets_keys_and_ignores_others),
      WITH_CONFIG(test_env_null_and_empty),
      WITH_CONFIG(test_env_kafka_properties_with_underscores),
      cmocka_unit_test(test_env_errors_name_the_variable),
      WITH_CONFIG(test_precedence),
      WITH_CONFIG(test_set_unknown_key),
      WITH_CONFIG(test_print_hides_secrets),
      WITH_CONFIG(test_print_empty_password_is_empty),
      WITH_CONFIG(test_print_keys_lists_names_variables_and_defaults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

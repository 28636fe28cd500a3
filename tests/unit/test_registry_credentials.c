/* shared/clients/registry_credentials.h: a component's registry credentials,
 * by reference (environment variables or a file). */
#include "components_fixture.h"

/* ---- credentials ---- */

static void test_credentials_none(void **state) {
  char *user = (char *)"x", *pass = (char *)"x";
  bw_error_t err = NULL;
  assert_int_equal(
      registry_credentials_of(find(state, "hello"), "registry-1.docker.io", &user, &pass, &err), 0);
  assert_null(user);
  assert_null(pass);
}

static void test_credentials_from_environment(void **state) {
  setenv("BW_TEST_REG_USER", "env-user", 1);
  setenv("BW_TEST_REG_PASS", "env-pass", 1);
  char *user = NULL, *pass = NULL;
  bw_error_t err = NULL;
  assert_int_equal(
      registry_credentials_of(find(state, "sample"), "127.0.0.1:5000", &user, &pass, &err), 0);
  assert_string_equal(user, "env-user");
  assert_string_equal(pass, "env-pass");
  free(user);
  free(pass);
  unsetenv("BW_TEST_REG_USER");
  unsetenv("BW_TEST_REG_PASS");
}

static void test_credentials_missing_variable_is_named_not_revealed(void **state) {
  setenv("BW_TEST_REG_USER", "user-value-7f3a", 1);
  unsetenv("BW_TEST_REG_PASS");
  char *user = NULL, *pass = NULL;
  bw_error_t err = NULL;
  assert_int_equal(
      registry_credentials_of(find(state, "sample"), "127.0.0.1:5000", &user, &pass, &err), -1);
  assert_null(user);
  assert_null(pass);
  assert_string_equal(
      err->msg, "component sample: credentials: environment variable BW_TEST_REG_PASS is not set");
  assert_null(strstr(err->msg, "user-value-7f3a"));
  bw_error_release(&err);

  unsetenv("BW_TEST_REG_USER");
  setenv("BW_TEST_REG_PASS", "pass-value-9c1e", 1);
  assert_int_equal(
      registry_credentials_of(find(state, "sample"), "127.0.0.1:5000", &user, &pass, &err), -1);
  assert_non_null(strstr(err->msg, "BW_TEST_REG_USER is not set"));
  assert_null(strstr(err->msg, "pass-value-9c1e"));
  bw_error_release(&err);
  unsetenv("BW_TEST_REG_PASS");
}

/* Loads a component whose auth is {"file": tests/data/components/FILE}. */
static void load_with_auth_file(const char *file, component_registry *reg) {
  char *path = fixture_path(file);
  json_t *root = json_pack("{s:{s:{s:s, s:{s:s}}}}", "components", "x", "image",
                           "127.0.0.1:5000/a/b", "auth", "file", path);
  assert_non_null(root);
  bw_error_t err = NULL;
  if (components_load_json(root, "test.json", reg, &err) < 0)
    fail_msg("%s", bw_error_msg(&err));
  json_decref(root);
  free(path);
}

static void expect_credentials(const char *file, const char *host, const char *want_user,
                               const char *want_pass) {
  component_registry reg;
  load_with_auth_file(file, &reg);
  char *user = NULL, *pass = NULL;
  bw_error_t err = NULL;
  if (registry_credentials_of(&reg.items[0], host, &user, &pass, &err) < 0)
    fail_msg("%s for %s: %s", file, host, bw_error_msg(&err));
  assert_string_equal(user, want_user);
  assert_string_equal(pass, want_pass);
  free(user);
  free(pass);
  components_free(&reg);
}

static void expect_credentials_error(const char *file, const char *host, const char *part,
                                     const char *secret) {
  component_registry reg;
  load_with_auth_file(file, &reg);
  char *user = NULL, *pass = NULL;
  bw_error_t err = NULL;
  assert_int_equal(registry_credentials_of(&reg.items[0], host, &user, &pass, &err), -1);
  assert_null(user);
  assert_null(pass);
  if (!strstr(err->msg, part))
    fail_msg("%s for %s: message '%s' lacks '%s'", file, host, err->msg, part);
  if (secret && strstr(err->msg, secret))
    fail_msg("%s for %s: message '%s' reveals '%s'", file, host, err->msg, secret);
  bw_error_release(&err);
  components_free(&reg);
}

static void test_credentials_from_plain_file(void **state) {
  expect_credentials("credentials-plain.json", "127.0.0.1:5000", "file-user", "file-pass");
}

static void test_credentials_from_docker_config(void **state) {
  expect_credentials("docker-config.json", "127.0.0.1:5000", "u", "p");
  /* only the first ':' splits user from password */
  expect_credentials("docker-config.json", "colons.example:443", "reg-user", "pa:ss");
  /* Docker Hub is stored under its legacy index URL */
  expect_credentials("docker-config.json", "registry-1.docker.io", "hub-user", "hub-pass");
}

static void test_credentials_host_without_entry(void **state) {
  expect_credentials_error("docker-config.json", "quay.io", "component x: credentials file ", NULL);
  expect_credentials_error("docker-config.json", "quay.io", "no entry for registry quay.io", NULL);
  expect_credentials_error("docker-config.json", "empty.example", "entry empty.example has no auth",
                           NULL);
  expect_credentials_error("docker-config.json", "garbled.example",
                           "auth is not base64 of user:password", "not base64 at all!");
}

static void test_credentials_unreadable_file(void **state) {
  expect_credentials_error("broken.json", "quay.io", "not readable JSON (line 1)", "hello-world");
  expect_credentials_error("does-not-exist.json", "quay.io", "does-not-exist.json", NULL);
  /* a JSON file that is neither shape */
  expect_credentials_error("good.json", "quay.io", "expected {\"username\", \"password\"}", NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_credentials_none, setup_good, teardown_good),
      cmocka_unit_test_setup_teardown(test_credentials_from_environment, setup_good, teardown_good),
      cmocka_unit_test_setup_teardown(test_credentials_missing_variable_is_named_not_revealed,
                                      setup_good, teardown_good),
      cmocka_unit_test(test_credentials_from_plain_file),
      cmocka_unit_test(test_credentials_from_docker_config),
      cmocka_unit_test(test_credentials_host_without_entry),
      cmocka_unit_test(test_credentials_unreadable_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

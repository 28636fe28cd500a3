/* The Docker Engine API through libcurl over the unix socket, and an
 * authenticated pull from the stack's registry through the Engine API. */
#include "stack_env.h"

#include "core/cleanup.h"
#include "clients/docker_client.h"
#include "clients/image_pull.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static docker_client *connect_engine(void) {
  cleanup_error bw_error_t err = NULL;
  docker_client *dc = NULL;
  if (docker_client_open(&dc, stack_env("STACK_DOCKER_SOCKET"), 30000, &err) < 0)
    fail_msg("%s", bw_error_msg(&err));
  return dc;
}

static void engine_answers_version_and_info(void **state) {
  cleanup_error bw_error_t err = NULL;
  cleanup_docker_client docker_client *dc = NULL;
  cleanup_json json_t *version = NULL;
  assert_int_equal(docker_client_new(&dc, stack_env("STACK_DOCKER_SOCKET"), 30000, &err), 0);
  assert_int_equal(docker_client_negotiate(dc, &version, &err), 0);
  assert_non_null(json_string_value(json_object_get(version, "Version")));
  assert_true(strlen(dc->api_version) >= 4);

  cleanup_docker_response docker_response info;
  assert_int_equal(docker_call_ok(dc, "GET", "/info", NULL, &info, &err), 0);
  assert_non_null(json_string_value(json_object_get(info.json, "Driver")));

  cleanup_docker_response docker_response missing;
  assert_int_equal(
      docker_call(dc, "GET", "/containers/bw-no-such-container/json", NULL, &missing, &err), 0);
  assert_int_equal(missing.status, 404);
}

static void missing_socket_is_a_clear_error(void **state) {
  cleanup_error bw_error_t err = NULL;
  docker_client *dc = NULL;
  assert_int_equal(docker_client_new(&dc, "/nonexistent/docker.sock", 1000, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(err->msg, "/nonexistent/docker.sock"));
}

static void remove_local(docker_client *dc, const char *name) {
  cleanup_error bw_error_t err = NULL;
  cleanup_free char *esc = docker_escape(dc, name);
  cleanup_free char *path = bw_strdup_printf("/images/%s?force=1", esc);
  cleanup_docker_response docker_response resp;
  assert_int_equal(docker_call(dc, "DELETE", path, NULL, &resp, &err), 0);
  assert_true(resp.status == 200 || resp.status == 404);
}

static void authenticated_pull_from_local_registry(void **state) {
  cleanup_docker_client docker_client *dc = connect_engine();
  cleanup_free char *name = stack_image("exit");
  cleanup_error bw_error_t err = NULL;
  cleanup_image_ref image_ref ref;
  assert_int_equal(image_ref_parse(name, &ref, &err), 0);
  remove_local(dc, name);

  image_pull_opts opts = {.username = stack_env("STACK_REGISTRY_USER"),
                          .password = stack_env("STACK_REGISTRY_PASSWORD")};
  image_pull_result res;
  if (image_pull(dc, &ref, &opts, &res, &err) < 0)
    fail_msg("%s", bw_error_msg(&err));
  assert_non_null(res.image_id);
  assert_non_null(res.digest);
  assert_int_equal(strncmp(res.digest, "sha256:", 7), 0);
  assert_int_equal(res.attempts, 1);

  cleanup_json json_t *inspect = NULL;
  assert_int_equal(image_pull_inspect(dc, name, &inspect, &err), 0);
  assert_non_null(inspect);
  cleanup_free char *repo = image_ref_repository(&ref);
  assert_true(image_has_repo_digest(inspect, repo, res.digest));
  image_pull_result_free(&res);
}

static void pull_with_wrong_password_is_a_user_error(void **state) {
  cleanup_docker_client docker_client *dc = connect_engine();
  cleanup_free char *name = stack_image("sleep");
  cleanup_error bw_error_t err = NULL;
  cleanup_image_ref image_ref ref;
  assert_int_equal(image_ref_parse(name, &ref, &err), 0);
  remove_local(dc, name);
  const char *secret = "wrong-password-4711";
  image_pull_opts opts = {.username = stack_env("STACK_REGISTRY_USER"), .password = secret};
  image_pull_result res;
  assert_int_equal(image_pull(dc, &ref, &opts, &res, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_int_equal(res.attempts, 1); /* not retried: retrying cannot help */
  assert_null(strstr(err->msg, secret));
  image_pull_result_free(&res);
}

static void pull_of_missing_tag_is_a_user_error(void **state) {
  cleanup_docker_client docker_client *dc = connect_engine();
  cleanup_free char *name =
      bw_strdup_printf("%s/exit:no-such-tag", stack_env("STACK_IMAGE_PREFIX"));
  cleanup_error bw_error_t err = NULL;
  cleanup_image_ref image_ref ref;
  assert_int_equal(image_ref_parse(name, &ref, &err), 0);
  image_pull_opts opts = {.username = stack_env("STACK_REGISTRY_USER"),
                          .password = stack_env("STACK_REGISTRY_PASSWORD")};
  image_pull_result res;
  assert_int_equal(image_pull(dc, &ref, &opts, &res, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  image_pull_result_free(&res);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(engine_answers_version_and_info),
      cmocka_unit_test(missing_socket_is_a_clear_error),
      cmocka_unit_test(authenticated_pull_from_local_registry),
      cmocka_unit_test(pull_with_wrong_password_is_a_user_error),
      cmocka_unit_test(pull_of_missing_tag_is_a_user_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

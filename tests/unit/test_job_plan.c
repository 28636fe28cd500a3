/* shared/job/job_request.h: resolving a request against the registered
 * components (job_plan_resolve), and messages that never repeat a secret. */
#include "job_request_fixture.h"

/* ---- job_plan_resolve ---- */

static const char registry_json[] =
    "{\"components\": {"
    " \"app\": {\"image\": \"127.0.0.1:5000/acme/app\", \"tag\": \"1.0\","
    "  \"allowed_tags\": [\"1.1\", \"stable\"],"
    "  \"limits\": {\"memory\": \"256m\", \"cpus\": 0.5, \"timeout_seconds\": 600, \"pids\": 128,"
    "   \"network\": \"none\"},"
    "  \"max_limits\": {\"memory\": \"1g\", \"cpus\": 2, \"timeout_seconds\": 3600, \"pids\": 512},"
    "  \"networks\": [\"none\", \"bridge\"]},"
    " \"pinned\": {\"image\": \"quay.io/org/tool\", \"tag\": \"2.0\","
    "  \"allowed_tags\": {\"pattern\": \"2\\\\.[0-9]+\"},"
    "  \"digest\": \"sha256:" HEX64 "\"},"
    " \"hello\": {\"image\": \"hello-world\"}"
    "}}";

static int setup_registry(void **state) {
  json_error_t jerr;
  json_t *root = json_loads(registry_json, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    print_error("registry JSON: %s\n", jerr.text);
    return -1;
  }
  component_registry *reg = calloc(1, sizeof(*reg));
  bw_error_t err = NULL;
  int rc = components_load_json(root, "test.json", reg, &err);
  if (rc < 0)
    print_error("%s\n", bw_error_msg(&err));
  bw_error_release(&err);
  json_decref(root);
  *state = reg;
  return rc < 0 ? -1 : 0;
}

static int teardown_registry(void **state) {
  components_free(*state);
  free(*state);
  return 0;
}

/* Parses `text` and resolves it; on success *plan is filled (caller frees). */
static int resolve_text(void **state, const char *text, job_plan *plan, bw_error_t *err) {
  job_request req;
  parse_ok(text, &req);
  int rc = job_plan_resolve(&req, *state, plan, err);
  job_request_free(&req);
  return rc;
}

static void expect_plan(void **state, const char *text, const char *component_id, const char *tag,
                        const char *image) {
  job_plan plan;
  bw_error_t err = NULL;
  if (resolve_text(state, text, &plan, &err) < 0)
    fail_msg("%s\n  not resolved: %s", text, bw_error_msg(&err));
  assert_ptr_equal(plan.component, components_find(*state, component_id));
  assert_string_equal(plan.tag, tag);
  char *ref = image_ref_string(&plan.image);
  assert_string_equal(ref, image);
  free(ref);
  job_plan_free(&plan);
}

static void expect_resolve_error(void **state, const char *text, const char *message) {
  job_plan plan;
  bw_error_t err = NULL;
  if (resolve_text(state, text, &plan, &err) == 0) {
    job_plan_free(&plan);
    fail_msg("%s\n  resolved", text);
  }
  assert_int_equal(err->kind, BW_ERR_INVALID);
  if (strcmp(err->msg, message) != 0)
    fail_msg("%s\n  message '%s'\n  want    '%s'", text, err->msg, message);
  bw_error_release(&err);
  assert_null(plan.component);
  assert_null(plan.tag);
  job_plan_free(&plan); /* a failed plan is empty and may be freed */
}

static void test_resolve_unknown_component(void **state) {
  expect_resolve_error(state, "{\"job_id\": \"j1\", \"component\": \"nope\"}",
                       "component: 'nope' is not a registered component");
  expect_resolve_error(state, "{\"job_id\": \"j1\", \"component\": \"App\"}",
                       "component: 'App' is not a registered component");
}

static void test_resolve_tag_not_allowed(void **state) {
  expect_resolve_error(state, REQ(", \"tag\": \"9.9\""),
                       "tag: '9.9' is not allowed for component app");
  expect_resolve_error(state, REQ(", \"tag\": \"latest\""),
                       "tag: 'latest' is not allowed for component app");
  expect_resolve_error(state, "{\"job_id\": \"j1\", \"component\": \"pinned\", \"tag\": \"2.x\"}",
                       "tag: '2.x' is not allowed for component pinned");
  expect_resolve_error(state, "{\"job_id\": \"j1\", \"component\": \"pinned\", \"tag\": \"12.1\"}",
                       "tag: '12.1' is not allowed for component pinned");
  expect_resolve_error(state, "{\"job_id\": \"j1\", \"component\": \"hello\", \"tag\": \"1.0\"}",
                       "tag: '1.0' is not allowed for component hello");
}

static void test_resolve_tags_allowed(void **state) {
  /* the default tag */
  expect_plan(state, REQ(""), "app", "1.0", "127.0.0.1:5000/acme/app:1.0");
  expect_plan(state, REQ(", \"tag\": \"1.0\""), "app", "1.0", "127.0.0.1:5000/acme/app:1.0");
  expect_plan(state, "{\"job_id\": \"j1\", \"component\": \"hello\"}", "hello", "latest",
              "docker.io/library/hello-world:latest");
  /* by list */
  expect_plan(state, REQ(", \"tag\": \"1.1\""), "app", "1.1", "127.0.0.1:5000/acme/app:1.1");
  expect_plan(state, REQ(", \"tag\": \"stable\""), "app", "stable",
              "127.0.0.1:5000/acme/app:stable");
  /* by pattern, with the digest pin */
  expect_plan(state, "{\"job_id\": \"j1\", \"component\": \"pinned\", \"tag\": \"2.17\"}", "pinned",
              "2.17", "quay.io/org/tool:2.17@sha256:" HEX64);
  expect_plan(state, "{\"job_id\": \"j1\", \"component\": \"pinned\"}", "pinned", "2.0",
              "quay.io/org/tool:2.0@sha256:" HEX64);
}

static void test_resolve_image_parts(void **state) {
  job_plan plan;
  bw_error_t err = NULL;
  assert_int_equal(resolve_text(state,
                                "{\"job_id\": \"j1\", \"component\": \"pinned\", \"tag\": \"2.3\"}",
                                &plan, &err),
                   0);
  assert_string_equal(plan.image.domain, "quay.io");
  assert_string_equal(plan.image.path, "org/tool");
  assert_string_equal(plan.image.tag, "2.3");
  assert_string_equal(plan.image.digest, "sha256:" HEX64);
  job_plan_free(&plan);
  assert_null(plan.tag);

  assert_int_equal(resolve_text(state, REQ(""), &plan, &err), 0);
  assert_string_equal(plan.image.domain, "127.0.0.1:5000");
  assert_string_equal(plan.image.path, "acme/app");
  assert_null(plan.image.digest);
  job_plan_free(&plan);
}

static void test_resolve_limits_above_the_maxima(void **state) {
  static const struct {
    const char *limits;
    const char *message;
  } cases[] = {
      {"{\"memory\": \"2g\"}", "limits.memory: 2g is above the maximum 1g of app"},
      {"{\"memory\": 1073742848}", "limits.memory: 1048577k is above the maximum 1g of app"},
      {"{\"cpus\": 4}", "limits.cpus: 4 is above the maximum 2 of app"},
      {"{\"cpus\": 2.01}", "limits.cpus: 2.01 is above the maximum 2 of app"},
      {"{\"timeout_seconds\": 7200}",
       "limits.timeout_seconds: 7200 is above the maximum 3600 of app"},
      {"{\"timeout_seconds\": 3601}",
       "limits.timeout_seconds: 3601 is above the maximum 3600 of app"},
      {"{\"pids\": 1000}", "limits.pids: 1000 is above the maximum 512 of app"},
      {"{\"pids\": 513}", "limits.pids: 513 is above the maximum 512 of app"},
      {"{\"network\": \"host\"}",
       "limits.network: 'host' is not allowed for app (allowed: none, ...)"},
      /* memory is checked first when several are above */
      {"{\"memory\": \"4g\", \"cpus\": 8}", "limits.memory: 4g is above the maximum 1g of app"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *text = bw_strdup_printf(REQ(", \"limits\": %s"), cases[i].limits);
    expect_resolve_error(state, text, cases[i].message);
    free(text);
  }
}

static void test_resolve_limits_of_a_component_without_max_limits(void **state) {
  /* hello: the defaults (256m, 1 cpu, 3600 s, 1024 pids, network none) are the maxima */
  expect_resolve_error(state,
                       "{\"job_id\": \"j1\", \"component\": \"hello\", \"limits\":"
                       " {\"memory\": \"257m\"}}",
                       "limits.memory: 257m is above the maximum 256m of hello");
  expect_resolve_error(state,
                       "{\"job_id\": \"j1\", \"component\": \"hello\", \"limits\":"
                       " {\"cpus\": 1.5}}",
                       "limits.cpus: 1.5 is above the maximum 1 of hello");
  expect_resolve_error(state,
                       "{\"job_id\": \"j1\", \"component\": \"hello\", \"limits\":"
                       " {\"network\": \"bridge\"}}",
                       "limits.network: 'bridge' is not allowed for hello (allowed: none)");
}

static void test_resolve_limits_within_the_maxima(void **state) {
  job_plan plan;
  bw_error_t err = NULL;
  /* unset fields come from the component's defaults */
  assert_int_equal(
      resolve_text(state, REQ(", \"limits\": {\"memory\": \"512m\", \"network\": \"bridge\"}"),
                   &plan, &err),
      0);
  assert_int_equal(plan.limits.memory_bytes, 512 * MIB);
  assert_true(plan.limits.cpus == 0.5);
  assert_int_equal(plan.limits.timeout_seconds, 600);
  assert_int_equal(plan.limits.pids, 128);
  assert_string_equal(plan.limits.network, "bridge");
  job_plan_free(&plan);

  /* exactly at every maximum */
  assert_int_equal(
      resolve_text(state,
                   REQ(", \"limits\": {\"memory\": \"1g\", \"cpus\": 2,"
                       " \"timeout_seconds\": 3600, \"pids\": 512, \"network\": \"none\"}"),
                   &plan, &err),
      0);
  assert_int_equal(plan.limits.memory_bytes, 1024 * MIB);
  assert_true(plan.limits.cpus == 2);
  assert_int_equal(plan.limits.timeout_seconds, 3600);
  assert_int_equal(plan.limits.pids, 512);
  assert_string_equal(plan.limits.network, "none");
  job_plan_free(&plan);

  /* below the defaults is fine too */
  assert_int_equal(resolve_text(state,
                                REQ(", \"limits\": {\"memory\": \"4m\", \"cpus\": 0.1,"
                                    " \"timeout_seconds\": 1, \"pids\": 1}"),
                                &plan, &err),
                   0);
  assert_int_equal(plan.limits.memory_bytes, 4 * MIB);
  assert_true(plan.limits.cpus == 0.1);
  assert_int_equal(plan.limits.timeout_seconds, 1);
  assert_int_equal(plan.limits.pids, 1);
  assert_string_equal(plan.limits.network, "none");
  job_plan_free(&plan);

  /* nothing asked: the defaults */
  assert_int_equal(resolve_text(state, REQ(""), &plan, &err), 0);
  assert_int_equal(plan.limits.memory_bytes, 256 * MIB);
  assert_true(plan.limits.cpus == 0.5);
  assert_int_equal(plan.limits.timeout_seconds, 600);
  assert_int_equal(plan.limits.pids, 128);
  assert_string_equal(plan.limits.network, "none");
  job_plan_free(&plan);
}

/* The plan owns its copies: it outlives the request it was made from. */
static void test_plan_outlives_the_request(void **state) {
  job_request req;
  parse_ok(REQ(", \"tag\": \"stable\", \"limits\": {\"network\": \"bridge\"}"), &req);
  job_plan plan;
  bw_error_t err = NULL;
  assert_int_equal(job_plan_resolve(&req, *state, &plan, &err), 0);
  assert_ptr_not_equal(plan.tag, req.tag);
  assert_ptr_not_equal(plan.limits.network, req.limits.network);
  job_request_free(&req);
  assert_string_equal(plan.tag, "stable");
  assert_string_equal(plan.limits.network, "bridge");
  job_plan_free(&plan);
  job_plan_free(NULL);
}

/* ---- no message repeats a secret ---- */

#define SECRET_VALUE "s3cr3t-Value_42xyz"

/* Each request is invalid and quotes (or would quote) a value that is also
 * the value of a '#' key somewhere in it; the message must say what was
 * wrong without the secret, in any form. */
static void test_rejections_never_quote_a_secret(void **state) {
  static const char *const cases[] = {
      /* the secret as a bad value where the message quotes it */
      "{\"job_id\": \"j1\", \"component\": \"app\", \"tag\": \"" SECRET_VALUE
      "!\", \"config\": {\"#p\": \"" SECRET_VALUE "!\"}}",
      "{\"job_id\": \"j1\", \"component\": \"app\", \"limits\": {\"memory\": \"" SECRET_VALUE
      "\"}, \"config\": {\"#p\": \"" SECRET_VALUE "\"}}",
      "{\"job_id\": \"j1\", \"component\": \"app\", \"attempt\": \"" SECRET_VALUE
      "\", \"config\": {\"#p\": \"" SECRET_VALUE "\"}}",
      "{\"job_id\": \"j1\", \"component\": \"app\", \"config\": [\"" SECRET_VALUE
      "\"], \"state\": {\"#t\": \"" SECRET_VALUE "\"}}",
      /* an object quoted whole, a secret inside it (cut at 60 characters) */
      "{\"job_id\": \"j1\", \"component\": \"app\", \"project_id\": {\"#k\": \"" SECRET_VALUE
      "\"}}",
      "{\"job_id\": \"j1\", \"component\": \"app\", \"config_id\": {\"padding-padding\": 1, "
      "\"#k\": \"" SECRET_VALUE "\"}}",
      /* secrets in a key that is unknown, and at any depth */
      "{\"job_id\": \"j1\", \"component\": \"app\", \"" SECRET_VALUE "\": {\"#x\": \"" SECRET_VALUE
      "\"}}",
      "{\"job_id\": \"j1\", \"component\": \"app\", \"env\": {\"A\": 1}, \"config\": {\"a\": "
      "[{\"#deep\": \"" SECRET_VALUE "\"}]}, \"inputs\": [{\"url\": \"" SECRET_VALUE "\"}]}",
      /* not JSON: no text of the request at all */
      "{\"job_id\": \"j1\", \"config\": {\"#p\": " SECRET_VALUE "}}",
      "{\"job_id\": \"j1\", \"" SECRET_VALUE "\" " SECRET_VALUE "}",
      SECRET_VALUE,
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    job_request req;
    char *msg = parse_error(cases[i], strlen(cases[i]), &req);
    if (strstr(msg, SECRET_VALUE) || strstr(msg, "s3cr3t") || strstr(msg, "czNjcjN0")) /* base64 */
      fail_msg("case %zu: the message repeats the secret: %s", i, msg);
    free(msg);
    job_request_free(&req);
  }
}

/* The message still says what and where, with the secret hidden. */
static void test_masked_rejection_keeps_the_path(void **state) {
  const char *text = "{\"job_id\": \"j1\", \"component\": \"app\", \"attempt\": \"" SECRET_VALUE
                     "\", \"config\": {\"#p\": \"" SECRET_VALUE "\"}}";
  job_request req;
  char *msg = parse_error(text, strlen(text), &req);
  assert_string_equal(msg, "attempt: expected an integer from 1 to 1000, got \"[hidden]\"");
  assert_string_equal(req.job_id, "j1"); /* and the rejection can name the job */
  free(msg);
  job_request_free(&req);
}

static void test_request_size_limit(void **state) {
  bw_error_t err = NULL;
  assert_int_equal(job_request_check_size(1048576, 1048576, &err), 0);
  assert_int_equal(job_request_check_size(1048575, 1048576, &err), 0);
  assert_int_equal(job_request_check_size(1048577, 1048576, &err), -1);
  assert_string_equal(err->msg, "request: 1048577 bytes, more than jobs.request.max.bytes "
                                "(1048576): not parsed");
  assert_int_equal(err->kind, BW_ERR_INVALID);
  bw_error_release(&err);
  assert_int_equal(job_request_check_size(SIZE_MAX, 0, &err), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rejections_never_quote_a_secret),
      cmocka_unit_test(test_masked_rejection_keeps_the_path),
      cmocka_unit_test(test_request_size_limit),
      cmocka_unit_test_setup_teardown(test_resolve_unknown_component, setup_registry,
                                      teardown_registry),
      cmocka_unit_test_setup_teardown(test_resolve_tag_not_allowed, setup_registry,
                                      teardown_registry),
      cmocka_unit_test_setup_teardown(test_resolve_tags_allowed, setup_registry, teardown_registry),
      cmocka_unit_test_setup_teardown(test_resolve_image_parts, setup_registry, teardown_registry),
      cmocka_unit_test_setup_teardown(test_resolve_limits_above_the_maxima, setup_registry,
                                      teardown_registry),
      cmocka_unit_test_setup_teardown(test_resolve_limits_of_a_component_without_max_limits,
                                      setup_registry, teardown_registry),
      cmocka_unit_test_setup_teardown(test_resolve_limits_within_the_maxima, setup_registry,
                                      teardown_registry),
      cmocka_unit_test_setup_teardown(test_plan_outlives_the_request, setup_registry,
                                      teardown_registry),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

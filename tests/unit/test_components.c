/* shared/job/components.h: the registry file and its checks. */
#include "components_fixture.h"

/* ---- the good file ---- */

static void test_good_file_loads_every_component(void **state) {
  const component_registry *reg = *state;
  assert_int_equal(reg->count, 4);
  assert_null(components_find(reg, "nope"));
  assert_null(components_find(NULL, "hello"));
}

static void test_defaults_apply_when_nothing_is_given(void **state) {
  const component *c = find(state, "hello");
  assert_string_equal(c->image, "hello-world");
  assert_string_equal(c->repo.domain, "docker.io");
  assert_string_equal(c->repo.path, "library/hello-world");
  assert_null(c->repo.tag); /* the tag comes from the request, not the image */
  assert_string_equal(c->default_tag, "latest");
  assert_int_equal(c->allowed_tag_count, 0);
  assert_false(c->has_tag_pattern);
  assert_null(c->digest);
  assert_null(c->auth_username_env);
  assert_null(c->auth_file);
  assert_int_equal(c->pull, PULL_IF_NOT_PRESENT);
  assert_int_equal(c->defaults.memory_bytes, 256 * MIB);
  assert_true(c->defaults.cpus == 1);
  assert_int_equal(c->defaults.timeout_seconds, 3600);
  assert_int_equal(c->defaults.pids, 1024);
  assert_string_equal(c->defaults.network, "none");
  /* without max_limits the defaults are the maxima */
  assert_int_equal(c->maxima.memory_bytes, 256 * MIB);
  assert_true(c->maxima.cpus == 1);
  assert_int_equal(c->maxima.timeout_seconds, 3600);
  assert_int_equal(c->maxima.pids, 1024);
  assert_null(c->maxima.network);
  assert_int_equal(c->network_count, 1);
  assert_string_equal(c->networks[0], "none");
  assert_false(c->run_as_root);
  assert_false(c->read_only_rootfs);
}

static void test_everything_given_is_parsed(void **state) {
  const component *c = find(state, "sample");
  assert_string_equal(c->repo.domain, "127.0.0.1:5000");
  assert_string_equal(c->repo.path, "bundle-test/sample");
  assert_string_equal(c->default_tag, "1.0");
  assert_int_equal(c->allowed_tag_count, 2);
  assert_string_equal(c->allowed_tags[0], "1.1");
  assert_string_equal(c->allowed_tags[1], "stable");
  assert_int_equal(c->pull, PULL_ALWAYS);
  assert_string_equal(c->auth_username_env, "BW_TEST_REG_USER");
  assert_string_equal(c->auth_password_env, "BW_TEST_REG_PASS");
  assert_null(c->auth_file);
  assert_int_equal(c->defaults.memory_bytes, 512 * MIB);
  assert_true(c->defaults.cpus == 0.5);
  assert_int_equal(c->defaults.timeout_seconds, 600);
  assert_int_equal(c->defaults.pids, 128);
  assert_string_equal(c->defaults.network, "bridge");
  assert_int_equal(c->maxima.memory_bytes, 2048 * MIB);
  assert_true(c->maxima.cpus == 2);
  assert_int_equal(c->maxima.timeout_seconds, 7200);
  assert_int_equal(c->maxima.pids, 512);
  assert_int_equal(c->network_count, 2);
  assert_false(c->run_as_root);
  assert_true(c->read_only_rootfs);
}

static void test_pattern_digest_and_root(void **state) {
  const component *c = find(state, "patterned");
  assert_string_equal(c->repo.domain, "quay.io");
  assert_true(c->has_tag_pattern);
  assert_string_equal(c->tag_pattern, "1\\.[0-9]+");
  assert_string_equal(c->digest, "sha256:" HEX64);
  assert_int_equal(c->pull, PULL_NEVER);
  assert_true(c->run_as_root);
}

static void test_partial_max_limits_take_the_rest_from_defaults(void **state) {
  const component *c = find(state, "private");
  assert_string_equal(c->auth_file, "/etc/bundle-worker/registry-auth.json");
  assert_null(c->auth_username_env);
  assert_int_equal(c->maxima.memory_bytes, 1024 * MIB);
  assert_int_equal(c->maxima.timeout_seconds, 3600);
  assert_int_equal(c->maxima.pids, 1024);
}

static void test_tag_allowed_by_default_and_list(void **state) {
  const component *c = find(state, "sample");
  static const struct {
    const char *tag;
    bool allowed;
  } cases[] = {
      {"1.0", true},  {"1.1", true}, {"stable", true},   {"latest", false},
      {"1.2", false}, {"", false},   {"stable ", false},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    if (component_tag_allowed(c, cases[i].tag) != cases[i].allowed)
      fail_msg("tag '%s': expected allowed=%d", cases[i].tag, cases[i].allowed);
  assert_true(component_tag_allowed(find(state, "hello"), "latest"));
  assert_false(component_tag_allowed(find(state, "hello"), "1.0"));
}

static void test_tag_pattern_is_fully_anchored(void **state) {
  const component *c = find(state, "patterned");
  static const struct {
    const char *tag;
    bool allowed;
  } cases[] = {
      {"1.0", true},   {"1.2", true},    {"1.12", true}, {"1.2x", false},
      {"x1.2", false}, {"1.", false},    {"1x2", false}, {"2.0", false},
      {"11.2", false}, {"1.2\n", false}, {"", false},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    if (component_tag_allowed(c, cases[i].tag) != cases[i].allowed)
      fail_msg("tag '%s': expected allowed=%d", cases[i].tag, cases[i].allowed);
}

/* A pattern cannot step out of the anchors with its own parentheses. */
static void test_tag_pattern_alternation_stays_anchored(void **state) {
  component_registry reg;
  bw_error_t err = NULL;
  assert_int_equal(load_text("{\"components\": {\"x\": {\"image\": \"a\", \"allowed_tags\":"
                             " {\"pattern\": \"v1)|(v2\"}}}}",
                             &reg, &err),
                   0);
  const component *c = components_find(&reg, "x");
  assert_true(component_tag_allowed(c, "v1"));
  assert_true(component_tag_allowed(c, "v2"));
  assert_false(component_tag_allowed(c, "v1-evil"));
  assert_false(component_tag_allowed(c, "evil-v2"));
  components_free(&reg);
}

static void test_network_allowed(void **state) {
  const component *c = find(state, "sample");
  assert_true(component_network_allowed(c, "none"));
  assert_true(component_network_allowed(c, "bridge"));
  assert_false(component_network_allowed(c, "host"));
  assert_false(component_network_allowed(c, NULL));
  assert_false(component_network_allowed(find(state, "hello"), "bridge"));
}

/* Loads {"components": {"x": {"image": "a", "allowed_tags": {"pattern": PATTERN}}}}. */
static int load_pattern(const char *pattern, component_registry *reg, bw_error_t *err) {
  json_t *root = json_pack("{s:{s:{s:s, s:{s:s}}}}", "components", "x", "image", "a",
                           "allowed_tags", "pattern", pattern);
  assert_non_null(root);
  int rc = components_load_json(root, "test.json", reg, err);
  json_decref(root);
  return rc;
}

static void test_tag_patterns_people_write(void **state) {
  static const struct {
    const char *pattern, *yes, *no;
  } cases[] = {
      {"v[0-9]{1,3}\\.[0-9]{1,3}", "v1.22", "v1.2222"},
      {"[[:digit:]]+(\\.[[:digit:]]+)*", "1.2.3", "1.2."},
      {"[0-9a-f]{40}", "0123456789abcdef0123456789abcdef01234567", "0123"},
      {"(stable|beta)-[0-9]{8}", "beta-20240101", "alpha-20240101"},
      {"[]a]+", "a]a", "b"},
      {"(a*)*", "aaa", "b"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    component_registry reg;
    bw_error_t err = NULL;
    if (load_pattern(cases[i].pattern, &reg, &err) < 0)
      fail_msg("%s: %s", cases[i].pattern, bw_error_msg(&err));
    assert_true(component_tag_allowed(&reg.items[0], cases[i].yes));
    assert_false(component_tag_allowed(&reg.items[0], cases[i].no));
    components_free(&reg);
  }
}

/* glibc's regcomp blows up on these (found by fuzz_components). */
static void test_tag_patterns_too_complex(void **state) {
  static const char *const cases[] = {
      "[v0-9]***********************************+(\\.[0-9]+)*",
      "a{2}{2}{2}{2}{2}{2}{2}{2}{2}{2}{2}{2}{2}{2}",
      "((a{999}){999}){999}",
      "(a{32767})",
      "(){99999}",
      "(a)\\1",
      "((((((((((((((((((a))))))))))))))))))",
      /* stacked quantifiers: 3.6 s of regcomp in glibc, 68 s under ASan */
      "[v0-9]*******:*****@**********4***********+(\\.[0-9]+)*",
      "a**",
      "a+?",
      "a*{2}",
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    component_registry reg;
    bw_error_t err = NULL;
    if (load_pattern(cases[i], &reg, &err) == 0) {
      components_free(&reg);
      fail_msg("accepted: %s", cases[i]);
    }
    assert_non_null(strstr(err->msg, "components.x.allowed_tags.pattern: too complex"));
    bw_error_release(&err);
  }
}

static void test_networks_default_to_the_default_network(void **state) {
  component_registry reg;
  bw_error_t err = NULL;
  assert_int_equal(load_text("{\"components\": {\"x\": {\"image\": \"a\", \"limits\":"
                             " {\"network\": \"bridge\"}}}}",
                             &reg, &err),
                   0);
  const component *c = components_find(&reg, "x");
  assert_int_equal(c->network_count, 1);
  assert_string_equal(c->networks[0], "bridge");
  assert_true(component_network_allowed(c, "bridge"));
  assert_false(component_network_allowed(c, "none"));
  components_free(&reg);
}

static void test_pull_policy_names(void **state) {
  assert_string_equal(component_pull_policy_name(PULL_IF_NOT_PRESENT), "if-not-present");
  assert_string_equal(component_pull_policy_name(PULL_ALWAYS), "always");
  assert_string_equal(component_pull_policy_name(PULL_NEVER), "never");
}

/* ---- bad input ---- */

static void expect_load_error(const char *text, const char *part, const char *secret) {
  component_registry reg = {.count = 99};
  bw_error_t err = NULL;
  if (load_text(text, &reg, &err) == 0) {
    components_free(&reg);
    fail_msg("accepted: %s", text);
  }
  assert_int_equal(err->kind, BW_ERR_INVALID);
  if (!strstr(err->msg, part))
    fail_msg("%s\n  message '%s' lacks '%s'", text, err->msg, part);
  if (secret && strstr(err->msg, secret))
    fail_msg("%s\n  message '%s' reveals '%s'", text, err->msg, secret);
  assert_int_equal(reg.count, 0);
  assert_null(reg.items);
  bw_error_release(&err);
}

#define ONE(obj) "{\"components\": {\"x\": " obj "}}"

static void test_bad_inputs(void **state) {
  static const struct {
    const char *json;
    const char *part;
    const char *secret; /* must not appear in the message */
  } cases[] = {
      {"[]", "test.json: expected {\"components\": {ID: {...}, ...}}", NULL},
      {"{}", "test.json: expected {\"components\"", NULL},
      {"{\"components\": []}", "test.json: expected {\"components\"", NULL},
      {ONE("3"), "test.json: components.x: expected an object", NULL},
      {ONE("{}"), "test.json: components.x.image: required", NULL},
      {ONE("{\"image\": \"\"}"), "components.x.image: expected a non-empty string", NULL},
      {ONE("{\"image\": 7}"), "components.x.image: expected a non-empty string", NULL},
      {ONE("{\"image\": \"hello-world:1\"}"), "components.x.image: give the repository only", NULL},
      {ONE("{\"image\": \"127.0.0.1:5000/app:1\"}"), "components.x.image: give the repository",
       NULL},
      {ONE("{\"image\": \"app@sha256:" HEX64 "\"}"), "components.x.image: give the repository",
       NULL},
      {ONE("{\"image\": \"UPPER\"}"), "test.json: components.x.image: image reference 'UPPER'",
       NULL},
      {ONE("{\"image\": \"a\", \"tag\": \"-x\"}"), "components.x.tag: '-x' is not a valid tag",
       NULL},
      {ONE("{\"image\": \"a\", \"tag\": 1}"), "components.x.tag: expected a non-empty string",
       NULL},
      {ONE("{\"image\": \"a\", \"allowed_tags\": [\"ok\", \"-bad\"]}"),
       "components.x.allowed_tags[1]: '-bad' is not a valid tag", NULL},
      {ONE("{\"image\": \"a\", \"allowed_tags\": []}"),
       "components.x.allowed_tags: expected a non-empty list", NULL},
      {ONE("{\"image\": \"a\", \"allowed_tags\": [\"ok\", 1]}"),
       "components.x.allowed_tags[1]: expected a non-empty string", NULL},
      {ONE("{\"image\": \"a\", \"allowed_tags\": \"1.0\"}"),
       "components.x.allowed_tags: expected a list of tags or {\"pattern\"", NULL},
      {ONE("{\"image\": \"a\", \"allowed_tags\": {\"regex\": \"1\"}}"),
       "components.x.allowed_tags: expected a list", NULL},
      {ONE("{\"image\": \"a\", \"allowed_tags\": {\"pattern\": \"1\", \"x\": 1}}"),
       "components.x.allowed_tags: expected a list", NULL},
      {ONE("{\"image\": \"a\", \"allowed_tags\": {\"pattern\": \"(1\"}}"),
       "components.x.allowed_tags.pattern: ", NULL},
      {ONE("{\"image\": \"a\", \"allowed_tags\": {\"pattern\": \"[1\"}}"),
       "components.x.allowed_tags.pattern: ", NULL},
      {ONE("{\"image\": \"a\", \"digest\": \"sha256:abc\"}"),
       "components.x.digest: expected sha256:<64 hex>, got 'sha256:abc'", NULL},
      {ONE("{\"image\": \"a\", \"auth\": {\"password\": \"hunter2\"}}"),
       "components.x.auth.password: secrets are given by reference", "hunter2"},
      {ONE("{\"image\": \"a\", \"auth\": {\"username_env\": \"U\", \"password_env\": \"P\","
           " \"registry_token\": \"tok-123\"}}"),
       "components.x.auth.registry_token: secrets are given by reference", "tok-123"},
      {ONE("{\"image\": \"a\", \"auth\": {\"auth\": \"dTpw\"}}"),
       "components.x.auth.auth: secrets are given by reference (username_env and password_env, "
       "or file), never inline",
       "dTpw"},
      {ONE("{\"image\": \"a\", \"auth\": {\"user\": \"me\"}}"),
       "components.x.auth.user: unknown key", NULL},
      {ONE("{\"image\": \"a\", \"auth\": \"U:P\"}"), "components.x.auth: expected an object", NULL},
      {ONE("{\"image\": \"a\", \"auth\": {}}"),
       "components.x.auth: give both username_env and password_env, or file", NULL},
      {ONE("{\"image\": \"a\", \"auth\": {\"username_env\": \"U\"}}"),
       "components.x.auth: give both", NULL},
      {ONE("{\"image\": \"a\", \"auth\": {\"password_env\": \"P\", \"file\": \"/f\"}}"),
       "components.x.auth: give both", NULL},
      {ONE("{\"image\": \"a\", \"auth\": {\"username_env\": \"U\", \"file\": \"/f\"}}"),
       "components.x.auth: give both", NULL},
      {ONE("{\"image\": \"a\", \"auth\": {\"username_env\": \"1U\", \"password_env\": \"P\"}}"),
       "components.x.auth.username_env: '1U' is not a variable name", NULL},
      {ONE("{\"image\": \"a\", \"auth\": {\"username_env\": \"U\", \"password_env\": "
           "\"s3cr3t!\"}}"),
       "components.x.auth.password_env: expected the NAME of an environment variable", "s3cr3t!"},
      {ONE("{\"image\": \"a\", \"auth\": {\"file\": \"\"}}"),
       "components.x.auth.file: expected a non-empty string", NULL},
      {ONE("{\"image\": \"a\", \"imagee\": \"b\"}"), "components.x.imagee: unknown key", NULL},
      {ONE("{\"image\": \"a\", \"pull_policy\": \"sometimes\"}"),
       "components.x.pull_policy: expected if-not-present, always or never, got 'sometimes'", NULL},
      {ONE("{\"image\": \"a\", \"limits\": {\"memory\": -3}}"),
       "test.json: components.x.limits.memory: expected bytes or a size like \"512m\" (at least "
       "4m), got -3",
       NULL},
      {ONE("{\"image\": \"a\", \"limits\": {\"swap\": 1}}"), "components.x.limits.swap: unknown",
       NULL},
      {ONE("{\"image\": \"a\", \"limits\": []}"), "components.x.limits: expected an object", NULL},
      {ONE("{\"image\": \"a\", \"max_limits\": {\"cpus\": 0}}"),
       "components.x.max_limits.cpus: ", NULL},
      {ONE("{\"image\": \"a\", \"limits\": {\"memory\": \"1g\"}, \"max_limits\": {\"memory\":"
           " \"512m\"}}"),
       "components.x.limits.memory: 1g is above max_limits.memory 512m", NULL},
      {ONE("{\"image\": \"a\", \"max_limits\": {\"memory\": \"128m\"}}"),
       "components.x.limits.memory: 256m is above max_limits.memory 128m", NULL},
      {ONE("{\"image\": \"a\", \"limits\": {\"cpus\": 4}, \"max_limits\": {\"cpus\": 2}}"),
       "components.x.limits.cpus: 4 is above max_limits.cpus 2", NULL},
      {ONE("{\"image\": \"a\", \"max_limits\": {\"timeout_seconds\": 60}}"),
       "components.x.limits.timeout_seconds: 3600 is above max_limits.timeout_seconds 60", NULL},
      {ONE("{\"image\": \"a\", \"limits\": {\"pids\": 10}, \"max_limits\": {\"pids\": 9}}"),
       "components.x.limits.pids: 10 is above max_limits.pids 9", NULL},
      {ONE("{\"image\": \"a\", \"max_limits\": {\"network\": \"host\"}}"),
       "components.x.max_limits.network: allowed networks go in \"networks\"", NULL},
      {ONE("{\"image\": \"a\", \"limits\": {\"network\": \"host\"}, \"networks\": [\"none\","
           " \"bridge\"]}"),
       "components.x.limits.network: 'host' is not in the component's networks", NULL},
      {ONE("{\"image\": \"a\", \"networks\": []}"),
       "components.x.networks: expected a non-empty list of strings", NULL},
      {ONE("{\"image\": \"a\", \"networks\": [\"none\", \"\"]}"),
       "components.x.networks[1]: ", NULL},
      {ONE("{\"image\": \"a\", \"run_as_root\": \"yes\"}"),
       "components.x.run_as_root: expected true or false", NULL},
      {ONE("{\"image\": \"a\", \"read_only_rootfs\": 1}"),
       "components.x.read_only_rootfs: expected true or false", NULL},
      {"{\"components\": {\"bad id!\": {\"image\": \"a\"}}}",
       "test.json: components.bad id!: component ids are 1 to 128 of [A-Za-z0-9._-]", NULL},
      {"{\"components\": {\"\": {\"image\": \"a\"}}}", "components.: component ids", NULL},
      /* a later component's error still frees the earlier ones */
      {"{\"components\": {\"ok\": {\"image\": \"a\", \"allowed_tags\": {\"pattern\": \"1\"}},"
       " \"bad\": {}}}",
       "components.bad.image: required", NULL},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    expect_load_error(cases[i].json, cases[i].part, cases[i].secret);
}

static void test_component_id_of_129_characters(void **state) {
  char id[130];
  memset(id, 'a', 129);
  id[129] = '\0';
  char *text = bw_strdup_printf("{\"components\": {\"%s\": {\"image\": \"a\"}}}", id);
  expect_load_error(text, "component ids are 1 to 128", NULL);
  free(text);
  id[128] = '\0';
  text = bw_strdup_printf("{\"components\": {\"%s\": {\"image\": \"a\"}}}", id);
  component_registry reg;
  bw_error_t err = NULL;
  assert_int_equal(load_text(text, &reg, &err), 0);
  assert_non_null(components_find(&reg, id));
  components_free(&reg);
  free(text);
}

static void test_empty_components_map_is_valid(void **state) {
  component_registry reg;
  bw_error_t err = NULL;
  assert_int_equal(load_text("{\"components\": {}}", &reg, &err), 0);
  assert_int_equal(reg.count, 0);
  components_free(&reg);
  components_free(NULL);
}

static void test_load_file_errors(void **state) {
  static const struct {
    const char *file;
    const char *part;
  } cases[] = {
      {"broken.json", "broken.json:1:"},
      {"duplicate.json", "duplicate object key"},
      {"missing.json", "missing.json"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *path = fixture_path(cases[i].file);
    component_registry reg;
    bw_error_t err = NULL;
    assert_int_equal(components_load_file(path, &reg, &err), -1);
    assert_non_null(strstr(err->msg, "components file "));
    if (!strstr(err->msg, cases[i].part))
      fail_msg("%s: message '%s' lacks '%s'", cases[i].file, err->msg, cases[i].part);
    bw_error_release(&err);
    free(path);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_good_file_loads_every_component, setup_good,
                                      teardown_good),
      cmocka_unit_test_setup_teardown(test_defaults_apply_when_nothing_is_given, setup_good,
                                      teardown_good),
      cmocka_unit_test_setup_teardown(test_everything_given_is_parsed, setup_good, teardown_good),
      cmocka_unit_test_setup_teardown(test_pattern_digest_and_root, setup_good, teardown_good),
      cmocka_unit_test_setup_teardown(test_partial_max_limits_take_the_rest_from_defaults,
                                      setup_good, teardown_good),
      cmocka_unit_test_setup_teardown(test_tag_allowed_by_default_and_list, setup_good,
                                      teardown_good),
      cmocka_unit_test_setup_teardown(test_tag_pattern_is_fully_anchored, setup_good,
                                      teardown_good),
      cmocka_unit_test(test_tag_pattern_alternation_stays_anchored),
      cmocka_unit_test_setup_teardown(test_network_allowed, setup_good, teardown_good),
      cmocka_unit_test(test_tag_patterns_people_write),
      cmocka_unit_test(test_tag_patterns_too_complex),
      cmocka_unit_test(test_networks_default_to_the_default_network),
      cmocka_unit_test(test_pull_policy_names),
      cmocka_unit_test(test_bad_inputs),
      cmocka_unit_test(test_component_id_of_129_characters),
      cmocka_unit_test(test_empty_components_map_is_valid),
      cmocka_unit_test(test_load_file_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

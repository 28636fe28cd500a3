/* shared/job/job_request.h: parsing good run requests, and the predicates'
 * tables (test_job_request_errors.c has the refused ones). */
#include "job_request_fixture.h"

/* ---- good requests ---- */

static void test_minimal_request_takes_the_defaults(void **state) {
  job_request req;
  parse_ok("{\"job_id\": \"j1\", \"component\": \"app\"}", &req);
  assert_string_equal(req.job_id, "j1");
  assert_string_equal(req.component, "app");
  assert_null(req.tag);
  assert_null(req.project_id);
  assert_null(req.config_id);
  assert_null(req.config_row_id);
  assert_null(req.config_version);
  assert_null(req.branch_id);
  assert_null(req.replay_of);
  assert_int_equal(req.attempt, 1);
  assert_true(json_is_object(req.config));
  assert_int_equal(json_object_size(req.config), 0);
  assert_true(json_is_object(req.state));
  assert_int_equal(json_object_size(req.state), 0);
  assert_ptr_not_equal(req.config, req.state);
  assert_null(req.inputs);
  assert_int_equal(req.input_count, 0);
  assert_int_equal(req.limits.memory_bytes, 0);
  assert_true(req.limits.cpus == 0);
  assert_int_equal(req.limits.timeout_seconds, 0);
  assert_int_equal(req.limits.pids, 0);
  assert_null(req.limits.network);
  assert_null(req.env);
  assert_int_equal(req.env_count, 0);
  job_request_free(&req);
  assert_null(req.job_id); /* zeroed: a second free is harmless */
  job_request_free(&req);
  job_request_free(NULL);
}

static const char full_request[] =
    "{\"schema_version\": 1, \"job_id\": \"full-job.2026_11\", \"component\": \"app\","
    " \"tag\": \"1.1\", \"project_id\": \"demo\", \"config_id\": 123, \"config_row_id\": \"row-1\","
    " \"config_version\": 4, \"branch_id\": \"main\", \"replay_of\": \"full-job.2026_10\","
    " \"attempt\": 2,"
    " \"config\": {\"parameters\": {\"rows\": 3, \"#token\": \"t0k\"}, \"action\": \"run\"},"
    " \"state\": {\"count\": 1},"
    " \"inputs\": [{\"url\": \"https://example.com/a.csv\", \"path\": \"tables/a.csv\","
    " \"sha256\": \"" HEX64 "\", \"max_bytes\": 4096},"
    " {\"url\": \"file:///etc/hostname\", \"path\": \"files/hostname\"}],"
    " \"limits\": {\"memory\": \"512m\", \"cpus\": 1.5, \"timeout_seconds\": 600, \"pids\": 100,"
    " \"network\": \"bridge\"},"
    " \"env\": {\"MY_SETTING\": \"x\", \"_UNDERSCORE\": \"\", \"lower_9\": \"v a=l\"}}";

static void test_full_request(void **state) {
  job_request req;
  parse_ok(full_request, &req);
  assert_string_equal(req.job_id, "full-job.2026_11");
  assert_string_equal(req.component, "app");
  assert_string_equal(req.tag, "1.1");
  assert_string_equal(req.project_id, "demo");
  assert_string_equal(req.config_id, "123"); /* an integer id is taken as text */
  assert_string_equal(req.config_row_id, "row-1");
  assert_string_equal(req.config_version, "4");
  assert_string_equal(req.branch_id, "main");
  assert_string_equal(req.replay_of, "full-job.2026_10");
  assert_int_equal(req.attempt, 2);

  json_t *want_config =
      json_pack("{s:{s:i, s:s}, s:s}", "parameters", "rows", 3, "#token", "t0k", "action", "run");
  assert_true(json_equal(req.config, want_config));
  json_decref(want_config);
  json_t *want_state = json_pack("{s:i}", "count", 1);
  assert_true(json_equal(req.state, want_state));
  json_decref(want_state);

  assert_int_equal(req.input_count, 2);
  assert_string_equal(req.inputs[0].url, "https://example.com/a.csv");
  assert_string_equal(req.inputs[0].path, "tables/a.csv");
  assert_string_equal(req.inputs[0].sha256, HEX64);
  assert_int_equal(req.inputs[0].max_bytes, 4096);
  assert_string_equal(req.inputs[1].url, "file:///etc/hostname");
  assert_string_equal(req.inputs[1].path, "files/hostname");
  assert_null(req.inputs[1].sha256);
  assert_int_equal(req.inputs[1].max_bytes, 0);

  assert_int_equal(req.limits.memory_bytes, 512 * MIB);
  assert_true(req.limits.cpus == 1.5);
  assert_int_equal(req.limits.timeout_seconds, 600);
  assert_int_equal(req.limits.pids, 100);
  assert_string_equal(req.limits.network, "bridge");

  assert_int_equal(req.env_count, 3);
  static const char *const names[] = {"MY_SETTING", "_UNDERSCORE", "lower_9"};
  static const char *const values[] = {"x", "", "v a=l"};
  for (size_t i = 0; i < 3; i++) {
    bool found = false;
    for (size_t j = 0; j < req.env_count; j++) {
      if (strcmp(req.env[j].name, names[i]) == 0) {
        assert_string_equal(req.env[j].value, values[i]);
        found = true;
      }
    }
    if (!found)
      fail_msg("env %s missing", names[i]);
  }
  job_request_free(&req);
}

/* The config and state are references the request owns: they outlive the document. */
static void test_from_json_keeps_config_after_the_document_goes(void **state) {
  json_t *doc = json_pack("{s:s, s:s, s:{s:s}, s:{s:i}}", "job_id", "j1", "component", "app",
                          "config", "action", "run", "state", "n", 5);
  job_request req;
  bw_error_t err = NULL;
  assert_int_equal(job_request_from_json(doc, &req, &err), 0);
  json_decref(doc);
  assert_string_equal(json_string_value(json_object_get(req.config, "action")), "run");
  assert_int_equal(json_integer_value(json_object_get(req.state, "n")), 5);
  job_request_free(&req);
}

static void test_ids_as_strings_and_integers(void **state) {
  static const struct {
    const char *json;
    const char *want;
  } cases[] = {
      {"\"demo\"", "demo"},
      {"123", "123"},
      {"0", "0"},
      {"\"007\"", "007"},
      {"\"a.b_c-d\"", "a.b_c-d"},
      {"9223372036854775807", "9223372036854775807"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *text = bw_strdup_printf("{\"job_id\": \"j1\", \"component\": \"app\", \"project_id\": %s,"
                                  " \"config_id\": %s, \"branch_id\": %s}",
                                  cases[i].json, cases[i].json, cases[i].json);
    job_request req;
    parse_ok(text, &req);
    assert_string_equal(req.project_id, cases[i].want);
    assert_string_equal(req.config_id, cases[i].want);
    assert_string_equal(req.branch_id, cases[i].want);
    job_request_free(&req);
    free(text);
  }
}

static void test_attempt_bounds_accepted(void **state) {
  job_request req;
  parse_ok("{\"job_id\": \"j1\", \"component\": \"app\", \"attempt\": 1}", &req);
  assert_int_equal(req.attempt, 1);
  job_request_free(&req);
  parse_ok("{\"job_id\": \"j1\", \"component\": \"app\", \"attempt\": 1000}", &req);
  assert_int_equal(req.attempt, 1000);
  job_request_free(&req);
}

static void test_env_value_of_32_kib_is_accepted(void **state) {
  char *value = malloc(32 * 1024 + 1);
  assert_non_null(value);
  memset(value, 'v', 32 * 1024);
  value[32 * 1024] = '\0';
  char *text = bw_strdup_printf(
      "{\"job_id\": \"j1\", \"component\": \"app\", \"env\": {\"BIG\": \"%s\"}}", value);
  job_request req;
  parse_ok(text, &req);
  assert_int_equal(req.env_count, 1);
  assert_int_equal(strlen(req.env[0].value), 32 * 1024);
  job_request_free(&req);
  free(text);
  free(value);
}

static void test_empty_env_inputs_and_limits(void **state) {
  job_request req;
  parse_ok("{\"job_id\": \"j1\", \"component\": \"app\", \"env\": {}, \"inputs\": [],"
           " \"limits\": {}}",
           &req);
  assert_int_equal(req.env_count, 0);
  assert_int_equal(req.input_count, 0);
  assert_null(req.inputs);
  assert_int_equal(req.limits.memory_bytes, 0);
  job_request_free(&req);
}

static void test_valid_fixtures(void **state) {
  size_t len;
  char *text = read_fixture("valid/full.json", &len);
  job_request req;
  bw_error_t err = NULL;
  if (job_request_parse(text, len, &req, &err) < 0)
    fail_msg("valid/full.json: %s", bw_error_msg(&err));
  assert_string_equal(req.job_id, "full-job.2026_11");
  assert_string_equal(req.component, "bundle.exit");
  assert_string_equal(req.tag, "1.0");
  assert_string_equal(req.project_id, "123");
  assert_string_equal(req.config_version, "4");
  assert_int_equal(req.attempt, 2);
  assert_int_equal(req.input_count, 1);
  assert_int_equal(req.limits.memory_bytes, 64 * MIB);
  assert_int_equal(req.env_count, 2);
  job_request_free(&req);
  free(text);

  text = read_fixture("valid/sample.json", &len);
  if (job_request_parse(text, len, &req, &err) < 0)
    fail_msg("valid/sample.json: %s", bw_error_msg(&err));
  assert_string_equal(req.job_id, "sample-1");
  assert_string_equal(req.project_id, "demo");
  assert_int_equal(req.attempt, 1);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(req.config, "parameters"), "#api_token")),
      "tok-SECRET-4711");
  assert_int_equal(json_integer_value(json_object_get(req.state, "count")), 1);
  job_request_free(&req);
  free(text);
}

static void test_invalid_fixtures(void **state) {
  static const struct {
    const char *file;
    const char *message;
    const char *job_id; /* kept in *out, or NULL */
  } cases[] = {
      {"invalid/bad-job-id.json", "job_id: " ID_ERROR "\"has space\"", NULL},
      {"invalid/bad-memory.json",
       "limits.memory: expected bytes or a size like \"512m\" (at least 4m), got -3", "j1"},
      {"invalid/bad-disk.json",
       "limits.disk: expected bytes or a size like \"512m\" (at least 1m), got -1", "j1"},
      {"invalid/config-not-object.json", "config: expected an object, got [1,2]", "j1"},
      {"invalid/input-escapes.json",
       "inputs[0].path: must stay inside in/ (start with tables/ or files/, no ..)", "j1"},
      {"invalid/missing-job-id.json", "job_id: required", NULL},
      {"invalid/reserved-env.json", "env.KBC_RUNID: " ENV_NAME_ERROR, "j1"},
      {"invalid/unknown-key.json", "priority: unknown key (see docs/run-request.md)", "j1"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    size_t len;
    char *text = read_fixture(cases[i].file, &len);
    job_request req;
    char *msg = parse_error(text, len, &req);
    if (strcmp(msg, cases[i].message) != 0)
      fail_msg("%s: message '%s', want '%s'", cases[i].file, msg, cases[i].message);
    if (cases[i].job_id)
      assert_string_equal(req.job_id, cases[i].job_id);
    else
      assert_null(req.job_id);
    free(msg);
    job_request_free(&req);
    free(text);
  }
}

/* ---- tables of the predicates ---- */

static void test_job_id_valid_table(void **state) {
  static const struct {
    const char *id;
    bool valid;
  } cases[] = {
      {"j", true},     {"j1", true},    {"A-Z_a.z-0", true},  {"...", true},   {".hidden", true},
      {"a..b", true},  {"-", true},     {"0", true},          {"", false},     {".", false},
      {"..", false},   {"a b", false},  {"a/b", false},       {"a\\b", false}, {"a:b", false},
      {"a\tb", false}, {"a\nb", false}, {"j\xc3\xa9", false}, {"a@b", false},  {"a+b", false},
      {"a~", false},   {" j", false},   {"j ", false},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    if (job_id_valid(cases[i].id) != cases[i].valid)
      fail_msg("job_id_valid(\"%s\"): expected %d", cases[i].id, cases[i].valid);
  char id[130];
  memset(id, 'x', 129);
  id[129] = '\0';
  assert_false(job_id_valid(id));
  id[128] = '\0';
  assert_true(job_id_valid(id));
}

static void test_env_name_allowed_table(void **state) {
  static const struct {
    const char *name;
    bool allowed;
  } cases[] = {
      {"A", true},        {"_", true},           {"MY_SETTING", true},
      {"lower", true},    {"a1", true},          {"_1", true},
      {"KBC", true},      {"BUNDLE", true},      {"KBCX", true},
      {"BUNDLEX", true},  {"kbc_x", true},       {"bundle_x", true},
      {"X_KBC_Y", true},  {"MY_BUNDLE_X", true}, {"", false},
      {"1A", false},      {"9", false},          {"KBC_", false},
      {"KBC_X", false},   {"KBC_RUNID", false},  {"KBC_DATADIR", false},
      {"BUNDLE_", false}, {"BUNDLE_X", false},   {"BUNDLE_JOB_ID", false},
      {"A-B", false},     {"A B", false},        {"A=B", false},
      {"A.B", false},     {"\xc3\xa9", false},   {"A\n", false},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    if (job_env_name_allowed(cases[i].name) != cases[i].allowed)
      fail_msg("job_env_name_allowed(\"%s\"): expected %d", cases[i].name, cases[i].allowed);
  char name[130];
  memset(name, 'N', 129);
  name[129] = '\0';
  assert_false(job_env_name_allowed(name));
  name[128] = '\0';
  assert_true(job_env_name_allowed(name));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_minimal_request_takes_the_defaults),
      cmocka_unit_test(test_full_request),
      cmocka_unit_test(test_from_json_keeps_config_after_the_document_goes),
      cmocka_unit_test(test_ids_as_strings_and_integers),
      cmocka_unit_test(test_attempt_bounds_accepted),
      cmocka_unit_test(test_env_value_of_32_kib_is_accepted),
      cmocka_unit_test(test_empty_env_inputs_and_limits),
      cmocka_unit_test(test_valid_fixtures),
      cmocka_unit_test(test_invalid_fixtures),
      cmocka_unit_test(test_job_id_valid_table),
      cmocka_unit_test(test_env_name_allowed_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

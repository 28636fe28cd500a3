/* shared/job/job_request.h: requests that are refused, each with a message
 * that names the JSON path and what was expected. */
#include "job_request_fixture.h"

/* ---- bad requests ---- */

static void test_bad_requests(void **state) {
  static const struct {
    const char *json;
    const char *message; /* the exact message, or its start when prefix is set */
    bool prefix;
    bool keeps_job_id; /* *out->job_id is "j1" after the failure */
  } cases[] = {
      {"not json", "request: not valid JSON: line 1 column 3: '[' or '{' expected", false, false},
      {"{\"job_id\": \"j1\",",
       "request: not valid JSON: line 1 column 16: string or '}' expected near end of file", false,
       false},
      {"{\"job_id\": \"j1\",\n \"component\": }",
       "request: not valid JSON: line 2 column 15: unexpected token", false, false},
      {"", "request: not valid JSON: line 1 column 0: '[' or '{' expected near end of file", false,
       false},
      {"[]", "request: expected a JSON object", false, false},
      /* jansson wants an object or an array at the top */
      {"\"j1\"", "request: not valid JSON: line 1 column 4: '[' or '{' expected", false, false},
      {"[{\"job_id\": \"j1\"}]", "request: expected a JSON object", false, false},
      {"{\"component\": \"app\"}", "job_id: required", false, false},
      {"{\"job_id\": \"\", \"component\": \"app\"}", "job_id: " ID_ERROR "\"\"", false, false},
      {"{\"job_id\": \"has space\", \"component\": \"app\"}", "job_id: " ID_ERROR "\"has space\"",
       false, false},
      {"{\"job_id\": \".\", \"component\": \"app\"}", "job_id: " ID_ERROR "\".\"", false, false},
      {"{\"job_id\": \"..\", \"component\": \"app\"}", "job_id: " ID_ERROR "\"..\"", false, false},
      {"{\"job_id\": \"a/b\", \"component\": \"app\"}", "job_id: " ID_ERROR "\"a/b\"", false,
       false},
      {"{\"job_id\": \"j\\u00e9\", \"component\": \"app\"}", "job_id: " ID_ERROR, true, false},
      {"{\"job_id\": null, \"component\": \"app\"}", "job_id: " ID_ERROR "null", false, false},
      {"{\"job_id\": -1, \"component\": \"app\"}", "job_id: " ID_ERROR "-1", false, false},
      {"{\"job_id\": 1.5, \"component\": \"app\"}", "job_id: " ID_ERROR "1.5", false, false},
      {"{\"job_id\": [\"j1\"], \"component\": \"app\"}", "job_id: " ID_ERROR "[\"j1\"]", false,
       false},
      {"{\"job_id\": \"j1\"}", "component: required", false, true},
      {"{\"job_id\": \"j1\", \"component\": \"\"}", "component: " ID_ERROR "\"\"", false, true},
      {"{\"job_id\": \"j1\", \"component\": \"a b\"}", "component: " ID_ERROR "\"a b\"", false,
       true},
      {REQ(", \"priority\": 5"), "priority: unknown key (see docs/run-request.md)", false, true},
      {REQ(", \"Job_id\": \"x\""), "Job_id: unknown key (see docs/run-request.md)", false, true},
      {REQ(", \"schema_version\": 2"), "schema_version: expected 1", false, true},
      {REQ(", \"schema_version\": \"1\""), "schema_version: expected 1", false, true},
      {REQ(", \"schema_version\": 0"), "schema_version: expected 1", false, true},
      {REQ(", \"tag\": \"-x\""),
       "tag: expected an image tag (1 to 128 of [A-Za-z0-9_.-]), got \"-x\"", false, true},
      {REQ(", \"tag\": \"\""), "tag: expected an image tag (1 to 128 of [A-Za-z0-9_.-]), got \"\"",
       false, true},
      {REQ(", \"tag\": \"1.0 \""),
       "tag: expected an image tag (1 to 128 of [A-Za-z0-9_.-]), got \"1.0 \"", false, true},
      {REQ(", \"tag\": \"a:b\""),
       "tag: expected an image tag (1 to 128 of [A-Za-z0-9_.-]), got \"a:b\"", false, true},
      {REQ(", \"tag\": 1"), "tag: expected an image tag (1 to 128 of [A-Za-z0-9_.-]), got 1", false,
       true},
      {REQ(", \"project_id\": -5"), "project_id: " ID_ERROR "-5", false, true},
      {REQ(", \"project_id\": 1.5"), "project_id: " ID_ERROR "1.5", false, true},
      {REQ(", \"project_id\": true"), "project_id: " ID_ERROR "true", false, true},
      {REQ(", \"config_id\": \"x y\""), "config_id: " ID_ERROR "\"x y\"", false, true},
      {REQ(", \"config_row_id\": \"..\""), "config_row_id: " ID_ERROR "\"..\"", false, true},
      {REQ(", \"config_version\": {}"), "config_version: " ID_ERROR "{}", false, true},
      {REQ(", \"branch_id\": \"\""), "branch_id: " ID_ERROR "\"\"", false, true},
      {REQ(", \"replay_of\": \"a/b\""), "replay_of: " ID_ERROR "\"a/b\"", false, true},
      {REQ(", \"attempt\": 0"), "attempt: expected an integer from 1 to 1000, got 0", false, true},
      {REQ(", \"attempt\": 1001"), "attempt: expected an integer from 1 to 1000, got 1001", false,
       true},
      {REQ(", \"attempt\": -1"), "attempt: expected an integer from 1 to 1000, got -1", false,
       true},
      {REQ(", \"attempt\": \"1\""), "attempt: expected an integer from 1 to 1000, got \"1\"", false,
       true},
      {REQ(", \"attempt\": 1.0"), "attempt: expected an integer from 1 to 1000, got 1.0", false,
       true},
      {REQ(", \"attempt\": null"), "attempt: expected an integer from 1 to 1000, got null", false,
       true},
      {REQ(", \"config\": [1, 2]"), "config: expected an object, got [1,2]", false, true},
      {REQ(", \"config\": \"{}\""), "config: expected an object, got \"{}\"", false, true},
      {REQ(", \"config\": null"), "config: expected an object, got null", false, true},
      {REQ(", \"state\": []"), "state: expected an object, got []", false, true},
      {REQ(", \"state\": 1"), "state: expected an object, got 1", false, true},
      {REQ(", \"env\": {\"KBC_X\": \"v\"}"), "env.KBC_X: " ENV_NAME_ERROR, false, true},
      {REQ(", \"env\": {\"KBC_RUNID\": \"other\"}"), "env.KBC_RUNID: " ENV_NAME_ERROR, false, true},
      {REQ(", \"env\": {\"BUNDLE_X\": \"v\"}"), "env.BUNDLE_X: " ENV_NAME_ERROR, false, true},
      {REQ(", \"env\": {\"BUNDLE_JOB_ID\": \"v\"}"), "env.BUNDLE_JOB_ID: " ENV_NAME_ERROR, false,
       true},
      {REQ(", \"env\": {\"9LIVES\": \"v\"}"), "env.9LIVES: " ENV_NAME_ERROR, false, true},
      {REQ(", \"env\": {\"A-B\": \"v\"}"), "env.A-B: " ENV_NAME_ERROR, false, true},
      {REQ(", \"env\": {\"A=B\": \"v\"}"), "env.A=B: " ENV_NAME_ERROR, false, true},
      {REQ(", \"env\": {\"\": \"v\"}"), "env.: " ENV_NAME_ERROR, false, true},
      {REQ(", \"env\": {\"X\": 1}"), "env.X: " ENV_VALUE_ERROR, false, true},
      {REQ(", \"env\": {\"X\": null}"), "env.X: " ENV_VALUE_ERROR, false, true},
      {REQ(", \"env\": {\"X\": [\"a\"]}"), "env.X: " ENV_VALUE_ERROR, false, true},
      {REQ(", \"env\": [\"X=1\"]"), "env: expected an object of NAME: \"value\"", false, true},
      {REQ(", \"env\": \"X=1\""), "env: expected an object of NAME: \"value\"", false, true},
      {REQ(", \"limits\": {\"memory\": -3}"),
       "limits.memory: expected bytes or a size like \"512m\" (at least 4m), got -3", false, true},
      {REQ(", \"limits\": {\"cpus\": 0}"),
       "limits.cpus: expected a number above 0 and up to 256, got 0", false, true},
      {REQ(", \"limits\": {\"swap\": 1}"), "limits.swap: unknown limit", true, true},
      {REQ(", \"limits\": []"), "limits: expected an object", true, true},
      {REQ(", \"inputs\": [{\"url\": \"file:///etc/passwd\", \"path\": \"../passwd\"}]"),
       "inputs[0].path: must stay inside in/ (start with tables/ or files/, no ..)", false, true},
      {REQ(", \"inputs\": [{\"url\": \"https://h/x\", \"path\": \"tables/../../x\"}]"),
       "inputs[0].path: must stay inside in/ (start with tables/ or files/, no ..)", false, true},
      {REQ(", \"inputs\": [{\"url\": \"https://h/x\", \"path\": \"/etc/x\"}]"),
       "inputs[0].path: must stay inside in/ (start with tables/ or files/, no ..)", false, true},
      {REQ(", \"inputs\": [{\"url\": \"https://h/x\", \"path\": \"files/ok\"},"
           " {\"url\": \"https://h/y\", \"path\": \"x/y\"}]"),
       "inputs[1].path: must stay inside in/ (start with tables/ or files/, no ..)", false, true},
      {REQ(", \"inputs\": {}"), "inputs: must be an array", false, true},
      {"{\"job_id\": \"j1\", \"job_id\": \"j2\", \"component\": \"app\"}",
       "request: not valid JSON: line 1 column ", true, false},
      {REQ(", \"env\": {\"X\": \"a\", \"X\": \"b\"}"), "request: not valid JSON: line 1 column ",
       true, false},
      {REQ(", \"config\": {\"a\": {\"#b\": 1, \"#b\": 2}}"),
       "request: not valid JSON: line 1 column ", true, false},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    job_request req;
    char *msg = parse_error(cases[i].json, strlen(cases[i].json), &req);
    bool ok = cases[i].prefix ? strncmp(msg, cases[i].message, strlen(cases[i].message)) == 0
                              : strcmp(msg, cases[i].message) == 0;
    if (!ok)
      fail_msg("%s\n  message '%s'\n  want %s'%s'", cases[i].json, msg,
               cases[i].prefix ? "a start of " : "", cases[i].message);
    if (cases[i].keeps_job_id) {
      if (!req.job_id || strcmp(req.job_id, "j1") != 0)
        fail_msg("%s\n  job_id not kept: %s", cases[i].json, req.job_id ? req.job_id : "(null)");
    } else {
      assert_null(req.job_id);
    }
    free(msg);
    job_request_free(&req);
  }
}

static void test_duplicate_keys_say_so(void **state) {
  static const char *const cases[] = {
      "{\"job_id\": \"j1\", \"job_id\": \"j2\", \"component\": \"app\"}",
      REQ(", \"env\": {\"X\": \"a\", \"X\": \"b\"}"),
      REQ(", \"config\": {\"a\": {\"#b\": 1, \"#b\": 2}}"),
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    job_request req;
    char *msg = parse_error(cases[i], strlen(cases[i]), &req);
    if (!strstr(msg, "duplicate object key"))
      fail_msg("%s\n  message '%s' lacks 'duplicate object key'", cases[i], msg);
    assert_null(req.job_id);
    free(msg);
    job_request_free(&req);
  }
  job_request req;
  char *msg = parse_error(cases[0], strlen(cases[0]), &req);
  assert_string_equal(msg, "request: not valid JSON: line 1 column 25: duplicate object key");
  free(msg);
  job_request_free(&req);
}

/* jansson's own message for a document it cannot read is kept after the
 * position, without the text it quotes (which may be a secret). */
static void test_not_json_message_has_line_and_column(void **state) {
  job_request req;
  const char *text = "{\n  \"job_id\": \"j1\",\n  \"component\": app\n}";
  char *msg = parse_error(text, strlen(text), &req);
  assert_string_equal(msg, "request: not valid JSON: line 3 column 18: invalid token");
  free(msg);
  job_request_free(&req);
}

/* Only len bytes are parsed: trailing bytes past len are not part of the request. */
static void test_parse_respects_len(void **state) {
  const char *text = "{\"job_id\": \"j1\", \"component\": \"app\"}garbage";
  job_request req;
  bw_error_t err = NULL;
  assert_int_equal(job_request_parse(text, strlen(text) - 7, &req, &err), 0);
  assert_string_equal(req.job_id, "j1");
  job_request_free(&req);
  assert_int_equal(job_request_parse(text, strlen(text), &req, &err), -1);
  assert_non_null(strstr(err->msg, "request: not valid JSON: "));
  bw_error_release(&err);
  job_request_free(&req);
}

static void test_job_id_of_128_and_129_characters(void **state) {
  char id[131];
  memset(id, 'a', 129);
  id[129] = '\0';
  char *text = bw_strdup_printf("{\"job_id\": \"%s\", \"component\": \"app\"}", id);
  job_request req;
  char *msg = parse_error(text, strlen(text), &req);
  /* the value is shown, cut to 60 characters */
  char want[256];
  snprintf(want, sizeof(want), "job_id: " ID_ERROR "\"%.56s...", id);
  assert_string_equal(msg, want);
  assert_null(req.job_id);
  free(msg);
  job_request_free(&req);
  free(text);

  id[128] = '\0';
  text = bw_strdup_printf("{\"job_id\": \"%s\", \"component\": \"app\"}", id);
  parse_ok(text, &req);
  assert_string_equal(req.job_id, id);
  job_request_free(&req);
  free(text);
}

static void test_env_value_over_32_kib(void **state) {
  size_t n = 32 * 1024 + 1;
  char *value = malloc(n + 1);
  assert_non_null(value);
  memset(value, 'v', n);
  value[n] = '\0';
  char *text = bw_strdup_printf(REQ(", \"env\": {\"BIG\": \"%s\"}"), value);
  job_request req;
  char *msg = parse_error(text, strlen(text), &req);
  assert_string_equal(msg, "env.BIG: " ENV_VALUE_ERROR);
  assert_string_equal(req.job_id, "j1");
  free(msg);
  job_request_free(&req);
  free(text);
  free(value);
}

/* jansson refuses \u0000 in the text without JSON_ALLOW_NUL, so a NUL can only
 * reach the env check through job_request_from_json. Both paths reject it. */
static void test_env_value_with_embedded_nul(void **state) {
  const char *text = REQ(", \"env\": {\"X\": \"a\\u0000b\"}");
  job_request req;
  char *msg = parse_error(text, strlen(text), &req);
  assert_string_equal(msg, "request: not valid JSON: line 1 column 60: \\u0000 is not allowed "
                           "without JSON_ALLOW_NUL");
  assert_null(req.job_id); /* the document was not read at all */
  free(msg);
  job_request_free(&req);

  json_t *doc = json_pack("{s:s, s:s, s:{s:s#}}", "job_id", "j1", "component", "app", "env", "X",
                          "a\0b", (int)3);
  assert_non_null(doc);
  assert_int_equal(json_string_length(json_object_get(json_object_get(doc, "env"), "X")), 3);
  bw_error_t err = NULL;
  assert_int_equal(job_request_from_json(doc, &req, &err), -1);
  assert_string_equal(err->msg, "env.X: " ENV_VALUE_ERROR);
  assert_string_equal(req.job_id, "j1");
  bw_error_release(&err);
  job_request_free(&req);
  json_decref(doc);
}

/* The same for ids: "j1\0x" would otherwise read as "j1". */
static void test_ids_with_embedded_nul(void **state) {
  json_t *doc = json_pack("{s:s#, s:s}", "job_id", "j1\0x", (int)4, "component", "app");
  assert_non_null(doc);
  job_request req;
  bw_error_t err = NULL;
  assert_int_equal(job_request_from_json(doc, &req, &err), -1);
  assert_string_equal(err->msg, "job_id: " ID_ERROR "\"j1\\u0000x\"");
  assert_null(req.job_id);
  bw_error_release(&err);
  job_request_free(&req);
  json_decref(doc);

  doc = json_pack("{s:s, s:s#}", "job_id", "j1", "component", "app\0x", (int)5);
  assert_int_equal(job_request_from_json(doc, &req, &err), -1);
  assert_true(strncmp(err->msg, "component: " ID_ERROR, strlen("component: " ID_ERROR)) == 0);
  assert_string_equal(req.job_id, "j1");
  bw_error_release(&err);
  job_request_free(&req);
  json_decref(doc);
}

static void test_from_json_not_an_object(void **state) {
  json_t *values[] = {json_array(), json_string("j1"), json_integer(1), json_null()};
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    job_request req;
    bw_error_t err = NULL;
    assert_int_equal(job_request_from_json(values[i], &req, &err), -1);
    assert_string_equal(err->msg, "request: expected a JSON object");
    assert_null(req.job_id);
    bw_error_release(&err);
    job_request_free(&req);
    json_decref(values[i]);
  }
}

static void test_too_many_env_variables(void **state) {
  json_t *env = json_object();
  for (int i = 0; i < 257; i++) {
    char name[16];
    snprintf(name, sizeof(name), "V%d", i);
    json_object_set_new(env, name, json_string("x"));
  }
  json_t *doc = json_pack("{s:s, s:s, s:o}", "job_id", "j1", "component", "app", "env", env);
  job_request req;
  bw_error_t err = NULL;
  assert_int_equal(job_request_from_json(doc, &req, &err), -1);
  assert_string_equal(err->msg, "env: at most 256 variables");
  bw_error_release(&err);
  job_request_free(&req);
  json_object_del(env, "V256");
  assert_int_equal(job_request_from_json(doc, &req, &err), 0);
  assert_int_equal(req.env_count, 256);
  job_request_free(&req);
  json_decref(doc);
}

/* A failure in env after some variables were copied frees them (LeakSanitizer). */
static void test_env_failure_after_good_variables(void **state) {
  json_t *doc = json_pack("{s:s, s:s, s:{s:s, s:s, s:i}}", "job_id", "j1", "component", "app",
                          "env", "A", "1", "B", "2", "C", 3);
  job_request req;
  bw_error_t err = NULL;
  assert_int_equal(job_request_from_json(doc, &req, &err), -1);
  assert_string_equal(err->msg, "env.C: " ENV_VALUE_ERROR);
  bw_error_release(&err);
  job_request_free(&req);
  json_decref(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_requests),
      cmocka_unit_test(test_duplicate_keys_say_so),
      cmocka_unit_test(test_not_json_message_has_line_and_column),
      cmocka_unit_test(test_parse_respects_len),
      cmocka_unit_test(test_job_id_of_128_and_129_characters),
      cmocka_unit_test(test_env_value_over_32_kib),
      cmocka_unit_test(test_env_value_with_embedded_nul),
      cmocka_unit_test(test_ids_with_embedded_nul),
      cmocka_unit_test(test_from_json_not_an_object),
      cmocka_unit_test(test_too_many_env_variables),
      cmocka_unit_test(test_env_failure_after_good_variables),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

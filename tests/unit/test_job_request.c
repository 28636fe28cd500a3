/* shared/job/job_request.h: parsing a run request, its errors, and resolving it
 * against the registered components. */
#include "job/job_request.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MIB (1024LL * 1024)
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID_ERROR "expected 1 to 128 characters of [A-Za-z0-9._-] (not . or ..), got "
#define ENV_NAME_ERROR                                                                             \
  "expected a name of [A-Za-z0-9_] not starting with a digit, and not a reserved KBC_ or "         \
  "BUNDLE_ name"
#define ENV_VALUE_ERROR "expected a string of at most 32768 bytes without NUL"

/* Parses a request given as C text; fails the test on a parse error. The
 * caller frees with job_request_free. */
static void parse_ok(const char *text, job_request *req) {
  bw_error_t err = NULL;
  if (job_request_parse(text, strlen(text), req, &err) < 0)
    fail_msg("%s\n  rejected: %s", text, bw_error_msg(&err));
  assert_null(err);
}

/* Parses a request that must be rejected; returns the message (caller frees)
 * and leaves whatever was read in *req (caller frees). */
static char *parse_error(const char *text, size_t len, job_request *req) {
  bw_error_t err = NULL;
  if (job_request_parse(text, len, req, &err) == 0)
    fail_msg("%s\n  accepted", text);
  assert_non_null(err);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  char *msg = bw_strdup(err->msg);
  bw_error_release(&err);
  return msg;
}

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

/* A file from tests/data/requests/; the caller frees. */
static char *read_fixture(const char *name, size_t *len) {
  const char *root = getenv("BW_TEST_DATA");
  if (!root)
    fail_msg("BW_TEST_DATA is not set (ctest sets it)");
  char *path = bw_strdup_printf("%s/requests/%s", root, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    fail_msg("cannot open %s", path);
  free(path);
  char *buf = malloc(65536);
  assert_non_null(buf);
  *len = fread(buf, 1, 65535, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
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

/* ---- bad requests ---- */

#define REQ(rest) "{\"job_id\": \"j1\", \"component\": \"app\"" rest "}"

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
      cmocka_unit_test(test_minimal_request_takes_the_defaults),
      cmocka_unit_test(test_full_request),
      cmocka_unit_test(test_from_json_keeps_config_after_the_document_goes),
      cmocka_unit_test(test_ids_as_strings_and_integers),
      cmocka_unit_test(test_attempt_bounds_accepted),
      cmocka_unit_test(test_env_value_of_32_kib_is_accepted),
      cmocka_unit_test(test_empty_env_inputs_and_limits),
      cmocka_unit_test(test_valid_fixtures),
      cmocka_unit_test(test_invalid_fixtures),
      cmocka_unit_test(test_bad_requests),
      cmocka_unit_test(test_duplicate_keys_say_so),
      cmocka_unit_test(test_not_json_message_has_line_and_column),
      cmocka_unit_test(test_rejections_never_quote_a_secret),
      cmocka_unit_test(test_masked_rejection_keeps_the_path),
      cmocka_unit_test(test_request_size_limit),
      cmocka_unit_test(test_parse_respects_len),
      cmocka_unit_test(test_job_id_of_128_and_129_characters),
      cmocka_unit_test(test_env_value_over_32_kib),
      cmocka_unit_test(test_env_value_with_embedded_nul),
      cmocka_unit_test(test_ids_with_embedded_nul),
      cmocka_unit_test(test_from_json_not_an_object),
      cmocka_unit_test(test_too_many_env_variables),
      cmocka_unit_test(test_env_failure_after_good_variables),
      cmocka_unit_test(test_job_id_valid_table),
      cmocka_unit_test(test_env_name_allowed_table),
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

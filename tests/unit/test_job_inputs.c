/* shared/job/job_inputs.h: a run request's inputs, checked: their paths and
 * their parsing (fetching them is test_inputs.c). */
#include "inputs_fixture.h"

/* ---- path validation -------------------------------------------------------------------- */

static void test_path_table(void **state) {
  static const struct {
    const char *path;
    const char *problem; /* NULL: accepted */
  } cases[] = {
      {"tables/x.csv", NULL},
      {"files/123_report.pdf", NULL},
      {"tables/sliced.csv/part-1", NULL},
      {"tables/x.csv.manifest", NULL},
      {"tables/..x", NULL}, /* ".." only as a whole component */
      {"tables/.hidden", NULL},
      {"", "must not be empty"},
      {"/tables/x.csv", PATH_OUTSIDE},
      {"tables/../../etc/passwd", PATH_OUTSIDE},
      {"tables/..", PATH_OUTSIDE},
      {"files/a/../b", PATH_OUTSIDE},
      {"x.csv", PATH_OUTSIDE},
      {"out/tables/x.csv", PATH_OUTSIDE},
      {"tablesx/a", PATH_OUTSIDE},
      {"tables", PATH_OUTSIDE},
      {"tables/", "must not have empty or '.' components"},
      {"tables//x.csv", "must not have empty or '.' components"},
      {"tables/./x.csv", "must not have empty or '.' components"},
      {"tables/x.csv/", "must not have empty or '.' components"},
      {"files/.", "must not have empty or '.' components"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *got = inputs_path_problem(cases[i].path, strlen(cases[i].path));
    if (!cases[i].problem) {
      if (got)
        fail_msg("%s: unexpected problem %s", cases[i].path, got);
    } else {
      if (!got)
        fail_msg("%s: accepted", cases[i].path);
      assert_string_equal(got, cases[i].problem);
    }
  }
  assert_string_equal(inputs_path_problem("tables/a\0b", 10), "must not contain a NUL byte");
  char longest[257];
  memset(longest, 'a', sizeof(longest));
  memcpy(longest, "tables/", 7);
  longest[255] = '\0';
  assert_null(inputs_path_problem(longest, 255));
  longest[255] = 'a';
  longest[256] = '\0';
  assert_string_equal(inputs_path_problem(longest, 256), "longer than 255 bytes");
}

/* ---- parsing ---------------------------------------------------------------------------- */

static void expect_parse_error(const char *json_text, const char *message) {
  json_error_t je;
  json_t *doc = json_loads(json_text, JSON_ALLOW_NUL, &je);
  if (!doc)
    fail_msg("bad test JSON: %s", je.text);
  job_input *list = (job_input *)0x1;
  size_t count = 99;
  bw_error_t err = NULL;
  assert_int_equal(inputs_parse(doc, &list, &count, &err), -1);
  assert_null(list);
  assert_int_equal(count, 0);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  if (strcmp(err->msg, message) != 0)
    fail_msg("for %s:\n  got  %s\n  want %s", json_text, err->msg, message);
  bw_error_release(&err);
  json_decref(doc);
}

static void test_parse_accepts_and_normalizes(void **state) {
  json_t *doc = json_loads(
      "[{\"url\": \"https://u:p@example.com/x.csv?sig=1\","
      "  \"path\": \"tables/x.csv\"},"
      " {\"url\": \"file:///srv/y\", \"path\": \"files/y\","
      "  \"sha256\": \"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\","
      "  \"max_bytes\": 1024},"
      " {\"url\": \"HTTP://example.com/z\", \"path\": \"tables/z.csv\"}]",
      0, NULL);
  assert_non_null(doc);
  job_input *list = NULL;
  size_t count = 0;
  bw_error_t err = NULL;
  assert_int_equal(inputs_parse(doc, &list, &count, &err), 0);
  assert_null(err);
  assert_int_equal(count, 3);
  assert_string_equal(list[0].url, "https://u:p@example.com/x.csv?sig=1");
  assert_string_equal(list[0].path, "tables/x.csv");
  assert_null(list[0].sha256);
  assert_int_equal(list[0].max_bytes, 0);
  assert_string_equal(list[1].sha256, SHA_ABC); /* lowercased */
  assert_int_equal(list[1].max_bytes, 1024);
  inputs_free(list, count);
  json_decref(doc);

  doc = json_array();
  assert_int_equal(inputs_parse(doc, &list, &count, NULL), 0);
  assert_null(list);
  assert_int_equal(count, 0);
  json_decref(doc);
  inputs_free(NULL, 0);
}

static void test_parse_errors_name_the_json_path(void **state) {
  expect_parse_error("{}", "inputs: must be an array");
  expect_parse_error("[1]", "inputs[0]: must be an object");
  expect_parse_error("[{\"url\": \"https://h/x\"}]", "inputs[0].path: required");
  expect_parse_error("[{\"path\": \"tables/x\"}]", "inputs[0].url: required");
  expect_parse_error("[{\"url\": 1, \"path\": \"tables/x\"}]", "inputs[0].url: must be a string");
  expect_parse_error("[{\"url\": \"ftp://h/x\", \"path\": \"tables/x\"}]",
                     "inputs[0].url: scheme must be http, https, file or s3");
  expect_parse_error("[{\"url\": \"s3://bucket\", \"path\": \"tables/x\"}]",
                     "inputs[0].url: an S3 URL is s3://BUCKET/KEY, or s3://BUCKET/PREFIX/ for "
                     "every object under it");
  expect_parse_error("[{\"url\": \"s3:///key\", \"path\": \"tables/x\"}]",
                     "inputs[0].url: an S3 URL is s3://BUCKET/KEY, or s3://BUCKET/PREFIX/ for "
                     "every object under it");
  expect_parse_error("[{\"url\": \"s3://b/k?versionId=1\", \"path\": \"tables/x\"}]",
                     "inputs[0].url: an S3 URL has no query or fragment");
  expect_parse_error("[{\"url\": \"s3://b/k\\u0001\", \"path\": \"tables/x\"}]",
                     "inputs[0].url: has a control character");
  expect_parse_error("[{\"url\": \"s3://b/slices/\", \"path\": \"tables/x\", \"sha256\": "
                     "\""
                     "0000000000000000000000000000000000000000000000000000000000000000"
                     "\"}]",
                     "inputs[0].sha256: a prefix (an s3:// URL ending in /) names many objects; "
                     "sha256 checks one");
  expect_parse_error("[{\"url\": \"not a url\", \"path\": \"tables/x\"}]",
                     "inputs[0].url: not a valid URL");
  expect_parse_error("[{\"url\": \"https://h/a\", \"path\": \"tables/a\"},"
                     " {\"url\": \"https://h/b\", \"path\": \"tables/b\"},"
                     " {\"url\": \"https://h/c\", \"path\": \"tables/../../c\"}]",
                     "inputs[2].path: " PATH_OUTSIDE);
  expect_parse_error("[{\"url\": \"https://h/x\", \"path\": \"/etc/passwd\"}]",
                     "inputs[0].path: " PATH_OUTSIDE);
  expect_parse_error("[{\"url\": \"https://h/x\", \"path\": \"tables/a\\u0000b\"}]",
                     "inputs[0].path: must not contain a NUL byte");
  expect_parse_error("[{\"url\": \"https://h/x\", \"path\": \"tables//x\"}]",
                     "inputs[0].path: must not have empty or '.' components");
  expect_parse_error("[{\"url\": \"https://h/x\", \"path\": \"tables/x\", \"sha256\": \"abc\"}]",
                     "inputs[0].sha256: must be 64 hex digits");
  expect_parse_error("[{\"url\": \"https://h/x\", \"path\": \"tables/x\", \"sha256\": 5}]",
                     "inputs[0].sha256: must be 64 hex digits");
  expect_parse_error("[{\"url\": \"https://h/x\", \"path\": \"tables/x\", \"max_bytes\": 0}]",
                     "inputs[0].max_bytes: must be a positive integer");
  expect_parse_error("[{\"url\": \"https://h/x\", \"path\": \"tables/x\", \"max_bytes\": -5}]",
                     "inputs[0].max_bytes: must be a positive integer");
  expect_parse_error("[{\"url\": \"https://h/x\", \"path\": \"tables/x\", \"max_bytes\": \"9\"}]",
                     "inputs[0].max_bytes: must be a positive integer");
  expect_parse_error("[{\"url\": \"https://h/x\", \"path\": \"tables/x\", \"max_bytes\": 1.5}]",
                     "inputs[0].max_bytes: must be a positive integer");
  expect_parse_error("[{\"url\": \"https://h/x\", \"path\": \"tables/x\", \"mode\": \"0777\"}]",
                     "inputs[0]: unknown key \"mode\"");
  expect_parse_error("[{\"url\": \"https://h/x\", \"path\": \"tables/x\"},"
                     " {\"url\": \"https://h/y\", \"path\": \"tables/x\"}]",
                     "inputs[1].path: same destination as inputs[0]");
  expect_parse_error("[{\"url\": \"https://h/x\", \"path\": \"tables/x\"},"
                     " {\"url\": \"https://h/y\", \"path\": \"tables/x/part\"}]",
                     "inputs[1].path: one of it and inputs[0].path would be a folder holding "
                     "the other");
}

static void test_redact_strips_userinfo_query_and_fragment(void **state) {
  char *r = inputs_url_redact("https://user:secret@example.com:8443/a/b.csv?token=t0k#frag");
  assert_string_equal(r, "https://example.com:8443/a/b.csv");
  free(r);
  r = inputs_url_redact("file:///srv/data/x.csv");
  assert_string_equal(r, "file:///srv/data/x.csv");
  free(r);
  r = inputs_url_redact("::nonsense::");
  assert_string_equal(r, "(unparsable URL)");
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_path_table),
      cmocka_unit_test(test_parse_accepts_and_normalizes),
      cmocka_unit_test(test_parse_errors_name_the_json_path),
      cmocka_unit_test(test_redact_strips_userinfo_query_and_fragment),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* shared/pipeline/outputs.h: out/state.json read back, and the secrets it
 * may not hold. */
#include "outputs_fixture.h"

/* ---- state.json ------------------------------------------------------------------------- */

static void expect_state_error(fixture *f, const char *message) {
  json_t *s = (json_t *)0x1;
  bw_error_t err = NULL;
  assert_int_equal(outputs_read_state(f->out, &s, &err), -1);
  assert_null(s);
  assert_int_equal(err->kind, BW_ERR_USER);
  if (strcmp(err->msg, message) != 0)
    fail_msg("got %s\nwant %s", err->msg, message);
  bw_error_release(&err);
}

static void test_state_json(void **state) {
  fixture *f = *state;
  json_t *s = (json_t *)0x1;
  assert_int_equal(outputs_read_state(f->out, &s, NULL), 0); /* absent */
  assert_null(s);

  put(f->out, "state.json", "{\"cursor\": 42}");
  assert_int_equal(outputs_read_state(f->out, &s, NULL), 0);
  assert_int_equal(json_integer_value(json_object_get(s, "cursor")), 42);
  json_decref(s);

  put(f->out, "state.json", "[42]");
  expect_state_error(f, "out/state.json: must be a JSON object, not an array");
  put(f->out, "state.json", "\"text\"");
  expect_state_error(f, "out/state.json: must be a JSON object, not a string");
  put(f->out, "state.json", "{\"a\": ");
  json_t *probe = NULL;
  bw_error_t err = NULL;
  assert_int_equal(outputs_read_state(f->out, &probe, &err), -1);
  assert_non_null(strstr(err->msg, "out/state.json: invalid JSON at line 1"));
  bw_error_release(&err);

  char *path = bw_strdup_printf("%s/state.json", f->out);
  unlink(path);
  assert_int_equal(symlink("../config.json", path), 0);
  expect_state_error(f, "out/state.json: a symbolic link (not followed)");
  unlink(path);
  assert_int_equal(mkfifo(path, 0644), 0);
  expect_state_error(f, "out/state.json: not a regular file");
  free(path);
}

/* A file holding one of the job's secrets, in any form and at any offset
 * (also across the hash's read chunks), is refused; the others are stored. */
static void test_files_with_secrets_are_refused(void **state) {
  fixture *f = *state;
  masker *m = masker_new();
  masker_add_secret(m, "hunter2-secret-value");
  put(f->out, "files/plain.txt", "token: hunter2-secret-value\n");
  put(f->out, "files/base64.txt", "aHVudGVyMi1zZWNyZXQtdmFsdWU=\n"); /* base64 of it */
  put(f->out, "files/clean.txt", "nothing to see\n");
  /* at the edge of the read chunk: the secret split across two reads */
  size_t big = 4 * 1024 * 1024 + 7;
  char *text = malloc(big + 64);
  memset(text, 'x', big);
  memcpy(text + (1 << 20) - 5, "hunter2-secret-value", 20);
  text[big] = '\0';
  put(f->out, "files/split.bin", text);
  free(text);
  outputs_opts o = opts_for(f);
  o.refuse_secrets = m;
  bw_error_t err = NULL;
  assert_int_equal(outputs_collect(f->out, f->store, &o, &err), 0);
  assert_non_null(strstr(refusal(f, "files/plain.txt"), "holds one of the job's secrets"));
  assert_non_null(refusal(f, "files/base64.txt"));
  assert_non_null(refusal(f, "files/split.bin"));
  assert_null(json_object_get(f->refused, "files/clean.txt"));
  assert_non_null(artifact_at(f, "files/clean.txt"));
  assert_int_equal(json_array_size(f->artifacts), 1);
  masker_free(m);
}

static void test_state_leaks(void **state) {
  masker *m = masker_new();
  masker_add_secret(m, "hunter2-secret-value");
  masker_add_secret(m, "123456789");
  char *where = NULL;
  json_t *ok = json_pack("{s:s, s:{s:s}, s:[i]}", "#token", "hunter2-secret-value", "nested",
                         "#also", "hunter2-secret-value", "n", 42);
  assert_false(outputs_state_leaks(ok, m, &where));
  assert_null(where);
  json_t *bad =
      json_pack("{s:s, s:{s:[s]}}", "#token", "x", "nested", "list", "Bearer hunter2-secret-value");
  assert_true(outputs_state_leaks(bad, m, &where));
  assert_string_equal(where, "state.nested.list[0]");
  free(where);
  json_t *number = json_pack("{s:i}", "id", 123456789);
  assert_true(outputs_state_leaks(number, m, &where));
  assert_string_equal(where, "state.id");
  free(where);
  json_t *key = json_pack("{s:{s:i}}", "a", "hunter2-secret-value", 1);
  assert_true(outputs_state_leaks(key, m, &where));
  assert_string_equal(where, "state.a");
  free(where);
  assert_false(outputs_state_leaks(NULL, m, &where));
  json_decref(ok);
  json_decref(bad);
  json_decref(number);
  json_decref(key);
  masker_free(m);
}

static void test_manifest_parse(void **state) {
  json_t *m = NULL;
  bw_error_t err = NULL;
  assert_int_equal(outputs_manifest_parse("{\"a\": 1}", 8, &m, &err), 0);
  assert_int_equal(json_integer_value(json_object_get(m, "a")), 1);
  json_decref(m);
  assert_int_equal(outputs_manifest_parse("{\"a\": 1}\0x", 10, &m, &err), -1);
  assert_null(m);
  assert_string_equal(err->msg, "contains a NUL byte");
  bw_error_release(&err);
  assert_int_equal(outputs_manifest_parse("", 0, &m, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  bw_error_release(&err);
  assert_int_equal(outputs_manifest_parse("{} {}", 5, &m, &err), -1);
  bw_error_release(&err);
  /* A message quoting the job's bytes stays printable. */
  assert_int_equal(outputs_manifest_parse("\xff\xfe", 2, &m, &err), -1);
  for (const char *c = err->msg; *c; c++)
    assert_true(*c >= 0x20 && *c < 0x7f);
  bw_error_release(&err);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_state_json, setup, teardown),
      cmocka_unit_test(test_manifest_parse),
      cmocka_unit_test_setup_teardown(test_files_with_secrets_are_refused, setup, teardown),
      cmocka_unit_test(test_state_leaks),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return failed;
}

/* shared/pipeline/inputs.h: fetching a job's inputs into in/ (file://
 * fixtures, a scripted HTTP server on 127.0.0.1, planted symlinks). */
#include "inputs_fixture.h"

/* ---- fetching file:// ------------------------------------------------------------------- */

static void test_fetch_file_url_with_the_right_sha256(void **state) {
  fixture *f = *state;
  bw_error_t err = NULL;
  int rc = fetch_one(f->in_dir, f->hello_url, "tables/sub/hello.csv", SHA_HELLO_CSV, 0, 0, &err);
  if (rc < 0)
    fail_msg("%s", err->msg);
  char *path = bw_strdup_printf("%s/tables/sub/hello.csv", f->in_dir);
  char *text = read_text(path);
  assert_string_equal(text, "id,name\n1,alpha\n2,beta\n");
  struct stat st;
  char *sub = bw_strdup_printf("%s/tables/sub", f->in_dir);
  assert_int_equal(stat(sub, &st), 0);
  mode_t mask = umask(0);
  umask(mask);
  assert_int_equal(st.st_mode & 0777, 0755 & ~mask);
  assert_int_equal(count_temp_files(sub), 0);
  free(sub);
  free(text);
  free(path);
}

static void test_fetch_wrong_sha256_leaves_nothing(void **state) {
  fixture *f = *state;
  bw_error_t err = NULL;
  assert_int_equal(fetch_one(f->in_dir, f->hello_url, "tables/hello.csv", SHA_ABC, 0, 0, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_string_equal(err->msg,
                      "inputs[0]: sha256 mismatch: expected " SHA_ABC ", got " SHA_HELLO_CSV);
  bw_error_release(&err);
  char *path = bw_strdup_printf("%s/tables/hello.csv", f->in_dir);
  char *tables = bw_strdup_printf("%s/tables", f->in_dir);
  assert_false(exists_nofollow(path));
  assert_int_equal(count_temp_files(tables), 0);
  free(tables);
  free(path);
}

static void test_fetch_over_max_bytes(void **state) {
  fixture *f = *state;
  bw_error_t err = NULL;
  /* The input's own bound... */
  assert_int_equal(fetch_one(f->in_dir, f->hello_url, "tables/hello.csv", NULL, 10, 0, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_string_equal(err->msg, "inputs[0]: body larger than 10 bytes");
  bw_error_release(&err);
  /* ...and the default one. */
  assert_int_equal(fetch_one(f->in_dir, f->hello_url, "tables/hello.csv", NULL, 0, 22, &err), -1);
  assert_string_equal(err->msg, "inputs[0]: body larger than 22 bytes");
  bw_error_release(&err);
  char *tables = bw_strdup_printf("%s/tables", f->in_dir);
  char *path = bw_strdup_printf("%s/hello.csv", tables);
  assert_false(exists_nofollow(path));
  assert_int_equal(count_temp_files(tables), 0);
  /* Exactly the size is fine. */
  assert_int_equal(fetch_one(f->in_dir, f->hello_url, "tables/hello.csv", NULL, 23, 0, NULL), 0);
  assert_true(exists_nofollow(path));
  free(path);
  free(tables);
}

static void test_fetch_missing_file_url_is_the_jobs_error(void **state) {
  fixture *f = *state;
  bw_error_t err = NULL;
  char *url = bw_strdup_printf("file://%s/nope.csv", f->root);
  assert_int_equal(fetch_one(f->in_dir, url, "files/nope", NULL, 0, 0, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  char *want = bw_strdup_printf("inputs[0]: %s: not found or not readable", url);
  assert_string_equal(err->msg, want);
  free(want);
  free(url);
  bw_error_release(&err);
  char *files = bw_strdup_printf("%s/files", f->in_dir);
  assert_int_equal(count_temp_files(files), 0);
  free(files);
}

static void test_fetch_file_url_of_a_device_or_folder_is_refused(void **state) {
  fixture *f = *state;
  bw_error_t err = NULL;
  assert_int_equal(fetch_one(f->in_dir, "file:///dev/zero", "files/zero", NULL, 0, 0, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_string_equal(err->msg, "inputs[0]: file:///dev/zero: not a regular file");
  bw_error_release(&err);
  char *url = bw_strdup_printf("file://%s", f->outside);
  assert_int_equal(fetch_one(f->in_dir, url, "files/dir", NULL, 0, 0, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  bw_error_release(&err);
  free(url);
}

static void test_fetch_second_input_failure_names_its_index(void **state) {
  fixture *f = *state;
  job_input list[2] = {
      {.url = f->hello_url, .path = "tables/a.csv"},
      {.url = f->hello_url, .path = "tables/b.csv", .sha256 = SHA_ABC},
  };
  bw_error_t err = NULL;
  assert_int_equal(inputs_fetch(f->in_dir, list, 2, NULL, &err), -1);
  assert_non_null(strstr(err->msg, "inputs[1]: sha256 mismatch"));
  bw_error_release(&err);
}

static void test_fetch_rejects_a_bad_path_even_without_parse(void **state) {
  fixture *f = *state;
  bw_error_t err = NULL;
  assert_int_equal(fetch_one(f->in_dir, f->hello_url, "tables/../../escape.csv", NULL, 0, 0, &err),
                   -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_string_equal(err->msg, "inputs[0]: path: " PATH_OUTSIDE);
  bw_error_release(&err);
  char *escape = bw_strdup_printf("%s/escape.csv", f->root);
  assert_false(exists_nofollow(escape));
  free(escape);
}

static void test_planted_folder_symlink_is_not_followed(void **state) {
  fixture *f = *state;
  char *tables = bw_strdup_printf("%s/tables", f->in_dir);
  assert_int_equal(symlink(f->outside, tables), 0);
  bw_error_t err = NULL;
  assert_int_equal(fetch_one(f->in_dir, f->hello_url, "tables/x.csv", NULL, 0, 0, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_string_equal(err->msg, "inputs[0]: in/tables: a symlink or not a folder (not followed)");
  bw_error_release(&err);
  char *escaped = bw_strdup_printf("%s/x.csv", f->outside);
  assert_false(exists_nofollow(escaped));
  assert_int_equal(count_temp_files(f->outside), 0);
  free(escaped);
  free(tables);
}

static void test_planted_file_symlink_is_replaced_not_written_through(void **state) {
  fixture *f = *state;
  char *victim = bw_strdup_printf("%s/victim.txt", f->outside);
  write_text(victim, "precious\n");
  char *tables = bw_strdup_printf("%s/tables", f->in_dir);
  assert_int_equal(mkdir(tables, 0755), 0);
  char *dest = bw_strdup_printf("%s/x.csv", tables);
  assert_int_equal(symlink(victim, dest), 0);
  assert_int_equal(fetch_one(f->in_dir, f->hello_url, "tables/x.csv", SHA_HELLO_CSV, 0, 0, NULL),
                   0);
  char *text = read_text(victim);
  assert_string_equal(text, "precious\n");
  free(text);
  struct stat st;
  assert_int_equal(lstat(dest, &st), 0);
  assert_true(S_ISREG(st.st_mode)); /* the link itself was replaced */
  text = read_text(dest);
  assert_string_equal(text, "id,name\n1,alpha\n2,beta\n");
  free(text);
  free(dest);
  free(tables);
  free(victim);
}

static void test_cancel_before_start(void **state) {
  fixture *f = *state;
  job_input in = {.url = f->hello_url, .path = "tables/x.csv"};
  bw_cancel cancel = 1;
  bw_error_t err = NULL;
  inputs_options o = {.cancel = &cancel};
  assert_int_equal(inputs_fetch(f->in_dir, &in, 1, &o, &err), -1);
  assert_int_equal(err->kind, BW_ERR_CANCELLED);
  bw_error_release(&err);
}

/* ---- fetching http:// ------------------------------------------------------------------- */

static void test_http_fetch_ok_and_checked(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.status = 200, .body = "abc"}};
  http_stub s;
  stub_start(&s, replies, 1);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/data/abc.txt?sig=xyz", s.port);
  bw_error_t err = NULL;
  int rc = fetch_one(f->in_dir, url, "files/abc.txt", SHA_ABC, 0, 0, &err);
  stub_stop(&s);
  if (rc < 0)
    fail_msg("%s", err->msg);
  assert_string_equal(s.requests[0].method, "GET");
  assert_string_equal(s.requests[0].target, "/data/abc.txt?sig=xyz");
  char *path = bw_strdup_printf("%s/files/abc.txt", f->in_dir);
  char *text = read_text(path);
  assert_string_equal(text, "abc");
  free(text);
  free(path);
  free(url);
  stub_free(&s);
}

static void test_http_404_is_the_jobs_error_and_hides_secrets(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.status = 404, .body = "no such thing"}};
  http_stub s;
  stub_start(&s, replies, 1);
  char *url = bw_strdup_printf("http://alice:s3cret@127.0.0.1:%d/x.csv?token=t0k3n", s.port);
  bw_error_t err = NULL;
  assert_int_equal(fetch_one(f->in_dir, url, "tables/x.csv", NULL, 0, 0, &err), -1);
  stub_stop(&s);
  assert_int_equal(err->kind, BW_ERR_USER);
  char *want = bw_strdup_printf("inputs[0]: http://127.0.0.1:%d/x.csv: HTTP 404", s.port);
  assert_string_equal(err->msg, want);
  assert_null(strstr(err->msg, "s3cret"));
  assert_null(strstr(err->msg, "t0k3n"));
  char *auth = stub_header(&s.requests[0], "Authorization");
  assert_non_null(auth); /* the credentials were used, only not shown */
  free(auth);
  char *tables = bw_strdup_printf("%s/tables", f->in_dir);
  assert_int_equal(count_temp_files(tables), 0);
  free(tables);
  free(want);
  free(url);
  bw_error_release(&err);
  stub_free(&s);
}

static void test_http_5xx_is_unavailable(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.status = 503}};
  http_stub s;
  stub_start(&s, replies, 1);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/x.csv", s.port);
  bw_error_t err = NULL;
  assert_int_equal(fetch_one(f->in_dir, url, "tables/x.csv", NULL, 0, 0, &err), -1);
  stub_stop(&s);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(err->msg, "HTTP 503"));
  bw_error_release(&err);
  free(url);
  stub_free(&s);
}

static void test_http_redirect_to_file_is_refused(void **state) {
  fixture *f = *state;
  char *headers = bw_strdup_printf("Location: %s\r\n", f->hello_url);
  stub_reply replies[] = {{.status = 302, .headers = headers}};
  http_stub s;
  stub_start(&s, replies, 1);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/x.csv", s.port);
  bw_error_t err = NULL;
  assert_int_equal(fetch_one(f->in_dir, url, "tables/x.csv", NULL, 0, 0, &err), -1);
  stub_stop(&s);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_non_null(strstr(err->msg, "protocol not allowed"));
  char *dest = bw_strdup_printf("%s/tables/x.csv", f->in_dir);
  assert_false(exists_nofollow(dest));
  free(dest);
  bw_error_release(&err);
  free(url);
  free(headers);
  stub_free(&s);
}

static void test_http_announced_body_too_large(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.status = 200, .body = "0123456789abcdef"}};
  http_stub s;
  stub_start(&s, replies, 1);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/big", s.port);
  bw_error_t err = NULL;
  assert_int_equal(fetch_one(f->in_dir, url, "files/big", NULL, 8, 0, &err), -1);
  stub_stop(&s);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_string_equal(err->msg, "inputs[0]: body larger than 8 bytes");
  char *files = bw_strdup_printf("%s/files", f->in_dir);
  assert_int_equal(count_temp_files(files), 0);
  free(files);
  bw_error_release(&err);
  free(url);
  stub_free(&s);
}

static void test_http_streamed_body_too_large(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {
      {.status = 200, .no_length = true, .body = "0123456789abcdef0123456789abcdef"}};
  http_stub s;
  stub_start(&s, replies, 1);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/stream", s.port);
  bw_error_t err = NULL;
  assert_int_equal(fetch_one(f->in_dir, url, "files/stream", NULL, 0, 20, &err), -1);
  stub_stop(&s);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_string_equal(err->msg, "inputs[0]: body larger than 20 bytes");
  char *files = bw_strdup_printf("%s/files", f->in_dir);
  assert_int_equal(count_temp_files(files), 0);
  free(files);
  bw_error_release(&err);
  free(url);
  stub_free(&s);
}

static void test_transport_failure_is_unavailable_and_hides_secrets(void **state) {
  fixture *f = *state;
  /* A port nobody listens on: bind one, note it, close it. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  socklen_t alen = sizeof(addr);
  getsockname(fd, (struct sockaddr *)&addr, &alen);
  close(fd);
  char *url = bw_strdup_printf("http://bob:pa55@127.0.0.1:%d/x?key=k3y", ntohs(addr.sin_port));
  bw_error_t err = NULL;
  assert_int_equal(fetch_one(f->in_dir, url, "tables/x.csv", NULL, 0, 0, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_null(strstr(err->msg, "pa55"));
  assert_null(strstr(err->msg, "k3y"));
  assert_null(strstr(err->msg, "bob"));
  bw_error_release(&err);
  free(url);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_fetch_file_url_with_the_right_sha256, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_wrong_sha256_leaves_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_over_max_bytes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_missing_file_url_is_the_jobs_error, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_fetch_file_url_of_a_device_or_folder_is_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_fetch_second_input_failure_names_its_index, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_fetch_rejects_a_bad_path_even_without_parse, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_planted_folder_symlink_is_not_followed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_planted_file_symlink_is_replaced_not_written_through,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_before_start, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_fetch_ok_and_checked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_404_is_the_jobs_error_and_hides_secrets, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_http_5xx_is_unavailable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_redirect_to_file_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_announced_body_too_large, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_streamed_body_too_large, setup, teardown),
      cmocka_unit_test_setup_teardown(test_transport_failure_is_unavailable_and_hides_secrets,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* shared/pipeline/inputs.h: the addresses an input may reach (net_policy,
 * on every connection and redirect) and the job's time limit. */
#include "inputs_fixture.h"

/* ---- the network policy ----------------------------------------------------------------- */

static char *read_input(const fixture *f) {
  char *path = bw_strdup_printf("%s/files/x", f->in_dir);
  char *text = read_text(path);
  free(path);
  return text;
}

static void test_http_loopback_refused_by_default(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.status = 200, .body = "abc"}};
  http_stub s;
  stub_start(&s, replies, 1);
  char *url = bw_strdup_printf("http://u:pw@127.0.0.1:%d/x.csv?sig=s3cret", s.port);
  bw_error_t err = NULL;
  assert_int_equal(fetch_allow(f->in_dir, url, NULL, &err), -1);
  stub_stop(&s);
  assert_int_equal(err->kind, BW_ERR_USER);
  char *want = bw_strdup_printf("inputs[0]: http://127.0.0.1:%d/x.csv: the address 127.0.0.1 is "
                                "loopback, not allowed (jobs.inputs.allow)",
                                s.port);
  assert_string_equal(err->msg, want);
  assert_int_equal(atomic_load(&s.n_requests), 0); /* refused before connecting */
  char *files = bw_strdup_printf("%s/files", f->in_dir);
  assert_int_equal(count_temp_files(files), 0);
  free(files);
  bw_error_release(&err);
  /* An allow-list that does not cover it changes nothing. */
  stub_start(&s, replies, 1);
  free(url);
  url = bw_strdup_printf("http://127.0.0.1:%d/x.csv", s.port);
  assert_int_equal(fetch_allow(f->in_dir, url, "10.0.0.0/8 127.0.0.2 storage.internal", &err), -1);
  stub_stop(&s);
  assert_non_null(strstr(err->msg, "the address 127.0.0.1 is loopback, not allowed"));
  bw_error_release(&err);
  free(want);
  free(url);
  stub_free(&s);
}

static void test_http_allowed_through_the_list(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.status = 200, .body = "abc"},
                                       {.status = 200, .body = "def"}};
  http_stub s;
  stub_start(&s, replies, 2);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/x.csv", s.port);
  bw_error_t err = NULL;
  int rc = fetch_allow(f->in_dir, url, "127.0.0.1/32", &err);
  if (rc < 0)
    fail_msg("%s", err->msg);
  char *text = read_input(f);
  assert_string_equal(text, "abc");
  free(text);
  /* A policy parsed by the caller (once per worker) works the same. */
  net_policy p;
  assert_int_equal(net_policy_parse("127.0.0.0/8", &p, NULL), 0);
  job_input in = {.url = url, .path = "files/x"};
  inputs_options o = {.policy = &p, .allow = "this is not used"};
  rc = inputs_fetch(f->in_dir, &in, 1, &o, &err);
  if (rc < 0)
    fail_msg("%s", err->msg);
  net_policy_free(&p);
  stub_stop(&s);
  text = read_input(f);
  assert_string_equal(text, "def");
  free(text);
  free(url);
  stub_free(&s);
}

static void test_http_bad_allow_list_is_the_workers_error(void **state) {
  fixture *f = *state;
  bw_error_t err = NULL;
  assert_int_equal(fetch_allow(f->in_dir, "http://127.0.0.1:9/x", "10.0.0.1/8", &err), -1);
  assert_int_equal(err->kind, BW_ERR_INTERNAL);
  assert_string_equal(err->msg, "jobs.inputs.allow: '10.0.0.1/8': bits set after the /8 prefix "
                                "(the network is 10.0.0.0/8)");
  bw_error_release(&err);
}

/* localhost resolves to 127.0.0.1 (and ::1): what is connected is judged,
 * not the name. */
static void test_http_localhost_refused_unless_allowed(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.status = 200, .body = "abc"},
                                       {.status = 200, .body = "def"}};
  http_stub s;
  stub_start(&s, replies, 2);
  char *url = bw_strdup_printf("http://localhost:%d/x.csv", s.port);
  bw_error_t err = NULL;
  assert_int_equal(fetch_allow(f->in_dir, url, NULL, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  char *head = bw_strdup_printf("inputs[0]: http://localhost:%d/x.csv: the address ", s.port);
  assert_true(strncmp(err->msg, head, strlen(head)) == 0);
  assert_non_null(strstr(err->msg, " is loopback, not allowed (jobs.inputs.allow)"));
  assert_int_equal(atomic_load(&s.n_requests), 0);
  bw_error_release(&err);
  /* Allowed by its name... */
  int rc = fetch_allow(f->in_dir, url, "LOCALHOST", &err);
  if (rc < 0)
    fail_msg("%s", err->msg);
  char *text = read_input(f);
  assert_string_equal(text, "abc");
  free(text);
  /* ... or by the address it resolves to (::1, if tried, stays refused). */
  rc = fetch_allow(f->in_dir, url, "127.0.0.1", &err);
  if (rc < 0)
    fail_msg("%s", err->msg);
  stub_stop(&s);
  text = read_input(f);
  assert_string_equal(text, "def");
  free(text);
  free(head);
  free(url);
  stub_free(&s);
}

static void test_http_metadata_address_refused_at_once(void **state) {
  fixture *f = *state;
  bw_error_t err = NULL;
  int64_t start = bw_time_monotonic_ms();
  assert_int_equal(
      fetch_allow(f->in_dir, "http://169.254.169.254/latest/meta-data/", "127.0.0.1/32", &err), -1);
  assert_true(bw_time_monotonic_ms() - start < 1000); /* no connect attempt to time out */
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_string_equal(err->msg, "inputs[0]: http://169.254.169.254/latest/meta-data/: the address "
                                "169.254.169.254 is link-local (cloud metadata), not allowed "
                                "(jobs.inputs.allow)");
  bw_error_release(&err);
  assert_int_equal(fetch_allow(f->in_dir, "http://[::ffff:169.254.169.254]/", NULL, &err), -1);
  assert_non_null(strstr(err->msg, "the address ::ffff:169.254.169.254 is link-local"));
  bw_error_release(&err);
  assert_int_equal(fetch_allow(f->in_dir, "http://[::1]:9/", NULL, &err), -1);
  assert_non_null(strstr(err->msg, "the address ::1 is loopback, not allowed"));
  bw_error_release(&err);
  assert_int_equal(fetch_allow(f->in_dir, "http://0.0.0.0:9/", NULL, &err), -1);
  assert_non_null(strstr(err->msg, "the address 0.0.0.0 is unspecified (0.0.0.0/8), not allowed"));
  bw_error_release(&err);
}

static void test_http_redirect_to_a_refused_address_is_refused(void **state) {
  fixture *f = *state;
  /* 127.0.0.2 is loopback too, but outside the allowed /32. */
  stub_reply replies[] = {
      {.status = 302,
       .headers = "Location: http://alice:pw@127.0.0.2:8080/y?token=t0k3n\r\n",
       .body = "moved"},
  };
  http_stub s;
  stub_start(&s, replies, 1);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/x.csv?sig=1", s.port);
  bw_error_t err = NULL;
  assert_int_equal(fetch_allow(f->in_dir, url, "127.0.0.1/32", &err), -1);
  stub_stop(&s);
  assert_int_equal(err->kind, BW_ERR_USER);
  char *want = bw_strdup_printf(
      "inputs[0]: http://127.0.0.1:%d/x.csv: redirected to http://127.0.0.2:8080/y: the address "
      "127.0.0.2 is loopback, not allowed (jobs.inputs.allow)",
      s.port);
  assert_string_equal(err->msg, want);
  assert_null(strstr(err->msg, "pw"));
  assert_null(strstr(err->msg, "t0k3n"));
  char *files = bw_strdup_printf("%s/files", f->in_dir);
  assert_int_equal(count_temp_files(files), 0);
  char *dest = bw_strdup_printf("%s/x", files);
  assert_false(exists_nofollow(dest));
  free(dest);
  free(files);
  free(want);
  bw_error_release(&err);
  free(url);
  stub_free(&s);

  /* To the metadata address, by name of an allowed host (the name is not
   * what an allow-list of addresses opens). */
  replies[0].headers = "Location: http://169.254.169.254/latest/meta-data/\r\n";
  stub_start(&s, replies, 1);
  url = bw_strdup_printf("http://localhost:%d/x.csv", s.port);
  assert_int_equal(fetch_allow(f->in_dir, url, "localhost", &err), -1);
  stub_stop(&s);
  assert_non_null(strstr(err->msg, "redirected to http://169.254.169.254/latest/meta-data/: the "
                                   "address 169.254.169.254 is link-local (cloud metadata), not "
                                   "allowed (jobs.inputs.allow)"));
  bw_error_release(&err);
  free(url);
  stub_free(&s);
}

static void test_http_redirects_followed_with_their_bodies_dropped(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {
      {.status = 301, .headers = "Location: /second\r\n", .body = "not the input"},
      {.status = 307, .headers = "Location: third?x=1\r\n", .no_length = true, .body = "nor this"},
      {.status = 200, .body = "abc"},
  };
  http_stub s;
  stub_start(&s, replies, 3);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/first", s.port);
  job_input in = {.url = url, .path = "files/x", .sha256 = SHA_ABC};
  inputs_options o = {.allow = STUB_ALLOW};
  bw_error_t err = NULL;
  int rc = inputs_fetch(f->in_dir, &in, 1, &o, &err);
  stub_stop(&s);
  if (rc < 0)
    fail_msg("%s", err->msg);
  assert_int_equal(atomic_load(&s.n_requests), 3);
  assert_string_equal(s.requests[1].target, "/second");
  assert_string_equal(s.requests[2].target, "/third?x=1");
  char *text = read_input(f);
  assert_string_equal(text, "abc");
  free(text);
  free(url);
  stub_free(&s);
}

static void test_http_too_many_redirects(void **state) {
  fixture *f = *state;
  static const stub_reply loop = {.status = 302, .headers = "Location: /again\r\n"};
  static const stub_reply replies[] = {loop, loop, loop, loop, loop, loop, loop};
  http_stub s;
  stub_start(&s, replies, 7);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/start", s.port);
  bw_error_t err = NULL;
  assert_int_equal(fetch_allow(f->in_dir, url, STUB_ALLOW, &err), -1);
  stub_stop(&s);
  assert_int_equal(err->kind, BW_ERR_USER);
  char *want = bw_strdup_printf(
      "inputs[0]: http://127.0.0.1:%d/start: redirected to http://127.0.0.1:%d/again: more than 5 "
      "redirects",
      s.port, s.port);
  assert_string_equal(err->msg, want);
  assert_int_equal(atomic_load(&s.n_requests), 6); /* the first request and 5 redirects */
  free(want);
  bw_error_release(&err);
  free(url);
  stub_free(&s);
}

static void test_http_redirect_without_location(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.status = 302, .body = "nowhere"}};
  http_stub s;
  stub_start(&s, replies, 1);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/x", s.port);
  bw_error_t err = NULL;
  assert_int_equal(fetch_allow(f->in_dir, url, STUB_ALLOW, &err), -1);
  stub_stop(&s);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_non_null(strstr(err->msg, ": HTTP 302 without a Location to follow"));
  bw_error_release(&err);
  free(url);
  stub_free(&s);
}

static void test_http_proxy_from_the_environment_is_not_used(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.status = 200, .body = "abc"}};
  http_stub s;
  stub_start(&s, replies, 1);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/x", s.port);
  /* A proxy that would have been connected instead (and judged instead). */
  setenv("http_proxy", "http://192.0.2.1:3128", 1);
  setenv("ALL_PROXY", "http://192.0.2.1:3128", 1);
  unsetenv("no_proxy");
  unsetenv("NO_PROXY");
  bw_error_t err = NULL;
  int rc = fetch_allow(f->in_dir, url, STUB_ALLOW, &err);
  unsetenv("http_proxy");
  unsetenv("ALL_PROXY");
  stub_stop(&s);
  if (rc < 0)
    fail_msg("%s", err->msg);
  assert_int_equal(atomic_load(&s.n_requests), 1);
  free(url);
  stub_free(&s);
}

/* ---- the job's time limit --------------------------------------------------------------- */

/* A server that accepts (the kernel completes the handshake) and never answers. */
static int hanging_server(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  assert_int_equal(listen(fd, 8), 0);
  socklen_t alen = sizeof(addr);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

static void test_hanging_server_fails_at_the_deadline(void **state) {
  fixture *f = *state;
  int port;
  int fd = hanging_server(&port);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/slow.csv?sig=abc", port);
  /* The deadline bounds the inputs together: a quick first one, then the hang. */
  job_input list[2] = {{.url = f->hello_url, .path = "tables/hello.csv"},
                       {.url = url, .path = "tables/slow.csv"}};
  int64_t start = bw_time_monotonic_ms();
  inputs_options o = {.allow = STUB_ALLOW, .deadline_ms = start + 1500};
  bw_error_t err = NULL;
  assert_int_equal(inputs_fetch(f->in_dir, list, 2, &o, &err), -1);
  int64_t took = bw_time_monotonic_ms() - start;
  close(fd);
  assert_int_equal(err->kind, BW_ERR_TIMEOUT);
  char *want = bw_strdup_printf("inputs[1]: http://127.0.0.1:%d/slow.csv: the inputs took longer "
                                "than the job's time limit (limits.timeout_seconds)",
                                port);
  assert_string_equal(err->msg, want);
  if (took < 1500 || took > 2500)
    fail_msg("the fetch took %lld ms, the deadline was 1500 ms away", (long long)took);
  char *tables = bw_strdup_printf("%s/tables", f->in_dir);
  assert_int_equal(count_temp_files(tables), 0);
  free(tables);
  free(want);
  bw_error_release(&err);
  free(url);
}

static void test_deadline_already_passed(void **state) {
  fixture *f = *state;
  job_input in = {.url = f->hello_url, .path = "tables/hello.csv"};
  inputs_options o = {.deadline_ms = bw_time_monotonic_ms() - 1};
  bw_error_t err = NULL;
  assert_int_equal(inputs_fetch(f->in_dir, &in, 1, &o, &err), -1);
  assert_int_equal(err->kind, BW_ERR_TIMEOUT);
  char *want = bw_strdup_printf("inputs[0]: %s: the inputs took longer than the job's time limit "
                                "(limits.timeout_seconds)",
                                f->hello_url);
  assert_string_equal(err->msg, want);
  free(want);
  bw_error_release(&err);
  /* A deadline still ahead lets it through. */
  o.deadline_ms = bw_time_monotonic_ms() + 10000;
  assert_int_equal(inputs_fetch(f->in_dir, &in, 1, &o, NULL), 0);
}

typedef struct later {
  bw_cancel *flag;
  int after_ms;
} later;

static void *set_later(void *arg) {
  later *l = arg;
  usleep((useconds_t)l->after_ms * 1000);
  bw_cancel_raise(l->flag, 1);
  return NULL;
}

static void test_cancel_during_a_hanging_transfer(void **state) {
  fixture *f = *state;
  int port;
  int fd = hanging_server(&port);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/slow.csv", port);
  job_input in = {.url = url, .path = "tables/slow.csv"};
  bw_cancel cancel = 0;
  inputs_options o = {
      .allow = STUB_ALLOW, .cancel = &cancel, .deadline_ms = bw_time_monotonic_ms() + 20000};
  later l = {.flag = &cancel, .after_ms = 300};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, set_later, &l), 0);
  int64_t start = bw_time_monotonic_ms();
  bw_error_t err = NULL;
  assert_int_equal(inputs_fetch(f->in_dir, &in, 1, &o, &err), -1);
  int64_t took = bw_time_monotonic_ms() - start;
  pthread_join(t, NULL);
  assert_int_equal(err->kind, BW_ERR_CANCELLED);
  assert_string_equal(err->msg, "inputs[0]: cancelled");
  if (took > 3000) /* curl reports progress about once a second on an idle transfer */
    fail_msg("the cancel took %lld ms to stop the transfer", (long long)took);
  bw_error_release(&err);
  close(fd);
  free(url);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_http_loopback_refused_by_default, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_allowed_through_the_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_bad_allow_list_is_the_workers_error, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_http_localhost_refused_unless_allowed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_metadata_address_refused_at_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_redirect_to_a_refused_address_is_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_http_redirects_followed_with_their_bodies_dropped, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_http_too_many_redirects, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_redirect_without_location, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_proxy_from_the_environment_is_not_used, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_hanging_server_fails_at_the_deadline, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deadline_already_passed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_during_a_hanging_transfer, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* shared/clients/artifact_store.h: file:// copies and HTTP PUTs (against a scripted
 * server on 127.0.0.1 that answers 503 then 201, drops connections, ...). */
#include "clients/artifact_store.h"

#include "core/digest.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "files_fixture.h"

#include "http_stub.h"

#define CONTENT "id,value\n1,42\n"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* ---- folders ---------------------------------------------------------------------------- */

typedef struct fixture {
  char root[64];
  char *source; /* root/result.csv holding CONTENT */
  char sha[DIGEST_SHA256_HEX_LEN + 1];
} fixture;

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return -1;
  int n = 0;
  for (struct dirent *de; (de = readdir(d));)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  snprintf(f->root, sizeof(f->root), "/tmp/bw-store-XXXXXX");
  assert_non_null(mkdtemp(f->root));
  f->source = bw_strdup_printf("%s/result.csv", f->root);
  write_text(f->source, CONTENT);
  assert_int_equal(digest_sha256_buf(CONTENT, strlen(CONTENT), f->sha, NULL), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  remove_tree(f->root);
  free(f->source);
  free(f);
  return 0;
}

/* Options that keep retries fast in tests. */
static const artifact_store_opts fast = {
    .connect_timeout_ms = 2000, .max_attempts = 3, .backoff_initial_ms = 10, .backoff_max_ms = 20};

/* ---- keys and URLs ---------------------------------------------------------------------- */

static void test_key_table(void **state) {
  assert_null(artifact_store_key_problem("J1/1/tables/x.csv"));
  assert_null(artifact_store_key_problem("J1/1/tables/sliced.csv/part 1"));
  assert_null(artifact_store_key_problem("a"));
  assert_string_equal(artifact_store_key_problem(""), "empty key");
  assert_string_equal(artifact_store_key_problem("/abs"), "key must be relative");
  assert_string_equal(artifact_store_key_problem("a/../b"),
                      "key has an empty, '.' or '..' component");
  assert_string_equal(artifact_store_key_problem("a//b"),
                      "key has an empty, '.' or '..' component");
  assert_string_equal(artifact_store_key_problem("a/./b"),
                      "key has an empty, '.' or '..' component");
  assert_string_equal(artifact_store_key_problem("a/"), "key has an empty, '.' or '..' component");
  assert_string_equal(artifact_store_key_problem("a\nb"), "key has a control character");
  char *long_key = calloc(1, 1100);
  memset(long_key, 'k', 1025);
  assert_string_equal(artifact_store_key_problem(long_key), "key longer than 1024 bytes");
  free(long_key);
}

static void test_open_rejects_bad_urls(void **state) {
  static const char *bad[] = {"ftp://host/x",        "s3://bucket/x",       "not a url",
                              "http://h/base?sig=1", "https://h/base#frag", "file://otherhost/x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    artifact_store *s = (artifact_store *)0x1;
    bw_error_t err = NULL;
    if (artifact_store_open(bad[i], &s, &err) == 0)
      fail_msg("%s: accepted", bad[i]);
    assert_null(s);
    assert_int_equal(err->kind, BW_ERR_INVALID);
    bw_error_release(&err);
  }
  artifact_store_free(NULL);
}

static void test_open_hides_credentials(void **state) {
  artifact_store *s = NULL;
  assert_int_equal(
      artifact_store_open("https://writer:t0p-s3cret@store.example:8443/base/", &s, NULL), 0);
  assert_string_equal(artifact_store_url(s), "https://store.example:8443/base");
  artifact_store_free(s);
  bw_error_t err = NULL;
  assert_int_equal(artifact_store_open("https://writer:t0p-s3cret@h/b?x=1", &s, &err), -1);
  assert_null(strstr(err->msg, "t0p-s3cret"));
  bw_error_release(&err);
}

/* ---- file:// ---------------------------------------------------------------------------- */

static void test_file_put_and_location(void **state) {
  fixture *f = *state;
  char *dir = bw_strdup_printf("%s/store/nested", f->root); /* made on open */
  char *url = bw_strdup_printf("file://%s", dir);
  artifact_store *s = NULL;
  bw_error_t err = NULL;
  if (artifact_store_open(url, &s, &err) < 0)
    fail_msg("%s", err->msg);
  assert_string_equal(artifact_store_url(s), url);
  char *location = NULL;
  if (artifact_store_put(s, "JOB1/2/tables/result.csv", f->source, f->sha, (int64_t)strlen(CONTENT),
                         &location, &err) < 0)
    fail_msg("%s", err->msg);
  char *want = bw_strdup_printf("file://%s/JOB1/2/tables/result.csv", dir);
  assert_string_equal(location, want);
  char *stored_path = bw_strdup_printf("%s/JOB1/2/tables/result.csv", dir);
  char *stored = read_text(stored_path);
  assert_string_equal(stored, CONTENT);
  char *tables = bw_strdup_printf("%s/JOB1/2/tables", dir);
  assert_int_equal(count_entries(tables), 1); /* no temporary file left */
  /* Putting the same key again replaces it. */
  free(location);
  assert_int_equal(
      artifact_store_put(s, "JOB1/2/tables/result.csv", f->source, NULL, -1, &location, NULL), 0);
  assert_int_equal(count_entries(tables), 1);
  free(tables);
  free(stored);
  free(stored_path);
  free(want);
  free(location);
  free(url);
  free(dir);
  artifact_store_free(s);
}

static void test_file_key_is_percent_encoded_in_the_location(void **state) {
  fixture *f = *state;
  char *url = bw_strdup_printf("file://%s/store", f->root);
  artifact_store *s = NULL;
  assert_int_equal(artifact_store_open(url, &s, NULL), 0);
  char *location = NULL;
  assert_int_equal(
      artifact_store_put(s, "J/1/files/my report#1.txt", f->source, NULL, -1, &location, NULL), 0);
  char *want = bw_strdup_printf("%s/J/1/files/my%%20report%%231.txt", url);
  assert_string_equal(location, want);
  char *path = bw_strdup_printf("%s/store/J/1/files/my report#1.txt", f->root);
  char *stored = read_text(path);
  assert_string_equal(stored, CONTENT);
  free(stored);
  free(path);
  free(want);
  free(location);
  free(url);
  artifact_store_free(s);
}

static void test_file_put_with_a_wrong_checksum_stores_nothing(void **state) {
  fixture *f = *state;
  char *url = bw_strdup_printf("file://%s/store", f->root);
  artifact_store *s = NULL;
  assert_int_equal(artifact_store_open(url, &s, NULL), 0);
  bw_error_t err = NULL;
  char *location = (char *)0x1;
  assert_int_equal(artifact_store_put(s, "J/1/tables/x.csv", f->source, SHA_ABC,
                                      (int64_t)strlen(CONTENT), &location, &err),
                   -1);
  assert_null(location);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(err->msg, "store J/1/tables/x.csv: the file changed while being stored"));
  bw_error_release(&err);
  char *tables = bw_strdup_printf("%s/store/J/1/tables", f->root);
  assert_int_equal(count_entries(tables), 0);
  /* A bad key never touches the folder. */
  assert_int_equal(artifact_store_put(s, "../escape", f->source, NULL, -1, NULL, &err), -1);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  bw_error_release(&err);
  free(tables);
  free(url);
  artifact_store_free(s);
}

static void test_file_put_does_not_follow_a_planted_symlink(void **state) {
  fixture *f = *state;
  char *store = bw_strdup_printf("%s/store", f->root);
  char *outside = bw_strdup_printf("%s/outside", f->root);
  assert_int_equal(mkdir(store, 0755), 0);
  assert_int_equal(mkdir(outside, 0755), 0);
  char *link = bw_strdup_printf("%s/J", store);
  assert_int_equal(symlink(outside, link), 0);
  char *url = bw_strdup_printf("file://%s", store);
  artifact_store *s = NULL;
  assert_int_equal(artifact_store_open(url, &s, NULL), 0);
  bw_error_t err = NULL;
  assert_int_equal(artifact_store_put(s, "J/1/x.csv", f->source, NULL, -1, NULL, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  bw_error_release(&err);
  assert_int_equal(count_entries(outside), 0);
  /* Nor is a source that is a symlink read. */
  char *src_link = bw_strdup_printf("%s/link.csv", f->root);
  assert_int_equal(symlink(f->source, src_link), 0);
  assert_int_equal(artifact_store_put(s, "K/1/x.csv", src_link, NULL, -1, NULL, &err), -1);
  bw_error_release(&err);
  free(src_link);
  free(url);
  free(link);
  free(outside);
  free(store);
  artifact_store_free(s);
}

static void test_put_fd_leaves_the_offset_alone(void **state) {
  fixture *f = *state;
  char *url = bw_strdup_printf("file://%s/store", f->root);
  artifact_store *s = NULL;
  assert_int_equal(artifact_store_open(url, &s, NULL), 0);
  int fd = open(f->source, O_RDONLY);
  assert_true(fd >= 0);
  assert_int_equal(lseek(fd, 5, SEEK_SET), 5);
  assert_int_equal(
      artifact_store_put_fd(s, "J/1/y.csv", fd, f->sha, (int64_t)strlen(CONTENT), NULL, NULL), 0);
  assert_int_equal(lseek(fd, 0, SEEK_CUR), 5);
  close(fd);
  free(url);
  artifact_store_free(s);
}

/* ---- http:// ---------------------------------------------------------------------------- */

static void test_http_put_retries_503_then_201(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.status = 503, .body = "busy"}, {.status = 201}};
  http_stub stub;
  stub_start(&stub, replies, 2);
  char *url = bw_strdup_printf("http://writer:t0p-s3cret@127.0.0.1:%d/base/", stub.port);
  artifact_store *s = NULL;
  assert_int_equal(artifact_store_open_opts(url, &fast, &s, NULL), 0);
  char *location = NULL;
  bw_error_t err = NULL;
  int rc = artifact_store_put(s, "JOB1/2/tables/my file.csv", f->source, f->sha,
                              (int64_t)strlen(CONTENT), &location, &err);
  stub_stop(&stub);
  if (rc < 0)
    fail_msg("%s", err->msg);
  assert_int_equal(atomic_load(&stub.n_requests), 2);
  char *want = bw_strdup_printf("http://127.0.0.1:%d/base/JOB1/2/tables/my%%20file.csv", stub.port);
  assert_string_equal(location, want);
  for (int i = 0; i < 2; i++) {
    const stub_request *req = &stub.requests[i];
    assert_string_equal(req->method, "PUT");
    assert_string_equal(req->target, "/base/JOB1/2/tables/my%20file.csv");
    assert_int_equal(req->body_len, strlen(CONTENT));
    assert_memory_equal(req->body, CONTENT, strlen(CONTENT));
    char *length = stub_header(req, "Content-Length");
    char *checksum = stub_header(req, "X-Checksum-Sha256");
    char *digest = stub_header(req, "Digest");
    char *auth = stub_header(req, "Authorization");
    char *expect = stub_header(req, "Expect");
    unsigned char raw[DIGEST_SHA256_LEN];
    assert_int_equal(digest_hex_decode(f->sha, raw), 0);
    char *b64 = digest_base64(raw, sizeof(raw));
    char *want_digest = bw_strdup_printf("sha-256=%s", b64);
    char *want_length = bw_strdup_printf("%zu", strlen(CONTENT));
    assert_string_equal(length, want_length);
    assert_string_equal(checksum, f->sha);
    assert_string_equal(digest, want_digest);
    /* base64("writer:t0p-s3cret") */
    assert_string_equal(auth, "Basic d3JpdGVyOnQwcC1zM2NyZXQ=");
    assert_null(expect);
    free(want_length);
    free(want_digest);
    free(b64);
    free(expect);
    free(auth);
    free(digest);
    free(checksum);
    free(length);
  }
  free(want);
  free(location);
  free(url);
  artifact_store_free(s);
  stub_free(&stub);
}

static void test_http_put_retries_a_dropped_connection(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.drop = true}, {.status = 200}};
  http_stub stub;
  stub_start(&stub, replies, 2);
  char *url = bw_strdup_printf("http://127.0.0.1:%d", stub.port);
  artifact_store *s = NULL;
  assert_int_equal(artifact_store_open_opts(url, &fast, &s, NULL), 0);
  char *location = NULL;
  bw_error_t err = NULL;
  int rc = artifact_store_put(s, "J/1/x", f->source, NULL, -1, &location, &err);
  stub_stop(&stub);
  if (rc < 0)
    fail_msg("%s", err->msg);
  assert_int_equal(atomic_load(&stub.n_requests), 2);
  assert_string_equal(stub.requests[1].target, "/J/1/x");
  char *checksum = stub_header(&stub.requests[1], "X-Checksum-Sha256");
  assert_string_equal(checksum, f->sha); /* computed when not given */
  free(checksum);
  free(location);
  free(url);
  artifact_store_free(s);
  stub_free(&stub);
}

static void test_http_put_does_not_retry_4xx(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.status = 403, .body = "{\"error\":\"denied\"}\n"},
                                       {.status = 201}};
  http_stub stub;
  stub_start(&stub, replies, 2);
  char *url = bw_strdup_printf("http://writer:t0p-s3cret@127.0.0.1:%d/base", stub.port);
  artifact_store *s = NULL;
  assert_int_equal(artifact_store_open_opts(url, &fast, &s, NULL), 0);
  char *location = (char *)0x1;
  bw_error_t err = NULL;
  assert_int_equal(artifact_store_put(s, "J/1/x", f->source, NULL, -1, &location, &err), -1);
  stub_stop(&stub);
  assert_null(location);
  assert_int_equal(atomic_load(&stub.n_requests), 1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  char *want = bw_strdup_printf("store J/1/x: PUT http://127.0.0.1:%d/base/J/1/x: HTTP 403: "
                                "{\"error\":\"denied\"} (attempt 1 of 3)",
                                stub.port);
  assert_string_equal(err->msg, want);
  assert_null(strstr(err->msg, "t0p-s3cret"));
  free(want);
  bw_error_release(&err);
  free(url);
  artifact_store_free(s);
  stub_free(&stub);
}

static void test_http_put_gives_up_after_max_attempts(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.status = 500}, {.status = 502}, {.status = 503}};
  http_stub stub;
  stub_start(&stub, replies, 3);
  char *url = bw_strdup_printf("http://127.0.0.1:%d/", stub.port);
  artifact_store *s = NULL;
  assert_int_equal(artifact_store_open_opts(url, &fast, &s, NULL), 0);
  bw_error_t err = NULL;
  assert_int_equal(artifact_store_put(s, "J/1/x", f->source, NULL, -1, NULL, &err), -1);
  stub_stop(&stub);
  assert_int_equal(atomic_load(&stub.n_requests), 3);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(err->msg, "HTTP 503 (attempt 3 of 3)"));
  bw_error_release(&err);
  free(url);
  artifact_store_free(s);
  stub_free(&stub);
}

static void test_http_put_to_a_closed_port(void **state) {
  fixture *f = *state;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  socklen_t alen = sizeof(addr);
  getsockname(fd, (struct sockaddr *)&addr, &alen);
  close(fd);
  char *url = bw_strdup_printf("http://u:pw-zz9@127.0.0.1:%d/b", ntohs(addr.sin_port));
  artifact_store *s = NULL;
  assert_int_equal(artifact_store_open_opts(url, &fast, &s, NULL), 0);
  bw_error_t err = NULL;
  assert_int_equal(artifact_store_put(s, "J/1/x", f->source, NULL, -1, NULL, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(err->msg, "(attempt 3 of 3)"));
  assert_null(strstr(err->msg, "pw-zz9"));
  bw_error_release(&err);
  free(url);
  artifact_store_free(s);
}

static void test_http_cancel_stops_the_retries(void **state) {
  fixture *f = *state;
  static const stub_reply replies[] = {{.status = 503}, {.status = 201}};
  http_stub stub;
  stub_start(&stub, replies, 2);
  char *url = bw_strdup_printf("http://127.0.0.1:%d", stub.port);
  bw_cancel cancel = 1; /* already set: the first answer is the last */
  artifact_store_opts opts = fast;
  opts.cancel = &cancel;
  artifact_store *s = NULL;
  assert_int_equal(artifact_store_open_opts(url, &opts, &s, NULL), 0);
  bw_error_t err = NULL;
  assert_int_equal(artifact_store_put(s, "J/1/x", f->source, NULL, -1, NULL, &err), -1);
  stub_stop(&stub);
  assert_int_equal(err->kind, BW_ERR_CANCELLED);
  assert_int_equal(atomic_load(&stub.n_requests), 1);
  bw_error_release(&err);
  free(url);
  artifact_store_free(s);
  stub_free(&stub);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_table),
      cmocka_unit_test(test_open_rejects_bad_urls),
      cmocka_unit_test(test_open_hides_credentials),
      cmocka_unit_test_setup_teardown(test_file_put_and_location, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_key_is_percent_encoded_in_the_location, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_file_put_with_a_wrong_checksum_stores_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_file_put_does_not_follow_a_planted_symlink, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_put_fd_leaves_the_offset_alone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_put_retries_503_then_201, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_put_retries_a_dropped_connection, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_put_does_not_retry_4xx, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_put_gives_up_after_max_attempts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_put_to_a_closed_port, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_cancel_stops_the_retries, setup, teardown),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return failed;
}

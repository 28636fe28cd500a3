/* The s3:// artifact store and the S3 client against the stack's real S3
 * server (moto in server mode, signatures checked), with an independent
 * reader (boto3, tests/tools/s3_check.py) for every object stored. */
#include "stack_env.h"

#include "clients/artifact_store.h"
#include "clients/s3_client.h"
#include "core/cleanup.h"
#include "core/digest.h"

#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define MIB (1024L * 1024L)
#define PART (5 * MIB) /* S3's smallest part */

typedef struct fixture {
  char dir[64];
  char *prefix; /* "t-PID-TIME": this run's keys */
  bw_config cfg;
} fixture;

static int setup(void **state) {
  fixture *f = bw_xcalloc(1, sizeof(*f));
  snprintf(f->dir, sizeof(f->dir), "/tmp/bw-s3-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  f->prefix = bw_strdup_printf("t-%d-%ld", (int)getpid(), (long)time(NULL));
  stack_config(&f->cfg);
  stack_s3_config(&f->cfg, PART);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  cleanup_free char *rm = bw_strdup_printf("rm -rf %s", f->dir);
  if (system(rm) != 0)
    return -1;
  bw_config_free(&f->cfg);
  free(f->prefix);
  free(f);
  return 0;
}

/* A file of `size` pseudo-random bytes; *sha gets its sha256. */
static char *make_file(const fixture *f, const char *name, int64_t size, unsigned seed,
                       char sha[DIGEST_SHA256_HEX_LEN + 1]) {
  char *path = bw_strdup_printf("%s/%s", f->dir, name);
  FILE *out = fopen(path, "w");
  assert_non_null(out);
  uint32_t x = seed * 2654435761u + 1;
  for (int64_t i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    fputc((int)(x & 0xff), out);
  }
  assert_int_equal(fclose(out), 0);
  assert_int_equal(digest_sha256_file(path, sha, NULL, NULL), 0);
  return path;
}

static void set(fixture *f, const char *key, const char *value) {
  cleanup_error bw_error_t err = NULL;
  if (bw_config_set(&f->cfg, key, value, "test", &err) < 0)
    fail_msg("%s: %s", key, bw_error_msg(&err));
}

static void use_store(fixture *f, const char *bucket) {
  cleanup_free char *url = bw_strdup_printf("s3://%s/%s/", bucket, f->prefix);
  set(f, "artifacts.url", url);
}

/* What boto3 reads back of BUCKET/KEY. */
static json_t *read_back(const char *bucket, const char *key) {
  cleanup_free char *out = stack_s3_check("get %s '%s'", bucket, key);
  json_t *j = json_loads(out, 0, NULL);
  if (!j)
    fail_msg("s3_check get: not JSON: %s", out);
  return j;
}

/* Stores `size` bytes through the artifact store and checks them back. */
static void put_and_check(fixture *f, const char *bucket, const char *key, int64_t size,
                          int want_parts) {
  char sha[DIGEST_SHA256_HEX_LEN + 1];
  cleanup_free char *path = make_file(f, "data", size, (unsigned)size, sha);
  use_store(f, bucket);
  cleanup_artifact_store artifact_store *s = NULL;
  cleanup_error bw_error_t err = NULL;
  if (artifact_store_open_config(&f->cfg, NULL, &s, &err) < 0)
    fail_msg("open: %s", bw_error_msg(&err));
  cleanup_close int fd = open(path, O_RDONLY);
  artifact_stored stored = {0};
  if (artifact_store_put_fd(s, key, fd, sha, size, &stored, &err) < 0)
    fail_msg("put %s (%ld bytes): %s", key, (long)size, bw_error_msg(&err));
  cleanup_free char *object = bw_strdup_printf("%s/%s", f->prefix, key);
  cleanup_free char *want_location = bw_strdup_printf("s3://%s/%s", bucket, object);
  assert_string_equal(stored.location, want_location);
  assert_int_equal(stored.parts, want_parts);
  assert_non_null(stored.etag);
  cleanup_json json_t *got = read_back(bucket, object);
  assert_int_equal(json_integer_value(json_object_get(got, "size")), size);
  assert_string_equal(json_string_value(json_object_get(got, "sha256")), sha);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(got, "metadata"), "sha256")), sha);
  assert_string_equal(json_string_value(json_object_get(got, "etag")), stored.etag);
  if (want_parts > 1) {
    cleanup_free char *suffix = bw_strdup_printf("-%d", want_parts);
    assert_non_null(strstr(stored.etag, suffix)); /* S3's ETag of a multipart object */
  }
  artifact_stored_free(&stored);
}

static void test_small_and_empty(void **state) {
  fixture *f = *state;
  const char *bucket = stack_env("STACK_S3_BUCKET");
  put_and_check(f, bucket, "J/1/tables/small.csv", 1000, 1);
  put_and_check(f, bucket, "J/1/tables/empty.csv", 0, 1);
}

/* The part size and its neighbours: one PUT up to it, parts above. */
static void test_part_boundaries(void **state) {
  fixture *f = *state;
  const char *bucket = stack_env("STACK_S3_BUCKET");
  put_and_check(f, bucket, "J/1/files/part-minus-1", PART - 1, 1);
  put_and_check(f, bucket, "J/1/files/part", PART, 1);
  put_and_check(f, bucket, "J/1/files/part-plus-1", PART + 1, 2);
  put_and_check(f, bucket, "J/1/files/two-parts-plus-1", 2 * PART + 1, 3);
}

static void test_keys_with_any_character(void **state) {
  fixture *f = *state;
  const char *bucket = stack_env("STACK_S3_BUCKET");
  put_and_check(f, bucket, "J/1/files/my report+1 #2 %41 \xc3\xbc=&.txt", 10, 1);
}

static void test_versioned_bucket(void **state) {
  fixture *f = *state;
  cleanup_free char *bucket = bw_strdup_printf("%s-versioned", stack_env("STACK_S3_BUCKET"));
  use_store(f, bucket);
  char sha[DIGEST_SHA256_HEX_LEN + 1];
  cleanup_free char *path = make_file(f, "v", 100, 7, sha);
  cleanup_artifact_store artifact_store *s = NULL;
  assert_int_equal(artifact_store_open_config(&f->cfg, NULL, &s, NULL), 0);
  cleanup_close int fd = open(path, O_RDONLY);
  artifact_stored one = {0}, two = {0};
  assert_int_equal(artifact_store_put_fd(s, "J/1/v", fd, sha, 100, &one, NULL), 0);
  assert_int_equal(artifact_store_put_fd(s, "J/1/v", fd, sha, 100, &two, NULL), 0);
  assert_non_null(one.version_id);
  assert_non_null(two.version_id);
  assert_string_not_equal(one.version_id, two.version_id);
  artifact_stored_free(&one);
  artifact_stored_free(&two);
}

/* A failed put: the message names the bucket and S3's answer, never the
 * secret. */
static void expect_put_fails(fixture *f, const char *must_hold, const char *secret) {
  use_store(f, stack_env("STACK_S3_BUCKET"));
  char sha[DIGEST_SHA256_HEX_LEN + 1];
  cleanup_free char *path = make_file(f, "x", 10, 1, sha);
  cleanup_artifact_store artifact_store *s = NULL;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(artifact_store_open_config(&f->cfg, NULL, &s, &err), 0);
  assert_int_equal(artifact_store_put(s, "J/1/x", path, sha, 10, NULL, &err), -1);
  assert_non_null(strstr(err->msg, stack_env("STACK_S3_BUCKET")));
  if (!strstr(err->msg, must_hold))
    fail_msg("'%s' not in: %s", must_hold, err->msg);
  if (secret)
    assert_null(strstr(err->msg, secret));
  assert_null(strstr(err->msg, stack_env("STACK_S3_SECRET_ACCESS_KEY")));
}

static void test_wrong_secret_and_key(void **state) {
  fixture *f = *state;
  setenv("BW_TEST_WRONG_SECRET", "wr0ng-s3cret-value", 1);
  set(f, "artifacts.s3.secret.key.env", "BW_TEST_WRONG_SECRET");
  expect_put_fails(f, "HTTP 403 SignatureDoesNotMatch", "wr0ng-s3cret-value");
  setenv("BW_TEST_WRONG_KEY_ID", "AKIANOSUCHKEY0000000", 1);
  set(f, "artifacts.s3.access.key.env", "BW_TEST_WRONG_KEY_ID");
  expect_put_fails(f, "HTTP 403 InvalidAccessKeyId", "wr0ng-s3cret-value");
}

static void test_credentials_by_reference(void **state) {
  fixture *f = *state;
  /* Neither variable set, no file: a clear error naming what was looked at. */
  set(f, "artifacts.s3.access.key.env", "BW_TEST_UNSET_KEY_ID");
  set(f, "artifacts.s3.secret.key.env", "BW_TEST_UNSET_SECRET");
  unsetenv("BW_TEST_UNSET_KEY_ID");
  unsetenv("BW_TEST_UNSET_SECRET");
  use_store(f, stack_env("STACK_S3_BUCKET"));
  cleanup_artifact_store artifact_store *s = NULL;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(artifact_store_open_config(&f->cfg, NULL, &s, &err), -1);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  assert_non_null(strstr(err->msg, "BW_TEST_UNSET_KEY_ID"));
  assert_non_null(strstr(err->msg, "artifacts.s3.credentials.file"));
  /* The AWS credentials file, profile [bundle]. */
  set(f, "artifacts.s3.credentials.file", stack_env("STACK_S3_CREDENTIALS_FILE"));
  set(f, "artifacts.s3.profile", "nosuch");
  assert_int_equal(artifact_store_open_config(&f->cfg, NULL, &s, &err), -1);
  assert_non_null(strstr(err->msg, "no profile [nosuch]"));
  set(f, "artifacts.s3.profile", "bundle");
  put_and_check(f, stack_env("STACK_S3_BUCKET"), "J/1/by-file", 10, 1);
}

/* A proxy that answers 500 to every UploadPart number 2: the upload fails
 * after its retries and is aborted (the independent reader sees no upload
 * left), and the error says which part. */
static void test_failing_part_is_aborted(void **state) {
  fixture *f = *state;
  int port = 20000 + (int)(getpid() % 20000);
  cleanup_free char *cmd =
      bw_strdup_printf("exec %s/bin/python %s/../tools/s3_check.py proxy %d 2",
                       stack_env("STACK_MOTO_VENV"), stack_env("BW_TEST_DATA"), port);
  pid_t proxy = fork();
  assert_true(proxy >= 0);
  if (proxy == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  cleanup_free char *endpoint = bw_strdup_printf("http://127.0.0.1:%d", port);
  set(f, "artifacts.s3.endpoint", endpoint);
  use_store(f, stack_env("STACK_S3_BUCKET"));
  char sha[DIGEST_SHA256_HEX_LEN + 1];
  cleanup_free char *path = make_file(f, "big", 2 * PART + 100, 3, sha);
  artifact_store_opts opts = {.max_attempts = 2, .backoff_initial_ms = 20, .backoff_max_ms = 40};
  cleanup_artifact_store artifact_store *s = NULL;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(artifact_store_open_config(&f->cfg, &opts, &s, &err), 0);
  int rc = -1;
  for (int i = 0; i < 100; i++) { /* until the proxy listens */
    bw_error_release(&err);
    rc = artifact_store_put(s, "J/1/files/big", path, sha, 2 * PART + 100, NULL, &err);
    if (rc == 0 || !strstr(err->msg, "connect"))
      break;
    usleep(100 * 1000);
  }
  kill(proxy, SIGTERM);
  waitpid(proxy, NULL, 0);
  assert_int_equal(rc, -1);
  if (!strstr(err->msg, "part 2") || !strstr(err->msg, "upload aborted") ||
      !strstr(err->msg, "HTTP 500 InternalError") || !strstr(err->msg, "attempt 2 of 2"))
    fail_msg("unexpected message: %s", err->msg);
  cleanup_free char *left = stack_s3_check("uploads %s", stack_env("STACK_S3_BUCKET"));
  assert_int_equal(atoi(left), 0);
}

static void test_server_down(void **state) {
  fixture *f = *state;
  set(f, "artifacts.s3.endpoint", "http://127.0.0.1:1");
  artifact_store_opts opts = {.max_attempts = 2, .backoff_initial_ms = 10};
  use_store(f, stack_env("STACK_S3_BUCKET"));
  char sha[DIGEST_SHA256_HEX_LEN + 1];
  cleanup_free char *path = make_file(f, "x", 10, 1, sha);
  cleanup_artifact_store artifact_store *s = NULL;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(artifact_store_open_config(&f->cfg, &opts, &s, &err), 0);
  assert_int_equal(artifact_store_put(s, "J/1/x", path, sha, 10, NULL, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(err->msg, "S3 PUT s3://"));
  assert_non_null(strstr(err->msg, "attempt 2 of 2"));
}

/* The client's reading side: HeadBucket, a listing, a download. */
static void test_head_list_get(void **state) {
  fixture *f = *state;
  const char *bucket = stack_env("STACK_S3_BUCKET");
  cleanup_s3_client s3_client *c = NULL;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(s3_client_new(&f->cfg, NULL, &c, &err), 0);
  assert_int_equal(s3_head_bucket(c, bucket, &err), 0);
  assert_int_equal(s3_head_bucket(c, "no-such-bucket-here", &err), -1);
  assert_non_null(strstr(err->msg, "HTTP 404"));
  char sha[DIGEST_SHA256_HEX_LEN + 1];
  cleanup_free char *path = make_file(f, "l", 3000, 9, sha);
  cleanup_close int fd = open(path, O_RDONLY);
  for (int i = 0; i < 3; i++) {
    cleanup_free char *key = bw_strdup_printf("%s/list/obj-%d", f->prefix, i);
    assert_int_equal(s3_put_file(c, bucket, key, fd, 3000, sha, NULL, &err), 0);
  }
  s3_xml_answer page;
  cleanup_free char *prefix = bw_strdup_printf("%s/list/", f->prefix);
  assert_int_equal(s3_list_page(c, bucket, prefix, NULL, &page, &err), 0);
  assert_int_equal(page.object_count, 3);
  assert_false(page.truncated);
  for (size_t i = 0; i < page.object_count; i++) {
    assert_int_equal(page.objects[i].size, 3000);
    assert_non_null(strstr(page.objects[i].key, "/list/obj-"));
  }
  cleanup_free char *key = bw_strdup(page.objects[1].key);
  s3_xml_answer_free(&page);
  cleanup_free char *copy = bw_strdup_printf("%s/copy", f->dir);
  cleanup_close int out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int64_t got = 0;
  assert_int_equal(s3_get_object(c, bucket, key, out, 3000, &got, NULL, &err), 0);
  assert_int_equal(got, 3000);
  char back[DIGEST_SHA256_HEX_LEN + 1];
  assert_int_equal(digest_sha256_file(copy, back, NULL, NULL), 0);
  assert_string_equal(back, sha);
  /* max_bytes one short: refused, the job's fault. */
  assert_int_equal(s3_get_object(c, bucket, key, out, 2999, &got, NULL, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  cleanup_free char *missing = bw_strdup_printf("%s/nothing-here", f->prefix);
  assert_int_equal(s3_get_object(c, bucket, missing, out, 10, &got, NULL, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_non_null(strstr(err->msg, "HTTP 404 NoSuchKey"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_small_and_empty, setup, teardown),
      cmocka_unit_test_setup_teardown(test_part_boundaries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keys_with_any_character, setup, teardown),
      cmocka_unit_test_setup_teardown(test_versioned_bucket, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_secret_and_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_credentials_by_reference, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failing_part_is_aborted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_down, setup, teardown),
      cmocka_unit_test_setup_teardown(test_head_list_get, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

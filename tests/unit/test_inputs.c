/* shared/pipeline/inputs.h: validating a job's inputs and fetching them into in/
 * (file:// fixtures, a scripted HTTP server on 127.0.0.1, planted symlinks). */
#include "pipeline/inputs.h"

#include "core/digest.h"
#include "core/timeutil.h"

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

#include "http_stub.h"

#define SHA_HELLO_CSV "2ede6e2d8f9358b0519ca943518e3c48025d787b9c65a98cfb22283cfdf01223"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define PATH_OUTSIDE "must stay inside in/ (start with tables/ or files/, no ..)"

/* ---- folders ---------------------------------------------------------------------------- */

typedef struct fixture {
  char root[64];   /* mkdtemp */
  char *in_dir;    /* root/in */
  char *outside;   /* root/outside: must stay untouched */
  char *hello_url; /* file:// URL of tests/data/io/hello.csv */
} fixture;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  return remove(path);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  snprintf(f->root, sizeof(f->root), "/tmp/bw-inputs-XXXXXX");
  assert_non_null(mkdtemp(f->root));
  f->in_dir = bw_strdup_printf("%s/in", f->root);
  f->outside = bw_strdup_printf("%s/outside", f->root);
  assert_int_equal(mkdir(f->in_dir, 0755), 0);
  assert_int_equal(mkdir(f->outside, 0755), 0);
  const char *data = getenv("BW_TEST_DATA");
  assert_non_null(data);
  char *abs = realpath(data, NULL);
  assert_non_null(abs);
  f->hello_url = bw_strdup_printf("file://%s/io/hello.csv", abs);
  free(abs);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(f->in_dir);
  free(f->outside);
  free(f->hello_url);
  free(f);
  return 0;
}

static char *read_text(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return NULL;
  char *buf = calloc(1, 65536);
  size_t n = fread(buf, 1, 65535, fp);
  buf[n] = '\0';
  fclose(fp);
  return buf;
}

static void write_text(const char *path, const char *text) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

/* Entries of dir whose name starts with ".bw-input" (temporary files). */
static int count_temp_files(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return 0;
  int n = 0;
  for (struct dirent *de; (de = readdir(d));)
    if (strncmp(de->d_name, ".bw-input", 9) == 0)
      n++;
  closedir(d);
  return n;
}

static bool exists_nofollow(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

/* The stub servers listen on 127.0.0.1: tests that are not about the
 * network policy run as on a worker whose jobs.inputs.allow opens it. */
#define STUB_ALLOW "127.0.0.1/32"

static int fetch_one(const char *in_dir, const char *url, const char *path, const char *sha256,
                     int64_t max_bytes, int64_t default_max, bw_error_t *err) {
  job_input in = {
      .url = (char *)url, .path = (char *)path, .sha256 = (char *)sha256, .max_bytes = max_bytes};
  inputs_options o = {.default_max_bytes = default_max, .allow = STUB_ALLOW};
  return inputs_fetch(in_dir, &in, 1, &o, err);
}

/* One input of `url` into files/x under the policy `allow` (NULL: the defaults). */
static int fetch_allow(const char *in_dir, const char *url, const char *allow, bw_error_t *err) {
  job_input in = {.url = (char *)url, .path = "files/x"};
  inputs_options o = {.allow = allow};
  return inputs_fetch(in_dir, &in, 1, &o, err);
}

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
                     "inputs[0].url: scheme must be http, https or file");
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
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_path_table),
      cmocka_unit_test(test_parse_accepts_and_normalizes),
      cmocka_unit_test(test_parse_errors_name_the_json_path),
      cmocka_unit_test(test_redact_strips_userinfo_query_and_fragment),
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
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return failed;
}

/* shared/pipeline/outputs.h: walking out/ after a container, with the things a
 * container may leave there (symlinks out, fifos, bad manifests, ...). */
#include "pipeline/outputs.h"

#include "core/digest.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
  char root[64];
  char *data; /* root/data: what the container saw as /data */
  char *out;  /* root/data/out */
  char *store_dir;
  artifact_store *store;
  json_t *artifacts; /* what on_artifact reported, in order */
  json_t *refused;   /* path -> reason */
} fixture;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  return remove(path);
}

/* Writes root/rel, making folders on the way (mkdir -p). */
static void put(const char *root, const char *rel, const char *text) {
  char *path = bw_strdup_printf("%s/%s", root, rel);
  for (char *p = path + 1; (p = strchr(p, '/')); p++) {
    *p = '\0';
    mkdir(path, 0755);
    *p = '/';
  }
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
  free(path);
}

static void put_symlink(const char *root, const char *rel, const char *target) {
  char *path = bw_strdup_printf("%s/%s", root, rel);
  assert_int_equal(symlink(target, path), 0);
  free(path);
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

static void on_artifact(void *ctx, const json_t *artifact) {
  fixture *f = ctx;
  json_array_append_new(f->artifacts, json_deep_copy(artifact));
}

static void on_refused(void *ctx, const char *path, const char *reason) {
  fixture *f = ctx;
  assert_null(json_object_get(f->refused, path)); /* each path once */
  json_object_set_new(f->refused, path, json_string(reason));
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  snprintf(f->root, sizeof(f->root), "/tmp/bw-outputs-XXXXXX");
  assert_non_null(mkdtemp(f->root));
  f->data = bw_strdup_printf("%s/data", f->root);
  f->out = bw_strdup_printf("%s/out", f->data);
  f->store_dir = bw_strdup_printf("%s/store", f->root);
  put(f->data, "config.json", "{\"parameters\": {\"#password\": \"hunter2\"}}");
  assert_int_equal(mkdir(f->out, 0755), 0);
  char *url = bw_strdup_printf("file://%s", f->store_dir);
  assert_int_equal(artifact_store_open(url, &f->store, NULL), 0);
  free(url);
  f->artifacts = json_array();
  f->refused = json_object();
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  artifact_store_free(f->store);
  json_decref(f->artifacts);
  json_decref(f->refused);
  free(f->data);
  free(f->out);
  free(f->store_dir);
  free(f);
  return 0;
}

static outputs_opts opts_for(fixture *f) {
  return (outputs_opts){.job_id = "JOB7",
                        .attempt = 2,
                        .on_artifact = on_artifact,
                        .on_refused = on_refused,
                        .ctx = f};
}

static const json_t *artifact_at(const fixture *f, const char *path) {
  size_t i;
  json_t *a;
  json_array_foreach(f->artifacts, i, a) {
    if (strcmp(json_string_value(json_object_get(a, "path")), path) == 0)
      return a;
  }
  return NULL;
}

static const char *refusal(const fixture *f, const char *path) {
  return json_string_value(json_object_get(f->refused, path));
}

/* Checks one artifact record against the text it should hold, and the copy
 * the store kept. */
static void check_artifact(const fixture *f, const char *path, const char *text) {
  const json_t *a = artifact_at(f, path);
  if (!a)
    fail_msg("no artifact %s", path);
  char sha[DIGEST_SHA256_HEX_LEN + 1];
  digest_sha256_buf(text, strlen(text), sha, NULL);
  assert_int_equal(json_integer_value(json_object_get(a, "size")), strlen(text));
  assert_string_equal(json_string_value(json_object_get(a, "sha256")), sha);
  char *want_location = bw_strdup_printf("file://%s/JOB7/2/%s", f->store_dir, path);
  assert_string_equal(json_string_value(json_object_get(a, "location")), want_location);
  char *stored_path = bw_strdup_printf("%s/JOB7/2/%s", f->store_dir, path);
  char *stored = read_text(stored_path);
  assert_non_null(stored);
  assert_string_equal(stored, text);
  free(stored);
  free(stored_path);
  free(want_location);
}

static void test_walk_of_a_typical_and_hostile_out_folder(void **state) {
  fixture *f = *state;
  put(f->out, "tables/result.csv", "id,v\n1,2\n");
  put(f->out, "tables/result.csv.manifest", "{\"primary_key\": [\"id\"], \"incremental\": true}");
  put(f->out, "tables/sliced.csv/part-1", "1,a\n");
  put(f->out, "tables/sliced.csv/part-2", "2,b\n");
  put(f->out, "tables/sliced.csv.manifest", "{\"columns\": [\"id\", \"name\"]}");
  put(f->out, "tables/bad.csv", "x\n");
  put(f->out, "tables/bad.csv.manifest", "{not json");
  put(f->out, "tables/list.csv", "y\n");
  put(f->out, "tables/list.csv.manifest", "[1, 2]");
  put(f->out, "files/report.txt", "all good\n");
  put(f->out, "files/orphan.txt.manifest", "{\"tags\": []}");
  put(f->out, "files/empty.bin", "");
  put(f->out, "files/x.manifest", "{}");          /* an orphan manifest ... */
  put(f->out, "files/x.manifest.manifest", "{}"); /* ... and a manifest of it */
  put_symlink(f->out, "tables/passwd.csv", "/etc/passwd");
  put_symlink(f->out, "tables/up.csv", "../../config.json");
  put(f->out, "tables/up.csv.manifest", "{}");
  char *fifo = bw_strdup_printf("%s/tables/pipe.csv", f->out);
  assert_int_equal(mkfifo(fifo, 0644), 0);
  free(fifo);
  outputs_opts opts = opts_for(f);
  bw_error_t err = NULL;
  if (outputs_collect(f->out, f->store, &opts, &err) < 0)
    fail_msg("%s", err->msg);

  /* Stored, in walk order: tables first, each folder sorted by name. */
  assert_int_equal(json_array_size(f->artifacts), 7);
  static const char *order[] = {"tables/bad.csv",           "tables/list.csv",
                                "tables/result.csv",        "tables/sliced.csv/part-1",
                                "tables/sliced.csv/part-2", "files/empty.bin",
                                "files/report.txt"};
  for (size_t i = 0; i < 7; i++)
    assert_string_equal(json_string_value(json_object_get(json_array_get(f->artifacts, i), "path")),
                        order[i]);
  check_artifact(f, "tables/result.csv", "id,v\n1,2\n");
  check_artifact(f, "tables/sliced.csv/part-1", "1,a\n");
  check_artifact(f, "tables/sliced.csv/part-2", "2,b\n");
  check_artifact(f, "tables/bad.csv", "x\n");
  check_artifact(f, "files/report.txt", "all good\n");
  check_artifact(f, "files/empty.bin", "");

  /* Manifests ride with their data; a sliced table's reaches each slice. */
  const json_t *m = json_object_get(artifact_at(f, "tables/result.csv"), "manifest");
  assert_true(json_is_true(json_object_get(m, "incremental")));
  m = json_object_get(artifact_at(f, "tables/sliced.csv/part-2"), "manifest");
  assert_int_equal(json_array_size(json_object_get(m, "columns")), 2);
  assert_true(json_is_null(json_object_get(artifact_at(f, "tables/bad.csv"), "manifest")));
  assert_true(json_is_null(json_object_get(artifact_at(f, "tables/list.csv"), "manifest")));
  assert_true(json_is_null(json_object_get(artifact_at(f, "files/report.txt"), "manifest")));

  /* Refused, each with a reason. */
  assert_string_equal(refusal(f, "tables/passwd.csv"), "a symbolic link (not followed)");
  assert_string_equal(refusal(f, "tables/up.csv"), "a symbolic link (not followed)");
  assert_string_equal(refusal(f, "tables/up.csv.manifest"), "manifest of a refused entry");
  assert_string_equal(refusal(f, "tables/pipe.csv"), "a fifo (not read)");
  assert_string_equal(refusal(f, "files/orphan.txt.manifest"), "manifest without its data file");
  const char *bad = refusal(f, "tables/bad.csv.manifest");
  assert_non_null(bad);
  assert_non_null(strstr(bad, "invalid manifest (tables/bad.csv stored without it): invalid JSON "
                              "at line 1"));
  assert_string_equal(refusal(f, "tables/list.csv.manifest"),
                      "invalid manifest (tables/list.csv stored without it): must be a JSON "
                      "object, not an array");
  assert_string_equal(refusal(f, "files/x.manifest"), "manifest without its data file");
  assert_string_equal(refusal(f, "files/x.manifest.manifest"), "manifest of a manifest");
  assert_int_equal(json_object_size(f->refused), 9);

  /* Nothing of what the links pointed at reached the store. */
  char *leak1 = bw_strdup_printf("%s/JOB7/2/tables/passwd.csv", f->store_dir);
  char *leak2 = bw_strdup_printf("%s/JOB7/2/tables/up.csv", f->store_dir);
  struct stat st;
  assert_int_equal(lstat(leak1, &st), -1);
  assert_int_equal(lstat(leak2, &st), -1);
  free(leak2);
  free(leak1);
}

static void test_sockets_hard_links_and_odd_names_are_refused(void **state) {
  fixture *f = *state;
  put(f->out, "files/a.txt", "a");
  char *a = bw_strdup_printf("%s/files/a.txt", f->out);
  char *config = bw_strdup_printf("%s/config.json", f->data);
  char *hard = bw_strdup_printf("%s/files/config-copy.json", f->out);
  assert_int_equal(link(config, hard), 0);
  put(f->out, "files/bad\nname.txt", "x");
  put_symlink(f->out, "files/link.manifest", "/etc/hostname"); /* no "link": an orphan */
  put(f->out, "files/b.txt", "b");
  put_symlink(f->out, "files/b.txt.manifest", "/etc/hostname");
  char *sock_path = bw_strdup_printf("%s/files/s.sock", f->out);
  int sock = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path);
  assert_int_equal(bind(sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
  outputs_opts opts = opts_for(f);
  bw_error_t err = NULL;
  if (outputs_collect(f->out, f->store, &opts, &err) < 0)
    fail_msg("%s", err->msg);
  close(sock);
  assert_int_equal(json_array_size(f->artifacts), 2);
  check_artifact(f, "files/a.txt", "a");
  check_artifact(f, "files/b.txt", "b");
  assert_string_equal(refusal(f, "files/config-copy.json"),
                      "a file with several hard links (not read)");
  assert_string_equal(refusal(f, "files/bad?name.txt"), "name is not printable UTF-8");
  assert_string_equal(refusal(f, "files/s.sock"), "a socket (not read)");
  assert_string_equal(refusal(f, "files/link.manifest"), "manifest without its data file");
  assert_string_equal(refusal(f, "files/b.txt.manifest"),
                      "invalid manifest (files/b.txt stored without it): a symbolic link (not "
                      "followed)");
  free(sock_path);
  free(hard);
  free(config);
  free(a);
}

static void test_roots_that_are_links_or_files(void **state) {
  fixture *f = *state;
  char *outside = bw_strdup_printf("%s/outside", f->root);
  put(outside, "secret.csv", "s");
  char *tables = bw_strdup_printf("%s/tables", f->out);
  assert_int_equal(symlink(outside, tables), 0);
  put(f->out, "files", "not a folder");
  outputs_opts opts = opts_for(f);
  assert_int_equal(outputs_collect(f->out, f->store, &opts, NULL), 0);
  assert_int_equal(json_array_size(f->artifacts), 0);
  assert_string_equal(refusal(f, "tables"), "a symbolic link (not followed)");
  assert_string_equal(refusal(f, "files"), "not a folder");
  free(tables);
  free(outside);
}

static void test_out_itself_a_symlink_or_missing(void **state) {
  fixture *f = *state;
  outputs_opts opts = opts_for(f);
  /* Missing: nothing to collect. */
  assert_int_equal(rmdir(f->out), 0);
  assert_int_equal(outputs_collect(f->out, f->store, &opts, NULL), 0);
  json_t *state_json = (json_t *)0x1;
  assert_int_equal(outputs_read_state(f->out, &state_json, NULL), 0);
  assert_null(state_json);
  /* A link: refused as a whole. */
  char *elsewhere = bw_strdup_printf("%s/elsewhere", f->root);
  put(elsewhere, "tables/x.csv", "x");
  assert_int_equal(symlink(elsewhere, f->out), 0);
  bw_error_t err = NULL;
  assert_int_equal(outputs_collect(f->out, f->store, &opts, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_string_equal(err->msg, "out: a symbolic link or not a folder (not followed)");
  bw_error_release(&err);
  assert_int_equal(json_array_size(f->artifacts), 0);
  free(elsewhere);
}

static void test_limits_fail_before_any_upload(void **state) {
  fixture *f = *state;
  put(f->out, "tables/a.csv", "0123456789");
  put(f->out, "tables/b.csv", "0123456789");
  put(f->out, "files/c.txt", "0123456789");
  outputs_opts opts = opts_for(f);
  opts.max_files = 2;
  bw_error_t err = NULL;
  assert_int_equal(outputs_collect(f->out, f->store, &opts, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  /* tables/ holds 2, so the third entry, in files/, is one too many. */
  assert_string_equal(err->msg, "outputs: out/files: more than 2 entries (files, folders and "
                                "refused entries count)");
  bw_error_release(&err);
  opts.max_files = 0;
  opts.max_total_bytes = 25;
  assert_int_equal(outputs_collect(f->out, f->store, &opts, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_string_equal(err->msg, "outputs: larger than 25 bytes in total");
  bw_error_release(&err);
  assert_int_equal(json_array_size(f->artifacts), 0);
  struct stat st;
  assert_int_equal(stat(f->store_dir, &st), 0);
  char *job = bw_strdup_printf("%s/JOB7", f->store_dir);
  assert_int_equal(lstat(job, &st), -1); /* nothing was stored */
  free(job);
  opts.max_total_bytes = 30; /* exactly the total is fine */
  assert_int_equal(outputs_collect(f->out, f->store, &opts, NULL), 0);
  assert_int_equal(json_array_size(f->artifacts), 3);
}

static void test_deep_folders_are_refused_not_walked(void **state) {
  fixture *f = *state;
  char *rel = bw_strdup("files");
  for (int i = 0; i < OUTPUTS_MAX_DEPTH + 2; i++) {
    char *deeper = bw_strdup_printf("%s/d", rel);
    free(rel);
    rel = deeper;
  }
  char *file = bw_strdup_printf("%s/x.txt", rel);
  put(f->out, file, "deep");
  outputs_opts opts = opts_for(f);
  assert_int_equal(outputs_collect(f->out, f->store, &opts, NULL), 0);
  assert_int_equal(json_array_size(f->artifacts), 0);
  assert_int_equal(json_object_size(f->refused), 1);
  const char *key = json_object_iter_key(json_object_iter(f->refused));
  assert_string_equal(json_string_value(json_object_get(f->refused, key)),
                      "folder nested too deep (not walked)");
  free(file);
  free(rel);
}

static void test_bad_job_id_is_invalid(void **state) {
  fixture *f = *state;
  outputs_opts opts = opts_for(f);
  static const char *bad[] = {"", "..", ".", "a/b", "a b", NULL};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    opts.job_id = bad[i];
    bw_error_t err = NULL;
    assert_int_equal(outputs_collect(f->out, f->store, &opts, &err), -1);
    assert_int_equal(err->kind, BW_ERR_INVALID);
    bw_error_release(&err);
  }
}

static void test_store_failure_is_unavailable(void **state) {
  fixture *f = *state;
  put(f->out, "tables/a.csv", "a");
  artifact_store *broken = NULL;
  artifact_store_opts so = {.connect_timeout_ms = 1000, .max_attempts = 1};
  /* Port 1 on loopback: nobody listens. */
  assert_int_equal(artifact_store_open_opts("http://127.0.0.1:1/x", &so, &broken, NULL), 0);
  outputs_opts opts = opts_for(f);
  bw_error_t err = NULL;
  assert_int_equal(outputs_collect(f->out, broken, &opts, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(err->msg, "outputs: out/tables/a.csv: store JOB7/2/tables/a.csv: PUT"));
  bw_error_release(&err);
  artifact_store_free(broken);
}

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
      cmocka_unit_test_setup_teardown(test_walk_of_a_typical_and_hostile_out_folder, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_sockets_hard_links_and_odd_names_are_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_roots_that_are_links_or_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_out_itself_a_symlink_or_missing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_limits_fail_before_any_upload, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deep_folders_are_refused_not_walked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_job_id_is_invalid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_failure_is_unavailable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_json, setup, teardown),
      cmocka_unit_test(test_manifest_parse),
      cmocka_unit_test_setup_teardown(test_files_with_secrets_are_refused, setup, teardown),
      cmocka_unit_test(test_state_leaks),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return failed;
}

/* shared/pipeline/outputs.h: the walk of out/ (manifests, links, special
 * files, limits) and the uploads. */
#include "outputs_fixture.h"

/* ---- the walk and the uploads ---- */

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

/* Many files on several uploaders: each stored and reported once, whatever
 * the number of threads (1, fewer than the files, more than the files). */
static void test_parallel_uploads(void **state) {
  fixture *f = *state;
  enum { FILES = 40 };
  for (int i = 0; i < FILES; i++) {
    char name[64], text[64];
    snprintf(name, sizeof(name), "files/f-%02d.txt", i);
    snprintf(text, sizeof(text), "content of file %d", i);
    put(f->out, name, text);
  }
  const int parallel[] = {1, 4, 8, FILES + 10};
  for (size_t k = 0; k < sizeof(parallel) / sizeof(parallel[0]); k++) {
    json_array_clear(f->artifacts);
    outputs_opts opts = opts_for(f);
    opts.parallel = parallel[k];
    assert_int_equal(outputs_collect(f->out, f->store, &opts, NULL), 0);
    assert_int_equal(json_array_size(f->artifacts), FILES);
    for (int i = 0; i < FILES; i++) {
      char name[64], text[64];
      snprintf(name, sizeof(name), "files/f-%02d.txt", i);
      snprintf(text, sizeof(text), "content of file %d", i);
      check_artifact(f, name, text);
    }
  }
}

/* A store that fails: one error comes back, named after one file. */
static void test_parallel_failure_is_one_error(void **state) {
  fixture *f = *state;
  for (int i = 0; i < 10; i++) {
    char name[64];
    snprintf(name, sizeof(name), "tables/t-%d.csv", i);
    put(f->out, name, "x");
  }
  artifact_store *broken = NULL;
  artifact_store_opts so = {.connect_timeout_ms = 1000, .max_attempts = 1};
  assert_int_equal(artifact_store_open_opts("http://127.0.0.1:1/x", &so, &broken, NULL), 0);
  outputs_opts opts = opts_for(f);
  opts.parallel = 4;
  bw_error_t err = NULL;
  assert_int_equal(outputs_collect(f->out, broken, &opts, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(err->msg, "outputs: out/tables/t-"));
  assert_int_equal(json_array_size(f->artifacts), 0);
  bw_error_release(&err);
  artifact_store_free(broken);
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
      cmocka_unit_test_setup_teardown(test_parallel_uploads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_parallel_failure_is_one_error, setup, teardown),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return failed;
}

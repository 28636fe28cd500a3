/* What the outputs' unit tests share (test_outputs.c, test_outputs_state.c):
 * a fresh out/ and artifact store per test, files planted in it, and what
 * was stored or refused. */
#pragma once

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

#include "files_fixture.h"

typedef struct fixture {
  char root[64];
  char *data; /* root/data: what the container saw as /data */
  char *out;  /* root/data/out */
  char *store_dir;
  artifact_store *store;
  json_t *artifacts; /* what on_artifact reported, in order */
  json_t *refused;   /* path -> reason */
} fixture;

/* Writes root/rel, making folders on the way (mkdir -p). */
static inline void put(const char *root, const char *rel, const char *text) {
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

static inline void put_symlink(const char *root, const char *rel, const char *target) {
  char *path = bw_strdup_printf("%s/%s", root, rel);
  assert_int_equal(symlink(target, path), 0);
  free(path);
}

static inline void on_artifact(void *ctx, const json_t *artifact) {
  fixture *f = ctx;
  json_array_append_new(f->artifacts, json_deep_copy(artifact));
}

static inline void on_refused(void *ctx, const char *path, const char *reason) {
  fixture *f = ctx;
  assert_null(json_object_get(f->refused, path)); /* each path once */
  json_object_set_new(f->refused, path, json_string(reason));
}

static inline int setup(void **state) {
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

static inline int teardown(void **state) {
  fixture *f = *state;
  remove_tree(f->root);
  artifact_store_free(f->store);
  json_decref(f->artifacts);
  json_decref(f->refused);
  free(f->data);
  free(f->out);
  free(f->store_dir);
  free(f);
  return 0;
}

static inline outputs_opts opts_for(fixture *f) {
  return (outputs_opts){.job_id = "JOB7",
                        .attempt = 2,
                        .on_artifact = on_artifact,
                        .on_refused = on_refused,
                        .ctx = f};
}

static inline const json_t *artifact_at(const fixture *f, const char *path) {
  size_t i;
  json_t *a;
  json_array_foreach(f->artifacts, i, a) {
    if (strcmp(json_string_value(json_object_get(a, "path")), path) == 0)
      return a;
  }
  return NULL;
}

static inline const char *refusal(const fixture *f, const char *path) {
  return json_string_value(json_object_get(f->refused, path));
}

/* Checks one artifact record against the text it should hold, and the copy
 * the store kept. */
static inline void check_artifact(const fixture *f, const char *path, const char *text) {
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

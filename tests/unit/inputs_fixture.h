/* What the inputs' unit tests share (test_job_inputs.c, test_inputs.c,
 * test_inputs_network.c): the fixture (a fresh in/ folder per test), file
 * helpers, and the fetch helpers that the tests call. */
#pragma once

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

#include "files_fixture.h"

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

static inline int setup(void **state) {
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

static inline int teardown(void **state) {
  fixture *f = *state;
  remove_tree(f->root);
  free(f->in_dir);
  free(f->outside);
  free(f->hello_url);
  free(f);
  return 0;
}

/* Entries of dir whose name starts with ".bw-input" (temporary files). */
static inline int count_temp_files(const char *dir) {
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

static inline bool exists_nofollow(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

/* The stub servers listen on 127.0.0.1: tests that are not about the
 * network policy run as on a worker whose jobs.inputs.allow opens it. */
#define STUB_ALLOW "127.0.0.1/32"

static inline int fetch_one(const char *in_dir, const char *url, const char *path,
                            const char *sha256, int64_t max_bytes, int64_t default_max,
                            bw_error_t *err) {
  job_input in = {
      .url = (char *)url, .path = (char *)path, .sha256 = (char *)sha256, .max_bytes = max_bytes};
  inputs_options o = {.default_max_bytes = default_max, .allow = STUB_ALLOW};
  return inputs_fetch(in_dir, &in, 1, &o, err);
}

/* One input of `url` into files/x under the policy `allow` (NULL: the defaults). */
static inline int fetch_allow(const char *in_dir, const char *url, const char *allow,
                              bw_error_t *err) {
  job_input in = {.url = (char *)url, .path = "files/x"};
  inputs_options o = {.allow = allow};
  return inputs_fetch(in_dir, &in, 1, &o, err);
}

/* shared/core/disk_usage.h: what a data folder holds, as a container cannot fool
 * it: sparse files at their size, symlinks not followed, bounds on depth. */
#include "core/disk_usage.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
  char root[64];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  snprintf(f->root, sizeof(f->root), "/tmp/bw-disk-XXXXXX");
  if (!mkdtemp(f->root))
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
  if (system(cmd) != 0)
    return -1;
  free(f);
  return 0;
}

static void write_file(const char *path, size_t bytes) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  char buf[4096];
  memset(buf, 'x', sizeof(buf));
  for (size_t done = 0; done < bytes;) {
    size_t n = bytes - done < sizeof(buf) ? bytes - done : sizeof(buf);
    assert_int_equal(fwrite(buf, 1, n, fp), n);
    done += n;
  }
  fclose(fp);
}

static disk_usage measure(const char *path, int64_t stop_above) {
  disk_usage u;
  bw_error_t err = NULL;
  assert_int_equal(disk_usage_measure(path, stop_above, &u, &err), 0);
  return u;
}

static void test_counts_files_and_folders(void **state) {
  fixture *f = *state;
  char p[256];
  snprintf(p, sizeof(p), "%s/a", f->root);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/a/one", f->root);
  write_file(p, 100000);
  snprintf(p, sizeof(p), "%s/two", f->root);
  write_file(p, 50000);
  disk_usage u = measure(f->root, 0);
  assert_null(u.unmeasurable);
  assert_true(u.bytes >= 150000);
  assert_true(u.bytes < 150000 + 64 * 1024);
  assert_int_equal(u.entries, 3);
  assert_false(disk_usage_over(&u, 1 << 20));
  assert_true(disk_usage_over(&u, 100000));
}

/* 1 GiB of holes costs a few blocks on disk but a GiB once uploaded. */
static void test_sparse_file_counts_at_its_size(void **state) {
  fixture *f = *state;
  char p[256];
  snprintf(p, sizeof(p), "%s/sparse", f->root);
  int fd = open(p, O_WRONLY | O_CREAT, 0644);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, 1LL << 30), 0);
  close(fd);
  disk_usage u = measure(f->root, 0);
  assert_true(u.bytes >= (1LL << 30));
}

/* A link to something big outside counts as the link, never as its target. */
static void test_symlinks_are_not_followed(void **state) {
  fixture *f = *state;
  char p[256];
  snprintf(p, sizeof(p), "%s/root-link", f->root);
  assert_int_equal(symlink("/", p), 0);
  snprintf(p, sizeof(p), "%s/usr-link", f->root);
  assert_int_equal(symlink("/usr", p), 0);
  disk_usage u = measure(f->root, 0);
  assert_null(u.unmeasurable);
  assert_int_equal(u.entries, 2);
  assert_true(u.bytes < 64 * 1024);
  /* and the folder itself given as a link is refused */
  bw_error_t err = NULL;
  assert_int_equal(disk_usage_measure(p, 0, &u, &err), -1);
  bw_error_release(&err);
}

static void test_too_deep_is_unmeasurable(void **state) {
  fixture *f = *state;
  char p[8192];
  int n = snprintf(p, sizeof(p), "%s", f->root);
  for (int depth = 0; depth < DISK_USAGE_MAX_DEPTH + 2; depth++) {
    n += snprintf(p + n, sizeof(p) - (size_t)n, "/d");
    assert_int_equal(mkdir(p, 0755), 0);
  }
  disk_usage u = measure(f->root, 0);
  assert_non_null(u.unmeasurable);
  assert_non_null(strstr(u.unmeasurable, "deeper than 64"));
  assert_true(disk_usage_over(&u, 1LL << 40));
}

static void test_stops_early_above_the_bound(void **state) {
  fixture *f = *state;
  char p[256];
  for (int i = 0; i < 50; i++) {
    snprintf(p, sizeof(p), "%s/f%d", f->root, i);
    write_file(p, 10000);
  }
  disk_usage u = measure(f->root, 30000);
  assert_true(u.bytes > 30000);
  assert_true(u.entries < 50);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_counts_files_and_folders, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sparse_file_counts_at_its_size, setup, teardown),
      cmocka_unit_test_setup_teardown(test_symlinks_are_not_followed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_too_deep_is_unmeasurable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stops_early_above_the_bound, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

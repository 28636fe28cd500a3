/* shared/core/safe_fs.h: the walk to a parent folder that never follows a
 * symlink, and the exclusive temporary file. Every test runs in a fresh
 * mkdtemp folder holding ROOT (what the caller hands in) beside OUTSIDE (a
 * folder with a sentinel file): whatever the attack, nothing in OUTSIDE may
 * be read, written, created or removed, and no fd may be left open. */
#include "core/safe_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"

#include "files_fixture.h"

#define SENTINEL_TEXT "sentinel: must stay as it is\n"

typedef struct fixture {
  char base[64], root[80], outside[80], sentinel[96];
  int root_fd;
  struct stat sentinel_st; /* as it was at setup */
  int fds;                 /* open fds at setup */
} fixture;

static int count_entries(const char *path) {
  DIR *d = opendir(path);
  int n = 0;
  for (struct dirent *de; d && (de = readdir(d));)
    n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
  if (d)
    closedir(d);
  return d ? n : -1;
}
#define count_fds() count_entries("/proc/self/fd")

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  snprintf(f->base, sizeof(f->base), "/tmp/bw-safefs-XXXXXX");
  if (!mkdtemp(f->base))
    return -1;
  snprintf(f->root, sizeof(f->root), "%s/root", f->base);
  snprintf(f->outside, sizeof(f->outside), "%s/outside", f->base);
  snprintf(f->sentinel, sizeof(f->sentinel), "%s/sentinel", f->outside);
  if (mkdir(f->root, 0755) < 0 || mkdir(f->outside, 0755) < 0)
    return -1;
  write_text(f->sentinel, SENTINEL_TEXT);
  /* Old times, so that any read shows in the access time (relatime). */
  struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
  utimensat(AT_FDCWD, f->sentinel, old, 0);
  stat(f->sentinel, &f->sentinel_st);
  f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  f->fds = count_fds();
  *state = f;
  return f->root_fd < 0 ? -1 : 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  close(f->root_fd);
  remove_tree(f->base);
  free(f);
  return 0;
}

/* The invariant of every test: OUTSIDE holds the sentinel alone, never read,
 * never changed; no fd is left open. */
static void check_outside_untouched(const fixture *f) {
  assert_int_equal(count_entries(f->outside), 1);
  struct stat st;
  assert_int_equal(lstat(f->sentinel, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_ino, f->sentinel_st.st_ino);
  assert_int_equal(st.st_size, f->sentinel_st.st_size);
  assert_memory_equal(&st.st_mtim, &f->sentinel_st.st_mtim, sizeof(st.st_mtim));
  assert_int_equal(st.st_atim.tv_sec, f->sentinel_st.st_atim.tv_sec); /* never read */
  cleanup_free char *text = read_text(f->sentinel);
  assert_string_equal(text, SENTINEL_TEXT);
  struct timespec times[2] = {f->sentinel_st.st_atim, f->sentinel_st.st_mtim};
  assert_int_equal(utimensat(AT_FDCWD, f->sentinel, times, 0), 0); /* undo this check's read */
  assert_int_equal(count_fds(), f->fds);
}

/* The type and mode of ROOT/rel, not following a link; 0 when absent. */
static mode_t mode_of(const fixture *f, const char *rel) {
  struct stat st;
  return fstatat(f->root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_mode : 0;
}

typedef struct walk {
  int rc, fd, bad_errno;
  const char *base;
  char *bad;
} walk;

static walk walk_to(const fixture *f, const char *path) {
  walk w = {.fd = -7, .bad = (char *)"untouched"};
  w.rc = safe_fs_open_parent(f->root_fd, path, &w.fd, &w.base, &w.bad_errno, &w.bad);
  return w;
}

/* safe_fs_open_parent must refuse path with want_errno at the folder
 * want_prefix; a link may give ELOOP or ENOTDIR (the header allows both:
 * Linux checks O_DIRECTORY before O_NOFOLLOW). */
static void expect_refused(fixture *f, const char *path, int want_errno, const char *want_prefix) {
  walk w = walk_to(f, path);
  cleanup_free char *bad = w.bad;
  assert_int_equal(w.rc, -1);
  if (w.bad_errno != want_errno && !(want_errno == ELOOP && w.bad_errno == ENOTDIR))
    fail_msg("%s: errno %s, expected %s", path, strerror(w.bad_errno), strerror(want_errno));
  assert_non_null(bad);
  assert_string_equal(bad, want_prefix);
  assert_int_equal(w.fd, -7); /* not written on failure */
  check_outside_untouched(f);
}

/* Opens path's parent, which must be ROOT/want_dir; returns its fd. */
static int expect_opened(fixture *f, const char *path, const char *want_dir,
                         const char *want_base) {
  walk w = walk_to(f, path);
  if (w.rc < 0)
    fail_msg("%s: refused at %s: %s", path, w.bad, strerror(w.bad_errno));
  assert_null(w.bad);                                           /* set to NULL on success too */
  assert_true(w.base >= path && w.base <= path + strlen(path)); /* into the caller's string */
  assert_string_equal(w.base, want_base);
  struct stat got, want;
  assert_int_equal(fstat(w.fd, &got), 0);
  assert_int_equal(fstatat(f->root_fd, want_dir, &want, AT_SYMLINK_NOFOLLOW), 0);
  assert_int_equal(got.st_ino, want.st_ino);
  assert_int_equal(got.st_dev, want.st_dev);
  assert_true(fcntl(w.fd, F_GETFD) & FD_CLOEXEC); /* a bare name's copy of root_fd too */
  return w.fd;
}

static char *repeat(char c, size_t n) {
  return memset(bw_xcalloc(n + 1, 1), c, n);
}

static void test_missing_folders_are_made_0755_existing_kept(void **state) {
  fixture *f = *state;
  assert_int_equal(mkdirat(f->root_fd, "a", 0700), 0);
  assert_int_equal(mkfifoat(f->root_fd, "a/kept", 0644), 0);
  mode_t old = umask(0); /* the mode asked for, unfiltered */
  close(expect_opened(f, "a/b/c/result.csv", "a/b/c", "result.csv"));
  umask(old);
  assert_int_equal(mode_of(f, "a/b"), S_IFDIR | 0755);
  assert_int_equal(mode_of(f, "a/b/c"), S_IFDIR | 0755);
  assert_int_equal(mode_of(f, "a"), S_IFDIR | 0700); /* an existing folder is used as it is */
  assert_false(mode_of(f, "a/b/c/result.csv"));      /* the last component is the caller's */
  assert_true(mode_of(f, "a/kept"));
  check_outside_untouched(f);
}

static void test_bare_names_trailing_slashes_bad_root_fd(void **state) {
  fixture *f = *state;
  close(expect_opened(f, "top.csv", ".", "top.csv"));
  close(expect_opened(f, "", ".", ""));
  close(expect_opened(f, "a/", "a", ""));
  int dir_fd = -7, bad_errno = 0;
  const char *base = NULL;
  cleanup_free char *bad = NULL;
  assert_int_equal(safe_fs_open_parent(-1, "a/b", &dir_fd, &base, &bad_errno, &bad), -1);
  assert_int_equal(bad_errno, EBADF);
  assert_string_equal(bad, ".");
  assert_int_equal(dir_fd, -7);
  check_outside_untouched(f);
}

/* Links to OUTSIDE, to the sentinel, dangling, to ".." and to "/", as the
 * first, a middle and the last folder: each is refused at the link and
 * nothing is made through it. */
static void test_symlinks_at_every_folder_are_refused(void **state) {
  fixture *f = *state;
  cleanup_free char *dangling = bw_strdup_printf("%s/nothing-here", f->outside);
  const char *targets[] = {f->outside, f->sentinel, dangling, "..", "/"};
  const char *links[] = {"L", "d1/L", "d1/d2/L"};
  assert_int_equal(mkdirat(f->root_fd, "d1", 0755), 0);
  assert_int_equal(mkdirat(f->root_fd, "d1/d2", 0755), 0);
  for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
    for (size_t i = 0; i < 3; i++)
      assert_int_equal(symlinkat(targets[t], f->root_fd, links[i]), 0);
    expect_refused(f, "L/new/x", ELOOP, "L");
    expect_refused(f, "L/x", ELOOP, "L");
    expect_refused(f, "d1/L/new/x", ELOOP, "d1/L");
    expect_refused(f, "d1/d2/L/x", ELOOP, "d1/d2/L");
    /* A link as the last component is the caller's: its rename replaces it. */
    close(expect_opened(f, "d1/d2/L", "d1/d2", "L"));
    for (size_t i = 0; i < 3; i++)
      assert_int_equal(unlinkat(f->root_fd, links[i], 0), 0);
  }
  assert_false(mode_of(f, "new"));
  assert_false(mode_of(f, "d1/new"));
  check_outside_untouched(f);
}

/* What a job can leave where a folder should be: a file, a FIFO (opening it
 * for reading would block), a socket, a device. */
static void test_a_file_fifo_socket_or_device_in_the_way_is_refused(void **state) {
  fixture *f = *state;
  assert_int_equal(mknodat(f->root_fd, "file", S_IFREG | 0644, 0), 0);
  assert_int_equal(mkfifoat(f->root_fd, "fifo", 0644), 0);
  assert_int_equal(mknodat(f->root_fd, "sock", S_IFSOCK | 0644, 0), 0);
  if (mknodat(f->root_fd, "null", S_IFCHR | 0666, makedev(1, 3)) < 0)
    fail_msg("mknod: %s (the test runs as root, as the worker does)", strerror(errno));
  alarm(10); /* fail rather than hang */
  expect_refused(f, "file/x", ENOTDIR, "file");
  expect_refused(f, "fifo/x", ENOTDIR, "fifo");
  expect_refused(f, "fifo/a/b", ENOTDIR, "fifo");
  expect_refused(f, "sock/x", ENOTDIR, "sock");
  expect_refused(f, "null/x", ENOTDIR, "null");
  alarm(0);
  assert_int_equal(count_entries(f->root), 4);
}

/* A path is always taken relative to root_fd: a leading '/' (or an empty
 * component) names "", which cannot be made. */
static void test_absolute_paths_and_empty_components_are_refused(void **state) {
  fixture *f = *state;
  cleanup_free char *abs_outside = bw_strdup_printf("%s/new/x", f->outside);
  expect_refused(f, abs_outside, ENOENT, "");
  expect_refused(f, "/etc/passwd", ENOENT, "");
  expect_refused(f, "//x", ENOENT, "");
  expect_refused(f, "a//b", ENOENT, "a/");
  assert_true(mode_of(f, "a")); /* made before the empty component was met */
  assert_int_equal(count_entries(f->root), 1);
}

/* ".." would climb out of root_fd: refused (EINVAL) wherever it stands, the
 * last component too, before anything is made. Names that only start with
 * dots are names. */
static void test_dotdot_is_refused(void **state) {
  fixture *f = *state;
  expect_refused(f, "../escaped/x", EINVAL, "..");
  expect_refused(f, "..", EINVAL, "..");
  expect_refused(f, "a/../x", EINVAL, "a/..");
  expect_refused(f, "a/b/..", EINVAL, "a/b/..");
  expect_refused(f, "a/b/../../../escaped/x", EINVAL, "a/b/..");
  assert_int_equal(count_entries(f->root), 0); /* not even a/ */
  assert_int_equal(count_entries(f->base), 2); /* ROOT and OUTSIDE: no escaped/ */
  close(expect_opened(f, ".../..x/x..", ".../..x", "x.."));
  /* A ".." behind a link is never reached either. */
  assert_int_equal(symlinkat("..", f->root_fd, "up"), 0);
  expect_refused(f, "up/outside/x", ELOOP, "up");
}

static void test_folder_names_at_name_max(void **state) {
  fixture *f = *state;
  cleanup_free char *longest = repeat('n', NAME_MAX);
  cleanup_free char *too_long = repeat('m', NAME_MAX + 1);
  cleanup_free char *ok_path = bw_strdup_printf("%s/x", longest);
  close(expect_opened(f, ok_path, longest, "x"));
  cleanup_free char *bad_path = bw_strdup_printf("%s/x", too_long);
  expect_refused(f, bad_path, ENAMETOOLONG, too_long);
  cleanup_free char *nested = bw_strdup_printf("%s/%s/x", longest, too_long);
  cleanup_free char *nested_prefix = bw_strdup_printf("%s/%s", longest, too_long);
  expect_refused(f, nested, ENAMETOOLONG, nested_prefix);
  assert_int_equal(count_entries(f->root), 1);
  /* The last component is not checked here: the caller's rename says. */
  cleanup_free char *long_base = bw_strdup_printf("d/%s", too_long);
  close(expect_opened(f, long_base, "d", too_long));
}

/* Folder by folder from an fd, a path has no PATH_MAX: paths of PATH_MAX - 1,
 * PATH_MAX, PATH_MAX + 1 and 3 * PATH_MAX bytes all open their parent, which
 * is as many folders below root as the path names. */
static void test_paths_around_path_max(void **state) {
  fixture *f = *state;
  const size_t lengths[] = {PATH_MAX - 1, PATH_MAX, PATH_MAX + 1, 3 * PATH_MAX};
  struct stat root_st;
  assert_int_equal(fstat(f->root_fd, &root_st), 0);
  for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
    size_t want = lengths[i], len = 0, folders = 0;
    cleanup_free char *path = bw_xmalloc(want + 1);
    while (want - len > 102) /* folders of 100 bytes, then the rest as the last component */
      len += (size_t)snprintf(path + len, want + 1 - len, "%c%099zu/", (char)('p' + i), folders++);
    memset(path + len, 'z', want - len);
    path[want] = '\0';
    walk w = walk_to(f, path);
    if (w.rc < 0)
      fail_msg("%zu bytes: refused: %s", want, strerror(w.bad_errno));
    assert_ptr_equal(w.base, path + len);
    /* Up to root, removing on the way (nftw cannot remove past PATH_MAX): an
     * rmdir of folder k fails unless it was the one below. */
    for (size_t k = folders; k-- > 0;) {
      char name[104];
      snprintf(name, sizeof(name), "%c%099zu", (char)('p' + i), k);
      int parent = openat(w.fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      close(w.fd);
      assert_int_equal(unlinkat(parent, name, AT_REMOVEDIR), 0);
      w.fd = parent;
    }
    struct stat st;
    assert_true(fstat(w.fd, &st) == 0 && st.st_ino == root_st.st_ino);
    close(w.fd);
  }
  check_outside_untouched(f);
}

/* The fd the walk returns is the folder it checked: moving that folder and
 * planting a link to OUTSIDE in its place afterwards does not redirect the
 * temporary file made through it; a new walk meets the link. */
static void test_a_folder_swapped_for_a_link_after_the_walk(void **state) {
  fixture *f = *state;
  int dir_fd = expect_opened(f, "a/b/out.csv", "a/b", "out.csv");
  assert_int_equal(renameat(f->root_fd, "a", f->root_fd, "a.moved"), 0);
  assert_int_equal(symlinkat(f->outside, f->root_fd, "a"), 0);
  char name[64];
  cleanup_error bw_error_t err = NULL;
  int fd = safe_fs_open_temp(dir_fd, "input", name, &err);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "data\n", 5), 5);
  close(fd);
  close(dir_fd);
  cleanup_free char *in_moved = bw_strdup_printf("a.moved/b/%s", name);
  assert_true(S_ISREG(mode_of(f, in_moved)));
  expect_refused(f, "a/b/out.csv", ELOOP, "a");
}

typedef struct swapper {
  int root_fd;
  atomic_bool stop;
  atomic_long swaps;
} swapper;

/* Exchanges ROOT/r (a folder) and ROOT/r.link (a link to OUTSIDE)
 * atomically, as fast as it can. */
static void *swap_loop(void *arg) {
  swapper *s = arg;
  while (!atomic_load(&s->stop))
    if (renameat2(s->root_fd, "r", s->root_fd, "r.link", RENAME_EXCHANGE) == 0)
      atomic_fetch_add(&s->swaps, 1);
  return NULL;
}

static void test_a_folder_swapped_for_a_link_during_the_walk(void **state) {
  fixture *f = *state;
  assert_int_equal(mkdirat(f->root_fd, "r", 0755), 0);
  assert_int_equal(symlinkat(f->outside, f->root_fd, "r.link"), 0);
  swapper s = {.root_fd = f->root_fd};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, swap_loop, &s), 0);
  long opened = 0;
  struct stat root_st, up_st;
  assert_int_equal(fstat(f->root_fd, &root_st), 0);
  for (int i = 0; i < 4000; i++) {
    walk w = walk_to(f, "r/b/x");
    if (w.rc == 0) {
      /* Whatever it opened is two folders below ROOT, never in OUTSIDE. */
      int up = openat(w.fd, "../..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      assert_int_equal(fstat(up, &up_st), 0);
      assert_int_equal(up_st.st_ino, root_st.st_ino);
      close(up);
      close(w.fd);
      opened++;
    } else {
      assert_true(w.bad_errno == ELOOP || w.bad_errno == ENOTDIR);
      free(w.bad);
    }
  }
  atomic_store(&s.stop, true);
  pthread_join(th, NULL);
  assert_true(atomic_load(&s.swaps) > 0);
  assert_true(opened > 0);
  check_outside_untouched(f);
}

static void test_temp_files_are_fresh_exclusive_and_apart(void **state) {
  fixture *f = *state;
  mode_t old = umask(022);
  char names[200][64];
  for (int i = 0; i < 200; i++) {
    cleanup_error bw_error_t err = NULL;
    cleanup_close int fd = safe_fs_open_temp(f->root_fd, "input", names[i], &err);
    assert_true(fd >= 0);
    /* ".bw-input-<16 hex>.part" */
    assert_int_equal(strncmp(names[i], ".bw-input-", 10), 0);
    assert_int_equal(strspn(names[i] + 10, "0123456789abcdef"), 16);
    assert_string_equal(names[i] + 26, ".part");
    for (int j = 0; j < i; j++)
      assert_string_not_equal(names[i], names[j]);
    struct stat by_name, by_fd;
    assert_int_equal(fstatat(f->root_fd, names[i], &by_name, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(fstat(fd, &by_fd), 0);
    assert_int_equal(by_name.st_ino, by_fd.st_ino);
    assert_int_equal(by_name.st_size, 0);
    assert_int_equal(by_name.st_mode, S_IFREG | 0644);
    assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_WRONLY);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  }
  umask(old);
  assert_int_equal(count_entries(f->root), 200);
  /* The name does not grow with the tag: a NAME_MAX tag is cut to 24 bytes. */
  cleanup_free char *tag = repeat('t', NAME_MAX);
  char name[64];
  cleanup_error bw_error_t err = NULL;
  close(safe_fs_open_temp(f->root_fd, tag, name, &err));
  assert_null(err);
  assert_int_equal(strlen(name), 4 + 24 + 1 + 16 + 5);
  check_outside_untouched(f);
}

static void expect_temp_refused(int dir_fd, int want_errno) {
  char name[64];
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(safe_fs_open_temp(dir_fd, "input", name, &err), -1);
  assert_non_null(err);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_int_equal(err->sys_errno, want_errno);
  assert_non_null(strstr(err->msg, "create a temporary file"));
  assert_non_null(strstr(err->msg, strerror(want_errno)));
}

static void test_temp_in_something_not_a_folder_is_a_clear_error(void **state) {
  fixture *f = *state;
  int file_fd = openat(f->root_fd, "file", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  expect_temp_refused(file_fd, ENOTDIR);
  assert_int_equal(mkdirat(f->root_fd, "gone", 0755), 0);
  int gone_fd = openat(f->root_fd, "gone", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_int_equal(unlinkat(f->root_fd, "gone", AT_REMOVEDIR), 0);
  expect_temp_refused(gone_fd, ENOENT);
  expect_temp_refused(-1, EBADF);
  assert_int_equal(count_entries(f->root), 1);
  close(file_fd);
  close(gone_fd);
  check_outside_untouched(f);
}

/* The callers' pattern (inputs.c, artifact_store.c): walk, temporary file,
 * renameat over the destination. Whatever a job planted there (a link to
 * OUTSIDE or to the sentinel, a dangling link, a FIFO, a device, a socket)
 * is replaced itself, never written through, never opened. */
static void test_the_write_pattern_replaces_what_was_planted(void **state) {
  fixture *f = *state;
  assert_int_equal(mkdirat(f->root_fd, "dst", 0755), 0);
  cleanup_free char *dangling = bw_strdup_printf("%s/none", f->outside);
  const char *links[] = {f->outside, f->sentinel, dangling};
  const mode_t nodes[] = {S_IFIFO | 0644, S_IFCHR | 0666, S_IFSOCK | 0644};
  for (int kind = 0; kind < 6; kind++) {
    assert_int_equal(kind < 3 ? symlinkat(links[kind], f->root_fd, "dst/out.csv")
                              : mknodat(f->root_fd, "dst/out.csv", nodes[kind - 3], makedev(1, 3)),
                     0);
    alarm(10);
    int dir_fd = expect_opened(f, "dst/out.csv", "dst", "out.csv");
    char name[64];
    cleanup_error bw_error_t err = NULL;
    int fd = safe_fs_open_temp(dir_fd, "input", name, &err);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "new\n", 4), 4);
    close(fd);
    assert_int_equal(renameat(dir_fd, name, dir_fd, "out.csv"), 0);
    close(dir_fd);
    alarm(0);
    assert_true(S_ISREG(mode_of(f, "dst/out.csv")));
    assert_int_equal(unlinkat(f->root_fd, "dst/out.csv", 0), 0);
    check_outside_untouched(f);
  }
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_missing_folders_are_made_0755_existing_kept),
      T(test_bare_names_trailing_slashes_bad_root_fd),
      T(test_symlinks_at_every_folder_are_refused),
      T(test_a_file_fifo_socket_or_device_in_the_way_is_refused),
      T(test_absolute_paths_and_empty_components_are_refused),
      T(test_dotdot_is_refused),
      T(test_folder_names_at_name_max),
      T(test_paths_around_path_max),
      T(test_a_folder_swapped_for_a_link_after_the_walk),
      T(test_a_folder_swapped_for_a_link_during_the_walk),
      T(test_temp_files_are_fresh_exclusive_and_apart),
      T(test_temp_in_something_not_a_folder_is_a_clear_error),
      T(test_the_write_pattern_replaces_what_was_planted),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

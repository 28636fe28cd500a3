/* shared/pipeline/data_dir.h: the job's /data folder (the reference layout of
 * /work/shared/reference/common-interface.md): what it makes, with which
 * modes and owners, what it refuses, and that removal leaves nothing behind
 * and never follows what a job planted. Each test has a mkdtemp folder with
 * ROOT (the data root) beside OUTSIDE (a sentinel file that must stay). */
#include "pipeline/data_dir.h"

#include "core/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "files_fixture.h"

#define SENTINEL_TEXT "outside: must stay\n"
#define UID 4242
#define GID 4343

typedef struct fixture {
  char base[64], root[80], outside[80], sentinel[96];
  mode_t umask_before;
  json_t *config, *state, *owner;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  snprintf(f->base, sizeof(f->base), "/tmp/bw-datadir-XXXXXX");
  if (!mkdtemp(f->base))
    return -1;
  snprintf(f->root, sizeof(f->root), "%s/root", f->base);
  snprintf(f->outside, sizeof(f->outside), "%s/outside", f->base);
  snprintf(f->sentinel, sizeof(f->sentinel), "%s/sentinel", f->outside);
  f->umask_before = umask(022);
  if (mkdir(f->outside, 0755) < 0)
    return -1;
  write_text(f->sentinel, SENTINEL_TEXT);
  f->config = json_pack("{s:{s:s, s:i}, s:s, s:{s:{s:[]}}}", "parameters", "#secret", "s3cr3t",
                        "rows", 10, "action", "run", "storage", "input", "tables");
  f->state = json_pack("{s:s}", "cursor", "2024-01-01");
  f->owner = json_pack("{s:s, s:s, s:s, s:s}", "fleet", "bw:", "worker", "w-1", "host", "h",
                       "lease", "tok");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  umask(f->umask_before);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->base); /* nftw stops at PATH_MAX */
  int rc = system(cmd);
  json_decref(f->config);
  json_decref(f->state);
  json_decref(f->owner);
  free(f);
  return rc == 0 ? 0 : -1;
}

static void check_outside_untouched(const fixture *f) {
  DIR *d = opendir(f->outside);
  assert_non_null(d);
  int n = 0;
  for (struct dirent *de; (de = readdir(d));)
    n += de->d_name[0] != '.';
  closedir(d);
  assert_int_equal(n, 1);
  struct stat st; /* modes too: a removal that makes folders u+rwx must not reach here */
  assert_int_equal(lstat(f->outside, &st), 0);
  assert_int_equal(st.st_mode, S_IFDIR | 0755);
  assert_int_equal(lstat(f->sentinel, &st), 0);
  assert_int_equal(st.st_mode, S_IFREG | 0644);
  assert_int_equal(st.st_nlink, 1);
  cleanup_free char *text = read_text(f->sentinel);
  assert_string_equal(text, SENTINEL_TEXT);
}

/* The entries of a folder, sorted, as "a,b,c"; "-" when it cannot be read. */
static char *listing(const char *dir) {
  struct dirent **list = NULL;
  int n = scandir(dir, &list, NULL, alphasort);
  if (n < 0)
    return bw_strdup("-");
  char *out = bw_strdup("");
  for (int i = 0; i < n; i++) {
    if (strcmp(list[i]->d_name, ".") != 0 && strcmp(list[i]->d_name, "..") != 0) {
      char *next = bw_strdup_printf("%s%s%s", out, *out ? "," : "", list[i]->d_name);
      free(out);
      out = next;
    }
    free(list[i]);
  }
  free(list);
  return out;
}

static void expect_listing(const char *dir, const char *rel, const char *want) {
  cleanup_free char *path = bw_strdup_printf("%s/%s", dir, rel);
  cleanup_free char *got = listing(path);
  if (strcmp(got, want) != 0)
    fail_msg("%s holds [%s], expected [%s]", path, got, want);
}

static void expect_node(const char *dir, const char *rel, mode_t mode, uid_t uid, gid_t gid) {
  cleanup_free char *path = bw_strdup_printf("%s/%s", dir, rel);
  struct stat st;
  if (lstat(path, &st) < 0)
    fail_msg("%s: %s", path, strerror(errno));
  if (st.st_mode != mode || st.st_uid != uid || st.st_gid != gid)
    fail_msg("%s: mode %o owner %d:%d, expected %o %d:%d", path, st.st_mode, (int)st.st_uid,
             (int)st.st_gid, mode, (int)uid, (int)gid);
}

static json_t *load(const char *dir, const char *rel) {
  cleanup_free char *path = bw_strdup_printf("%s/%s", dir, rel);
  return json_load_file(path, 0, NULL);
}

static void create(fixture *f, const char *job, long attempt, const json_t *owner, data_dir *dd) {
  cleanup_error bw_error_t err = NULL;
  if (data_dir_create(f->root, job, attempt, f->config, f->state, UID, GID, owner, dd, &err) < 0)
    fail_msg("data_dir_create: %s", bw_error_msg(&err));
}

static void test_creates_the_reference_layout(void **state) {
  fixture *f = *state;
  data_dir dd;
  create(f, "job-1", 3, NULL, &dd);
  cleanup_free char *want_path = bw_strdup_printf("%s/job-1/3", f->root);
  assert_string_equal(dd.path, want_path);
  cleanup_free char *want_in = bw_strdup_printf("%s/in", want_path);
  cleanup_free char *want_out = bw_strdup_printf("%s/out", want_path);
  cleanup_free char *want_owner = bw_strdup_printf("%s.owner", want_path);
  assert_string_equal(dd.in_dir, want_in);
  assert_string_equal(dd.out_dir, want_out);
  assert_string_equal(dd.owner_path, want_owner);
  /* Exactly the layout, nothing more: no out/state.json (the job's to write). */
  expect_listing(dd.path, "", "config.json,in,out");
  expect_listing(dd.path, "in", "files,state.json,tables");
  expect_listing(dd.path, "out", "files,tables");
  const char *empty[] = {"in/tables", "in/files", "out/tables", "out/files"};
  for (size_t i = 0; i < 4; i++)
    expect_listing(dd.path, empty[i], "");
  /* The container's user owns everything in /data when the worker is root;
   * a worker that is not root keeps it (and runs the container as itself). */
  uid_t uid = geteuid() == 0 ? UID : geteuid();
  gid_t gid = geteuid() == 0 ? GID : getegid();
  const char *dirs[] = {"", "in", "in/tables", "in/files", "out", "out/tables", "out/files"};
  for (size_t i = 0; i < 7; i++)
    expect_node(dd.path, dirs[i], S_IFDIR | 0755, uid, gid);
  expect_node(dd.path, "config.json", S_IFREG | 0644, uid, gid);
  expect_node(dd.path, "in/state.json", S_IFREG | 0644, uid, gid);
  /* Above /data stays the worker's. */
  expect_node(f->root, "job-1", S_IFDIR | 0755, geteuid(), getegid());
  expect_node(f->base, "root", S_IFDIR | 0755, geteuid(), getegid());
  cleanup_json json_t *config = load(dd.path, "config.json");
  cleanup_json json_t *st = load(dd.path, "in/state.json");
  assert_true(json_equal(config, f->config));
  assert_true(json_equal(st, f->state));
  assert_int_equal(access(dd.owner_path, F_OK), -1); /* `run`: no owner file */
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(data_dir_remove(&dd, &err), 0);
  data_dir_free(&dd);
  expect_listing(f->root, "", "");
}

static void test_the_owner_file_is_beside_data_not_in_it(void **state) {
  fixture *f = *state;
  data_dir dd;
  create(f, "job-2", 1, f->owner, &dd);
  expect_listing(f->root, "job-2", "1,1.owner"); /* no .owner.tmp left */
  expect_listing(dd.path, "", "config.json,in,out");
  expect_node(f->root, "job-2/1.owner", S_IFREG | 0644, geteuid(), getegid());
  cleanup_json json_t *owner = json_load_file(dd.owner_path, 0, NULL);
  assert_true(json_equal(owner, f->owner));
  cleanup_free char *text = read_text(dd.owner_path);
  assert_null(strchr(text, '\n')); /* compact: one line */
  /* Disowned: the folder stays (the operator's), the owner file goes. */
  data_dir_disown(&dd);
  expect_listing(f->root, "job-2", "1");
  data_dir_disown(&dd); /* twice */
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(data_dir_remove(&dd, &err), 0);
  data_dir_free(&dd);
  data_dir_free(&dd); /* twice */
  data_dir_free(NULL);
  assert_int_equal(data_dir_remove(&dd, &err), 0); /* a freed one: nothing to do */
  expect_listing(f->root, "", "");
}

/* What a job can leave in /data: links to OUTSIDE, to the sentinel and to
 * "/", a hard link to a file outside, a FIFO, a socket, a folder it made
 * unreadable, deep folders. Removing it (by data_dir_remove, or by a new try
 * of the same attempt) unlinks each thing itself, never what it points to. */
static void plant_hostile_tree(const fixture *f, const char *data) {
  cleanup_free char *cmd = bw_strdup_printf(
      "cd '%s' && ln -s '%s' out/files/outside && ln -s '%s' out/tables/sentinel.csv && "
      "ln -s / out/root && ln '%s' out/files/hard && mkfifo out/fifo && "
      "mkdir -p out/tables/a/b/c/d && echo x > out/tables/a/b/c/d/f && "
      "ln -s '%s' out/tables/a/b/c/d/up && mkdir out/locked && touch out/locked/f && "
      "chmod 000 out/locked && rm -rf in/tables && ln -s '%s' in/tables",
      data, f->outside, f->sentinel, f->sentinel, f->outside, f->outside);
  assert_int_equal(system(cmd), 0);
  cleanup_free char *sock = bw_strdup_printf("%s/out/sock", data);
  assert_int_equal(mknod(sock, S_IFSOCK | 0644, 0), 0);
}

static void test_remove_leaves_nothing_and_follows_nothing(void **state) {
  fixture *f = *state;
  data_dir dd;
  create(f, "job-3", 1, f->owner, &dd);
  plant_hostile_tree(f, dd.path);
  cleanup_error bw_error_t err = NULL;
  if (data_dir_remove(&dd, &err) < 0)
    fail_msg("%s", bw_error_msg(&err));
  data_dir_free(&dd);
  expect_listing(f->root, "", ""); /* the job's folder went with its last attempt */
  check_outside_untouched(f);
}

static void test_a_new_try_replaces_a_leftover(void **state) {
  fixture *f = *state;
  data_dir dd;
  create(f, "job-4", 1, NULL, &dd);
  plant_hostile_tree(f, dd.path);
  cleanup_free char *old = bw_strdup_printf("%s/out/files/old.csv", dd.path);
  write_text(old, "stale\n");
  data_dir_free(&dd);
  create(f, "job-4", 1, NULL, &dd);
  expect_listing(dd.path, "", "config.json,in,out");
  expect_listing(dd.path, "out", "files,tables");
  expect_listing(dd.path, "out/files", "");
  expect_listing(dd.path, "in", "files,state.json,tables");
  check_outside_untouched(f);
  /* The attempt folder itself a link to OUTSIDE, then a plain file: each is
   * replaced by a real folder, and OUTSIDE gets no config.json. */
  cleanup_free char *path = bw_strdup(dd.path);
  data_dir_free(&dd);
  for (int kind = 0; kind < 2; kind++) {
    cleanup_free char *cmd = bw_strdup_printf("rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
    if (kind == 0)
      assert_int_equal(symlink(f->outside, path), 0);
    else
      write_text(path, "a file\n");
    create(f, "job-4", 1, NULL, &dd);
    expect_node(dd.path, "", S_IFDIR | 0755, geteuid() == 0 ? UID : geteuid(),
                geteuid() == 0 ? GID : getegid());
    expect_listing(dd.path, "", "config.json,in,out");
    data_dir_free(&dd);
    check_outside_untouched(f);
  }
}

static void expect_create_refused(fixture *f, const char *root, const char *job, bw_error_kind kind,
                                  const char *want_in_msg) {
  data_dir dd;
  memset(&dd, 0x5a, sizeof(dd));
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(
      data_dir_create(root, job, 1, f->config, f->state, UID, GID, f->owner, &dd, &err), -1);
  assert_non_null(err);
  assert_int_equal(err->kind, kind);
  if (!strstr(err->msg, want_in_msg) || strncmp(err->msg, "data folder ", 12) != 0)
    fail_msg("message [%s] lacks [%s]", err->msg, want_in_msg);
  assert_null(dd.path); /* freed and zeroed: nothing for the caller to free */
  assert_null(dd.owner_path);
  check_outside_untouched(f);
}

static void test_what_it_refuses_and_what_a_failure_leaves(void **state) {
  fixture *f = *state;
  /* The data root is a file; then the job's folder is. */
  write_text(f->root, "a file\n");
  cleanup_free char *in_file = bw_strdup_printf("%s/sub", f->root);
  expect_create_refused(f, in_file, "job-5", BW_ERR_UNAVAILABLE, "Not a directory");
  assert_int_equal(unlink(f->root), 0);
  assert_int_equal(mkdir(f->root, 0755), 0);
  cleanup_free char *job_file = bw_strdup_printf("%s/job-5", f->root);
  write_text(job_file, "a file\n");
  expect_create_refused(f, f->root, "job-5", BW_ERR_UNAVAILABLE, "Not a directory");
  cleanup_free char *text = read_text(job_file);
  assert_string_equal(text, "a file\n");
  assert_int_equal(unlink(job_file), 0);
  /* The owner file cannot be written (a folder holds its name): the folder
   * made so far is removed again, and no temporary file stays. */
  cleanup_free char *owner_dir = bw_strdup_printf("%s/job-5/1.owner", f->root);
  assert_int_equal(mkdir(job_file, 0755), 0);
  assert_int_equal(mkdir(owner_dir, 0755), 0);
  expect_create_refused(f, f->root, "job-5", BW_ERR_UNAVAILABLE, "1.owner");
  expect_listing(f->root, "job-5", "1.owner");
}

/* The job id names a folder under the data root: one that is not valid
 * ("..", a slash, too long, empty) is refused before anything is made. */
static void test_job_ids_that_are_not_valid_are_refused(void **state) {
  fixture *f = *state;
  cleanup_free char *longest = bw_strdup_printf("%0128d", 7);
  cleanup_free char *too_long = bw_strdup_printf("%0129d", 7);
  const char *bad[] = {"../escaped", "..", ".", "", "a/b", "/abs", "job 1", too_long, NULL};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    expect_create_refused(f, f->root, bad[i], BW_ERR_INVALID, "job id");
  assert_int_equal(access(f->root, F_OK), -1); /* not even the root */
  cleanup_free char *escaped = bw_strdup_printf("%s/escaped", f->base);
  assert_int_equal(access(escaped, F_OK), -1);
  data_dir dd;
  create(f, longest, 1, NULL, &dd);
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(data_dir_remove(&dd, &err), 0);
  data_dir_free(&dd);
}

static void test_attempts_share_the_job_folder(void **state) {
  fixture *f = *state;
  data_dir one, two;
  create(f, "job-6", 1, f->owner, &one);
  create(f, "job-6", 2, f->owner, &two);
  expect_listing(f->root, "job-6", "1,1.owner,2,2.owner");
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(data_dir_remove(&one, &err), 0);
  expect_listing(f->root, "job-6", "2,2.owner"); /* stays while an attempt is in it */
  assert_int_equal(data_dir_remove(&two, &err), 0);
  expect_listing(f->root, "", "");
  data_dir_free(&one);
  data_dir_free(&two);
}

static void test_remove_tree_edges(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  cleanup_free char *missing = bw_strdup_printf("%s/missing", f->base);
  assert_int_equal(data_dir_remove_tree(missing, &err), 0);
  cleanup_free char *link = bw_strdup_printf("%s/link", f->base);
  assert_int_equal(symlink(f->outside, link), 0);
  assert_int_equal(data_dir_remove_tree(link, &err), 0); /* the link, not its target */
  assert_int_equal(access(link, F_OK), -1);
  cleanup_free char *file = bw_strdup_printf("%s/file", f->base);
  write_text(file, "x");
  assert_int_equal(data_dir_remove_tree(file, &err), 0);
  check_outside_untouched(f);
}

/* A job's folders nested deeper than PATH_MAX (7 * 4096 bytes of path) and
 * than the worker's fd limit: the removal holds a few fds, not one a level. */
static void test_nesting_deeper_than_the_fd_limit(void **state) {
  fixture *f = *state;
  data_dir dd;
  create(f, "job-7", 1, NULL, &dd);
  cleanup_free char *files = bw_strdup_printf("%s/out/files", dd.path);
  int fd = open(files, O_RDONLY | O_DIRECTORY);
  for (int i = 0; i < 300; i++) {
    char name[104];
    snprintf(name, sizeof(name), "%0100d", i);
    assert_int_equal(mkdirat(fd, name, 0755), 0);
    int next = openat(fd, name, O_RDONLY | O_DIRECTORY);
    close(fd);
    fd = next;
  }
  assert_int_equal(symlinkat(f->outside, fd, "up"), 0);
  close(fd);
  struct rlimit before, low;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &before), 0);
  low = before;
  low.rlim_cur = 128;
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
  cleanup_error bw_error_t err = NULL;
  int rc = data_dir_remove(&dd, &err);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &before), 0);
  if (rc < 0)
    fail_msg("%s", bw_error_msg(&err));
  data_dir_free(&dd);
  expect_listing(f->root, "", "");
  check_outside_untouched(f);
}

/* A worker that is not root runs the container as itself: folders the job
 * made read-only (500, /data itself too) or closed (000) are then the
 * worker's, and go. Run as a child that drops to an unprivileged uid, as
 * such a worker would be. */
static void test_unwritable_folders_of_a_non_root_job(void **state) {
  fixture *f = *state;
  cleanup_free char *tree = bw_strdup_printf("%s/job-8", f->base);
  cleanup_free char *cmd = bw_strdup_printf(
      "cd '%s' && mkdir -p 1/out/files/ro 1/out/files/shut/sub && touch 1/out/files/ro/f "
      "1/out/files/shut/sub/g && chown -R 65534:65534 . && chmod 500 1/out/files/ro 1/out 1 && "
      "chmod 000 1/out/files/shut/sub 1/out/files/shut && chmod 711 '%s'",
      tree, f->base);
  assert_int_equal(mkdir(tree, 0755), 0);
  assert_int_equal(system(cmd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (setgid(65534) < 0 || setuid(65534) < 0)
      _exit(2);
    cleanup_free char *attempt = bw_strdup_printf("%s/1", tree);
    bw_error_t err = NULL;
    int rc = data_dir_remove_tree(attempt, &err);
    bw_error_release(&err);
    _exit(rc == 0 ? 0 : 1);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  expect_listing(tree, "", "");
}

typedef struct seen {
  int calls;
  char folders[4][160];
} seen;

static void collect(void *ctx, const char *folder, const char *owner_path, const json_t *owner) {
  seen *s = ctx;
  assert_true(s->calls < 4);
  assert_true(json_is_object(owner));
  assert_int_equal(strlen(owner_path), strlen(folder) + 6);
  assert_string_equal(owner_path + strlen(folder), ".owner");
  snprintf(s->folders[s->calls++], sizeof(s->folders[0]), "%s", folder);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(a, b);
}

static void test_each_owned_reports_owned_folders_and_drops_empty_job_folders(void **state) {
  fixture *f = *state;
  seen s = {0};
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(data_dir_each_owned(f->root, collect, &s, &err), 0); /* no root yet */
  assert_int_equal(s.calls, 0);
  data_dir a, b;
  create(f, "job-a", 1, f->owner, &a);
  create(f, "job-b", 2, f->owner, &b);
  data_dir_free(&a);
  data_dir_free(&b);
  cleanup_free char *cmd = bw_strdup_printf(
      "cd '%s' && mkdir empty-job job-c .hidden && echo '[1]' > job-c/1.owner && "
      "echo '{not json' > job-c/2.owner && : > job-c/3.owner && echo '{}' > job-c/.owner && "
      "echo '{}' > .hidden/1.owner && mkdir '%s/linked' && echo '{}' > '%s/linked/1.owner' && "
      "ln -s '%s/linked' job-link",
      f->root, f->base, f->base, f->base);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(data_dir_each_owned(f->root, collect, &s, &err), 0);
  assert_int_equal(s.calls, 2); /* not arrays, broken or empty files, links, hidden folders */
  qsort(s.folders, (size_t)s.calls, sizeof(s.folders[0]), cmp_str);
  cleanup_free char *want_a = bw_strdup_printf("%s/job-a/1", f->root);
  cleanup_free char *want_b = bw_strdup_printf("%s/job-b/2", f->root);
  assert_string_equal(s.folders[0], want_a);
  assert_string_equal(s.folders[1], want_b);
  expect_listing(f->root, "", ".hidden,job-a,job-b,job-c,job-link"); /* empty-job went */
  cleanup_free char *linked = bw_strdup_printf("%s/linked", f->base);
  expect_listing(linked, "", "1.owner");
  /* A root that cannot be read is an error, not an empty list. */
  cleanup_free char *file_root = bw_strdup_printf("%s/job-a/1/config.json", f->root);
  assert_int_equal(data_dir_each_owned(file_root, collect, &s, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_creates_the_reference_layout),
      T(test_the_owner_file_is_beside_data_not_in_it),
      T(test_remove_leaves_nothing_and_follows_nothing),
      T(test_a_new_try_replaces_a_leftover),
      T(test_what_it_refuses_and_what_a_failure_leaves),
      T(test_job_ids_that_are_not_valid_are_refused),
      T(test_attempts_share_the_job_folder),
      T(test_remove_tree_edges),
      T(test_nesting_deeper_than_the_fd_limit),
      T(test_unwritable_folders_of_a_non_root_job),
      T(test_each_owned_reports_owned_folders_and_drops_empty_job_folders),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "pipeline/data_dir.h"

#include "core/cleanup.h"
#include "job/job_request.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void data_dir_free(data_dir *dd) {
  if (!dd)
    return;
  free(dd->path);
  free(dd->in_dir);
  free(dd->out_dir);
  free(dd->owner_path);
  memset(dd, 0, sizeof(*dd));
}

static int mkdir_p(const char *path, mode_t mode, bw_error_t *err) {
  cleanup_free char *copy = bw_strdup(path);
  for (char *p = copy + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
      return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "mkdir %s", copy);
    *p = '/';
  }
  if (mkdir(copy, mode) < 0 && errno != EEXIST)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "mkdir %s", copy);
  return 0;
}

/* ---- removal ------------------------------------------------------------------------------
 * The tree is the job's, and its container may still be running: folders can
 * be moved, swapped for links and refilled while they are removed. The walk
 * holds four fds at most whatever the depth (the folder above the tree, the
 * folder being emptied, the one being entered, and its O_PATH while a closed
 * one is opened): it keeps the names and identities of the folders it went
 * through, goes back up by "..", and trusts ".." only when it is the folder
 * it came down from. unlinkat never follows a link, and a name is only ever
 * opened with O_NOFOLLOW. */

/* Races tolerated before the removal gives up on a tree that keeps changing. */
#define REMOVE_RACES_MAX 100

typedef struct walk_level {
  char *name; /* in the folder above */
  dev_t dev;  /* who it was when entered */
  ino_t ino;
} walk_level;

typedef struct tree_walk {
  const char *path; /* the tree as the caller named it, for messages */
  const char *name; /* its last component, in above_fd */
  int above_fd;     /* the folder that holds the tree (stays) */
  walk_level *v;    /* v[0]: the tree; v[n - 1]: the folder being emptied */
  size_t n, cap;
  DIR *cur; /* v[n - 1], open when n > 0 */
  unsigned races;
} tree_walk;

static void walk_reset(tree_walk *w) {
  if (w->cur)
    closedir(w->cur);
  w->cur = NULL;
  while (w->n > 0)
    free(w->v[--w->n].name);
}

static void tree_walk_free(tree_walk *w) {
  walk_reset(w);
  free(w->v);
  if (w->above_fd >= 0)
    close(w->above_fd);
}
#define cleanup_tree_walk __attribute__((cleanup(tree_walk_free)))

/* "PATH/a/b/NAME" for the entry NAME of the folder being emptied. */
static int walk_fail(const tree_walk *w, const char *what, const char *name, int errnum,
                     bw_error_t *err) {
  cleanup_free char *shown = bw_strdup(w->path);
  for (size_t i = 1; i <= w->n; i++) {
    const char *next = i < w->n ? w->v[i].name : name;
    if (!next)
      break;
    char *longer = bw_strdup_printf("%s/%s", shown, next);
    free(shown);
    shown = longer;
  }
  return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errnum, "%s %s", what, shown);
}

/* A folder the worker may not even read (000): opened as a path (O_PATH, a
 * folder, not followed), changed through that fd's /proc entry (as glibc's
 * fchmodat does; fchmod refuses an O_PATH fd), then opened from the fd: a
 * name swapped meanwhile redirects neither. */
static int open_unreadable(int parent_fd, const char *name) {
  cleanup_close int fd = openat(parent_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return -1;
  char proc[64];
  snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
  if (chmod(proc, (st.st_mode & 07777) | S_IRWXU) < 0)
    return -1;
  return openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Opens folder NAME of parent_fd to empty it, made u+rwx first (through the
 * fd, never by name): a job may leave a folder read-only (500) or closed
 * (000), which a worker that is not root could not empty otherwise. A folder
 * that is not the worker's keeps its mode: the unlink in it says why it
 * stays. Returns the fd, or -1 with errno. */
static int open_to_empty(int parent_fd, const char *name, struct stat *st) {
  int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == EACCES && (fd = open_unreadable(parent_fd, name)) < 0)
    errno = EACCES;
  if (fd < 0)
    return -1;
  if (fstat(fd, st) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  if ((st->st_mode & S_IRWXU) != S_IRWXU)
    (void)fchmod(fd, (st->st_mode & 07777) | S_IRWXU); /* fails if not the worker's: see above */
  return fd;
}

/* Goes into folder NAME of the current one (of above_fd when n is 0).
 * Returns 0, 1 when NAME is no longer a folder (a race), -1 on error. */
static int walk_enter(tree_walk *w, const char *name, bw_error_t *err) {
  struct stat st;
  int fd = open_to_empty(w->n ? dirfd(w->cur) : w->above_fd, name, &st);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
      return 1;
    return walk_fail(w, "open", name, errno, err);
  }
  DIR *dir = fdopendir(fd);
  if (!dir) {
    int e = errno;
    close(fd);
    return walk_fail(w, "open", name, e, err);
  }
  if (w->n == w->cap) {
    w->cap = w->cap ? 2 * w->cap : 16;
    w->v = bw_xrealloc(w->v, w->cap * sizeof(*w->v));
  }
  w->v[w->n++] = (walk_level){.name = bw_strdup(name), .dev = st.st_dev, .ino = st.st_ino};
  if (w->cur)
    closedir(w->cur);
  w->cur = dir;
  return 0;
}

/* Unlinks what is not a folder in the current folder. Returns 1 with *sub
 * (the caller frees it) at a folder, 0 once the folder is empty, -1 on error. */
static int walk_scan(tree_walk *w, char **sub, bw_error_t *err) {
  int fd = dirfd(w->cur);
  struct dirent *de;
  for (errno = 0; (de = readdir(w->cur)) != NULL; errno = 0) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (unlinkat(fd, de->d_name, 0) == 0 || errno == ENOENT)
      continue;
    if (errno != EISDIR)
      return walk_fail(w, "unlink", de->d_name, errno, err);
    *sub = bw_strdup(de->d_name);
    return 1;
  }
  if (errno != 0)
    return walk_fail(w, "read", NULL, errno, err);
  return 0;
}

/* The current folder is empty: goes up to the folder above, which must be
 * the one the walk came down from (else the job moved the folder: the walk
 * starts again from the top), and removes it there. Returns 0, 1 on a race,
 * -1 on error. */
static int walk_leave(tree_walk *w, bw_error_t *err) {
  int up_fd = w->above_fd;
  DIR *up = NULL;
  if (w->n >= 2) {
    const walk_level *want = &w->v[w->n - 2];
    struct stat st;
    int fd = openat(dirfd(w->cur), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT)
      return walk_fail(w, "open .. of", NULL, errno, err);
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_dev != want->dev || st.st_ino != want->ino ||
        !(up = fdopendir(fd))) {
      if (fd >= 0)
        close(fd);
      walk_reset(w);
      return 1;
    }
    up_fd = fd;
  }
  closedir(w->cur);
  w->cur = up;
  char *name = w->v[--w->n].name;
  int rc = unlinkat(up_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
  if (rc < 0 && (errno == ENOTEMPTY || errno == EEXIST || errno == ENOTDIR))
    rc = 1; /* refilled, or swapped for a link or a file: the scan above meets it again */
  else if (rc < 0)
    walk_fail(w, "rmdir", name, errno, err);
  free(name);
  return rc;
}

/* Removes w->name from above_fd, whatever it is. */
static int walk_run(tree_walk *w, bw_error_t *err) {
  for (;;) {
    int rc;
    if (w->n == 0) {
      if (unlinkat(w->above_fd, w->name, 0) == 0 || errno == ENOENT)
        return 0;
      if (errno != EISDIR)
        return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "unlink %s", w->path);
      rc = walk_enter(w, w->name, err);
    } else {
      cleanup_free char *sub = NULL;
      rc = walk_scan(w, &sub, err);
      if (rc == 0)
        rc = walk_leave(w, err);
      else if (rc == 1 && (rc = walk_enter(w, sub, err)) == 1)
        rewinddir(w->cur); /* it changed between the unlink and the open */
    }
    if (rc < 0)
      return -1;
    if (rc == 1 && ++w->races > REMOVE_RACES_MAX)
      return bw_error_set(err, BW_ERR_UNAVAILABLE, "remove %s: it keeps changing (%u races)",
                          w->path, w->races);
  }
}

int data_dir_remove_tree(const char *path, bw_error_t *err) {
  cleanup_free char *above = bw_strdup(path);
  size_t len = strlen(above);
  while (len > 1 && above[len - 1] == '/')
    above[--len] = '\0';
  char *slash = strrchr(above, '/');
  cleanup_tree_walk tree_walk w = {.path = path, .name = slash ? slash + 1 : above, .above_fd = -1};
  if (!*w.name || strcmp(w.name, ".") == 0 || strcmp(w.name, "..") == 0)
    return bw_error_set(err, BW_ERR_INVALID, "remove %s: not a folder's name", path);
  const char *above_path = !slash ? "." : slash == above ? "/" : above;
  if (slash && slash != above)
    *slash = '\0';
  w.above_fd = open(above_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (w.above_fd < 0) {
    if (errno == ENOENT)
      return 0;
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "open %s", above_path);
  }
  return walk_run(&w, err);
}

static int write_json(const char *path, const json_t *doc, bw_error_t *err) {
  if (json_dump_file(doc, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "write %s", path);
  return 0;
}

/* PATH.owner, written whole or not at all (a temporary file renamed). */
static int write_owner(const data_dir *dd, const json_t *owner, bw_error_t *err) {
  cleanup_free char *tmp = bw_strdup_printf("%s.owner.tmp", dd->path);
  if (json_dump_file(owner, tmp, JSON_COMPACT) < 0 || rename(tmp, dd->owner_path) < 0) {
    int e = errno;
    unlink(tmp);
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, e, "write %s", dd->owner_path);
  }
  return 0;
}

int data_dir_create(const char *root, const char *job_id, long attempt, const json_t *config,
                    const json_t *state, uid_t uid, gid_t gid, const json_t *owner, data_dir *out,
                    bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  /* The id names a folder under root: "..", "a/b" and the like would name
   * one elsewhere. */
  if (!job_id_valid(job_id))
    return bw_error_set(
        err, BW_ERR_INVALID,
        "data folder under %s: the job id is not 1 to 128 of [A-Za-z0-9._-] (nor . or ..)", root);
  cleanup_free char *config_path = NULL;
  cleanup_free char *state_path = NULL;
  cleanup_free char *job_root = bw_strdup_printf("%s/%s", root, job_id);
  out->path = bw_strdup_printf("%s/%ld", job_root, attempt);
  out->in_dir = bw_strdup_printf("%s/in", out->path);
  out->out_dir = bw_strdup_printf("%s/out", out->path);
  out->owner_path = bw_strdup_printf("%s.owner", out->path);
  if (data_dir_remove_tree(out->path, err) < 0 || mkdir_p(out->path, 0755, err) < 0)
    goto fail;
  /* Before anything else is in it: a worker that dies from here on leaves a
   * folder whose owner file says whose it was. */
  if (owner && write_owner(out, owner, err) < 0)
    goto fail;
  static const char *const subdirs[] = {"in",  "in/tables",  "in/files",
                                        "out", "out/tables", "out/files"};
  for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
    cleanup_free char *p = bw_strdup_printf("%s/%s", out->path, subdirs[i]);
    if (mkdir(p, 0755) < 0) {
      bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "mkdir %s", p);
      goto fail;
    }
  }
  config_path = bw_strdup_printf("%s/config.json", out->path);
  state_path = bw_strdup_printf("%s/in/state.json", out->path);
  if (write_json(config_path, config, err) < 0 || write_json(state_path, state, err) < 0)
    goto fail;
  /* The container's user owns the folder; only root may give it away, and a
   * worker that is not root runs containers as itself (see container user). */
  if (geteuid() == 0) {
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
      cleanup_free char *p = bw_strdup_printf("%s/%s", out->path, subdirs[i]);
      if (chown(p, uid, gid) < 0) {
        bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "chown %s", p);
        goto fail;
      }
    }
    if (chown(out->path, uid, gid) < 0 || chown(config_path, uid, gid) < 0 ||
        chown(state_path, uid, gid) < 0) {
      bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "chown %s", out->path);
      goto fail;
    }
  }
  return 0;
fail:
  bw_error_prefix(err, "data folder %s", out->path);
  data_dir_remove_tree(out->path, NULL);
  if (owner)
    unlink(out->owner_path);
  data_dir_free(out);
  return -1;
}

void data_dir_disown(data_dir *dd) {
  if (dd->owner_path)
    unlink(dd->owner_path);
}

int data_dir_remove(data_dir *dd, bw_error_t *err) {
  if (!dd->path)
    return 0;
  if (data_dir_remove_tree(dd->path, err) < 0)
    return -1;
  data_dir_disown(dd);
  /* The job's folder goes too when this was its last attempt folder. */
  cleanup_free char *parent = bw_strdup(dd->path);
  char *slash = strrchr(parent, '/');
  if (slash) {
    *slash = '\0';
    rmdir(parent); /* fails harmlessly while other attempts' folders remain */
  }
  return 0;
}

int data_dir_each_owned(const char *root, data_dir_owned_fn fn, void *ctx, bw_error_t *err) {
  DIR *top = opendir(root);
  if (!top) {
    if (errno == ENOENT)
      return 0;
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "open %s", root);
  }
  struct dirent *job;
  while ((job = readdir(top)) != NULL) {
    if (job->d_name[0] == '.')
      continue;
    cleanup_free char *job_dir = bw_strdup_printf("%s/%s", root, job->d_name);
    int fd = open(job_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      continue;
    DIR *attempts = fdopendir(fd);
    if (!attempts) {
      close(fd);
      continue;
    }
    struct dirent *a;
    while ((a = readdir(attempts)) != NULL) {
      size_t n = strlen(a->d_name);
      if (n <= 6 || strcmp(a->d_name + n - 6, ".owner") != 0)
        continue;
      cleanup_free char *owner_path = bw_strdup_printf("%s/%s", job_dir, a->d_name);
      cleanup_free char *folder = bw_strdup_bytes(owner_path, strlen(owner_path) - 6);
      json_error_t jerr;
      cleanup_json json_t *owner = json_load_file(owner_path, 0, &jerr);
      if (json_is_object(owner))
        fn(ctx, folder, owner_path, owner);
    }
    closedir(attempts);
    rmdir(job_dir); /* a job folder left empty goes too; one in use stays */
  }
  closedir(top);
  return 0;
}

#include "core/disk_usage.h"

#include "core/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct walk {
  disk_usage *u;
  int64_t stop_above;
} walk;

static bool done(const walk *w) {
  return w->u->unmeasurable || (w->stop_above > 0 && w->u->bytes > w->stop_above);
}

static void unmeasurable(walk *w, const char *why, const char *rel) {
  w->u->unmeasurable = why;
  if (snprintf(w->u->where, sizeof(w->u->where), "%s", rel) >= (int)sizeof(w->u->where))
    memcpy(w->u->where + sizeof(w->u->where) - 4, "...", 4);
}

static int64_t cost_of(const struct stat *st) {
  int64_t allocated = (int64_t)st->st_blocks * 512;
  int64_t apparent = S_ISREG(st->st_mode) ? (int64_t)st->st_size : 0;
  return allocated > apparent ? allocated : apparent;
}

/* Walks the open folder dirfd (taken: closed here). rel names it for messages. */
static void walk_dir(walk *w, int dirfd, const char *rel, int depth) {
  DIR *d = fdopendir(dirfd);
  if (!d) {
    close(dirfd);
    unmeasurable(w, "a folder that cannot be read", rel);
    return;
  }
  struct dirent *e;
  while (!done(w) && (errno = 0, e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (++w->u->entries > DISK_USAGE_MAX_ENTRIES) {
      unmeasurable(w, "more than 1000000 files and folders", rel);
      break;
    }
    struct stat st;
    if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT)
        continue; /* removed meanwhile */
      unmeasurable(w, "an entry that cannot be examined", rel);
      break;
    }
    w->u->bytes += cost_of(&st);
    if (!S_ISDIR(st.st_mode))
      continue;
    char child_rel[sizeof(w->u->where)];
    if (snprintf(child_rel, sizeof(child_rel), "%s%s%s", rel, *rel ? "/" : "", e->d_name) >=
        (int)sizeof(child_rel))
      memcpy(child_rel + sizeof(child_rel) - 4, "...", 4); /* a path for messages only */
    if (depth + 1 > DISK_USAGE_MAX_DEPTH) {
      unmeasurable(w, "folders nested deeper than 64 levels", child_rel);
      break;
    }
    int child = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0) {
      if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
        continue; /* gone, or replaced by a link or a file since the stat: counted */
      unmeasurable(w, "a folder that cannot be opened", child_rel);
      break;
    }
    walk_dir(w, child, child_rel, depth + 1);
  }
  closedir(d);
}

int disk_usage_measure(const char *path, int64_t stop_above, disk_usage *out, bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "disk usage of %s", path);
  walk w = {.u = out, .stop_above = stop_above};
  walk_dir(&w, fd, "", 0);
  return 0;
}

bool disk_usage_over(const disk_usage *u, int64_t limit) {
  return u->unmeasurable != NULL || (limit > 0 && u->bytes > limit);
}

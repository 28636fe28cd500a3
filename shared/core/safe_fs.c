#include "core/safe_fs.h"

#include "core/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* The end of path's first ".." component, or NULL. */
static const char *first_dotdot(const char *path) {
  for (const char *c = path;; c++) {
    const char *end = strchrnul(c, '/');
    if (end - c == 2 && c[0] == '.' && c[1] == '.')
      return end;
    if (!*end)
      return NULL;
    c = end;
  }
}

int safe_fs_open_parent(int root_fd, const char *path, int *dir_fd, const char **base,
                        int *bad_errno, char **bad_prefix) {
  *bad_prefix = NULL;
  const char *dotdot = first_dotdot(path);
  if (dotdot) { /* refused before anything is made */
    *bad_errno = EINVAL;
    *bad_prefix = bw_strdup_bytes(path, (size_t)(dotdot - path));
    return -1;
  }
  cleanup_free char *copy = bw_strdup(path);
  int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    *bad_errno = errno;
    *bad_prefix = bw_strdup(".");
    return -1;
  }
  char *comp = copy;
  char *slash;
  while ((slash = strchr(comp, '/'))) {
    *slash = '\0';
    int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT) {
      if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
        *bad_errno = errno;
        close(fd);
        *bad_prefix = bw_strdup(copy);
        return -1;
      }
      next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    int e = errno;
    close(fd);
    if (next < 0) {
      *bad_errno = e;
      *bad_prefix = bw_strdup(copy);
      return -1;
    }
    fd = next;
    *slash = '/';
    comp = slash + 1;
  }
  *dir_fd = fd;
  *base = path + (comp - copy);
  return 0;
}

int safe_fs_open_temp(int dir_fd, const char *tag, char name[64], bw_error_t *err) {
  for (int tries = 0; tries < 16; tries++) {
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
      rnd = (uint64_t)getpid() << 32 ^ (uint64_t)tries;
    snprintf(name, 64, ".bw-%.24s-%016" PRIx64 ".part", tag, rnd);
    int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0)
      return fd;
    if (errno != EEXIST)
      return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "create a temporary file");
  }
  return bw_error_set(err, BW_ERR_UNAVAILABLE, "create a temporary file: all names taken");
}

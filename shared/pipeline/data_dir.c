#include "pipeline/data_dir.h"

#include "core/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* Removes everything below dirfd, then nothing else: unlinkat never follows. */
static int remove_below(int dirfd, const char *shown, bw_error_t *err) {
  DIR *dir = fdopendir(dirfd);
  if (!dir) {
    close(dirfd);
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "open %s", shown);
  }
  int rc = 0;
  struct dirent *de;
  while (rc == 0 && (de = readdir(dir)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    struct stat st;
    if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        rc = bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "open %s/%s", shown, de->d_name);
        break;
      }
      cleanup_free char *sub_shown = bw_strdup_printf("%s/%s", shown, de->d_name);
      rc = remove_below(sub, sub_shown, err);
      if (rc == 0 && unlinkat(dirfd, de->d_name, AT_REMOVEDIR) < 0)
        rc = bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "rmdir %s", sub_shown);
    } else if (unlinkat(dirfd, de->d_name, 0) < 0 && errno != ENOENT) {
      rc = bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "unlink %s/%s", shown, de->d_name);
    }
  }
  closedir(dir); /* closes dirfd */
  return rc;
}

int data_dir_remove_tree(const char *path, bw_error_t *err) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    if (errno == ENOTDIR || errno == ELOOP) {
      if (unlink(path) < 0)
        return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "unlink %s", path);
      return 0;
    }
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "open %s", path);
  }
  if (remove_below(fd, path, err) < 0)
    return -1;
  if (rmdir(path) < 0 && errno != ENOENT)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "rmdir %s", path);
  return 0;
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

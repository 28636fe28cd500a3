/* The walk of out/: what may be uploaded, and why the rest may not
 * (outputs_walk.h). */
#include "pipeline/outputs_walk.h"

#include "core/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- small helpers ---------------------------------------------------------------------- */

/* Messages quote the job's bytes (JSON error excerpts, names): keep them
 * printable ASCII so they travel safely in JSON events and logs. */
static void make_printable(char *s) {
  for (unsigned char *c = (unsigned char *)s; *c; c++)
    if (*c < 0x20 || *c >= 0x7f)
      *c = '?';
}

static bool name_is_printable_utf8(const char *name) {
  for (const unsigned char *c = (const unsigned char *)name; *c; c++)
    if (*c < 0x20 || *c == 0x7f)
      return false;
  json_t *probe = json_string(name); /* NULL when not valid UTF-8 */
  json_decref(probe);
  return probe != NULL;
}

static bool has_manifest_suffix(const char *name) {
  size_t len = strlen(name);
  return len > MANIFEST_SUFFIX_LEN &&
         strcmp(name + len - MANIFEST_SUFFIX_LEN, MANIFEST_SUFFIX) == 0;
}

static int entry_cmp(const void *a, const void *b) {
  return strcmp(((const dir_entry *)a)->name, ((const dir_entry *)b)->name);
}

static long find_entry(const dir_entry *entries, size_t n, const char *name) {
  dir_entry key = {.name = (char *)name};
  const dir_entry *hit = bsearch(&key, entries, n, sizeof(*entries), entry_cmp);
  return hit ? (long)(hit - entries) : -1;
}

/* The index of the entry whose sidecar entries[i] is, or -1. */
static long sidecar_owner(const dir_entry *entries, size_t n, size_t i) {
  const char *name = entries[i].name;
  if (!has_manifest_suffix(name))
    return -1;
  cleanup_free char *stem = strndup(name, strlen(name) - MANIFEST_SUFFIX_LEN);
  if (!stem)
    abort();
  return find_entry(entries, n, stem);
}

static void free_entries(dir_entry *entries, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(entries[i].name);
  free(entries);
}

void outputs_free_planned(planned *items, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(items[i].rel);
    json_decref(items[i].manifest);
  }
  free(items);
}

static void refuse(walk *w, const char *rel, const char *reason) {
  if (w->opts->on_refused)
    w->opts->on_refused(w->opts->ctx, rel, reason);
}

/* Reads a small regular file at dirfd/name without following a symlink and
 * without opening anything that is not a regular file (opening a device can
 * have effects). */
int outputs_read_small_file(int dirfd, const char *name, size_t cap, char **data, size_t *len,
                            bw_error_t *err) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return bw_error_set_errno(err, errno == ENOENT ? BW_ERR_USER : BW_ERR_UNAVAILABLE, errno,
                              "stat");
  if (S_ISLNK(st.st_mode))
    return bw_error_set(err, BW_ERR_USER, "a symbolic link (not followed)");
  if (!S_ISREG(st.st_mode))
    return bw_error_set(err, BW_ERR_USER, "not a regular file");
  if ((uint64_t)st.st_size > cap)
    return bw_error_set(err, BW_ERR_USER, "larger than %zu bytes", cap);
  cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return bw_error_set_errno(err, errno == ELOOP ? BW_ERR_USER : BW_ERR_UNAVAILABLE, errno,
                              "open");
  struct stat again;
  if (fstat(fd, &again) < 0 || !S_ISREG(again.st_mode) || again.st_ino != st.st_ino)
    return bw_error_set(err, BW_ERR_USER, "changed while being read");
  cleanup_free char *buf = bw_xmalloc(cap + 1);
  size_t got = 0;
  for (;;) {
    ssize_t n = read(fd, buf + got, cap + 1 - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "read");
    if (n == 0)
      break;
    got += (size_t)n;
    if (got > cap)
      return bw_error_set(err, BW_ERR_USER, "larger than %zu bytes", cap);
  }
  buf[got] = '\0';
  *data = steal_pointer(&buf);
  *len = got;
  return 0;
}

static const char *json_type_name(const json_t *j) {
  switch (json_typeof(j)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "something else";
}

/* One JSON object; the shared rule of manifests and state.json. */
int outputs_parse_object(const char *data, size_t len, json_t **out, bw_error_t *err) {
  *out = NULL;
  if (memchr(data, '\0', len))
    return bw_error_set(err, BW_ERR_USER, "contains a NUL byte");
  json_error_t je;
  /* JSON_DECODE_ANY: so that "42" is "not an object" rather than a syntax error. */
  json_t *doc = json_loadb(data, len, JSON_DECODE_ANY, &je);
  if (!doc) {
    char text[sizeof(je.text)];
    snprintf(text, sizeof(text), "%s", je.text);
    make_printable(text);
    return bw_error_set(err, BW_ERR_USER, "invalid JSON at line %d, column %d: %s", je.line,
                        je.column, text);
  }
  if (!json_is_object(doc)) {
    const char *type = json_type_name(doc);
    json_decref(doc);
    return bw_error_set(err, BW_ERR_USER, "must be a JSON object, not %s", type);
  }
  *out = doc;
  return 0;
}

int outputs_manifest_parse(const char *data, size_t len, json_t **out, bw_error_t *err) {
  return outputs_parse_object(data, len, out, err);
}

/* ---- the walk --------------------------------------------------------------------------- */

static int list_dir(walk *w, int dirfd, dir_entry **out, size_t *count, bw_error_t *err) {
  *out = NULL;
  *count = 0;
  int fd = dup(dirfd);
  if (fd < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "dup");
  DIR *d = fdopendir(fd);
  if (!d) {
    int e = errno;
    close(fd);
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, e, "opendir");
  }
  dir_entry *entries = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *de;
  for (errno = 0; (de = readdir(d)); errno = 0) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (++w->entries > w->max_files) {
      rc = bw_error_set(err, BW_ERR_USER,
                        "more than %zu entries (files, folders and refused entries count)",
                        w->max_files);
      break;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      entries = bw_xrealloc(entries, cap * sizeof(*entries));
    }
    entries[n++] = (dir_entry){.name = bw_strdup(de->d_name)};
  }
  if (rc == 0 && errno != 0)
    rc = bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "readdir");
  closedir(d);
  if (rc < 0) {
    free_entries(entries, n);
    return -1;
  }
  if (n > 0)
    qsort(entries, n, sizeof(*entries), entry_cmp);
  for (size_t i = 0; i < n; i++)
    if (fstatat(dirfd, entries[i].name, &entries[i].st, AT_SYMLINK_NOFOLLOW) < 0)
      entries[i].stat_errno = errno;
  *out = entries;
  *count = n;
  return 0;
}

/* Loads the sidecar of entries[owner], if it has one. A bad manifest is
 * reported and leaves *manifest NULL: the data is kept without it. */
static void load_sidecar(walk *w, int dirfd, const dir_entry *entries, size_t n, size_t owner,
                         const char *rel_owner, json_t **manifest) {
  *manifest = NULL;
  cleanup_free char *name = bw_strdup_printf("%s" MANIFEST_SUFFIX, entries[owner].name);
  if (find_entry(entries, n, name) < 0)
    return;
  cleanup_free char *rel = bw_strdup_printf("%s" MANIFEST_SUFFIX, rel_owner);
  cleanup_error bw_error_t err = NULL;
  cleanup_free char *data = NULL;
  size_t len = 0;
  if (outputs_read_small_file(dirfd, name, OUTPUTS_MANIFEST_MAX_BYTES, &data, &len, &err) == 0)
    outputs_parse_object(data, len, manifest, &err);
  if (err) {
    cleanup_free char *reason =
        bw_strdup_printf("invalid manifest (%s stored without it): %s", rel_owner, err->msg);
    refuse(w, rel, reason);
  }
}

/* Refuses entries[i] and, with it, its sidecar if it has one. */
static void refuse_entry(walk *w, const dir_entry *entries, size_t n, size_t i, const char *rel,
                         const char *reason) {
  refuse(w, rel, reason);
  cleanup_free char *sidecar = bw_strdup_printf("%s" MANIFEST_SUFFIX, entries[i].name);
  if (find_entry(entries, n, sidecar) >= 0) {
    cleanup_free char *rel_sidecar = bw_strdup_printf("%s" MANIFEST_SUFFIX, rel);
    refuse(w, rel_sidecar, "manifest of a refused entry");
  }
}

static const char *special_file_reason(mode_t mode) {
  if (S_ISFIFO(mode))
    return "a fifo (not read)";
  if (S_ISSOCK(mode))
    return "a socket (not read)";
  if (S_ISCHR(mode))
    return "a character device (not opened)";
  if (S_ISBLK(mode))
    return "a block device (not opened)";
  return "not a regular file";
}

static int plan_file(walk *w, const char *rel, const struct stat *st, json_t *manifest,
                     bw_error_t *err) {
  if (w->opts->max_total_bytes > 0 && st->st_size > w->opts->max_total_bytes - w->total_bytes) {
    json_decref(manifest);
    return bw_error_set(err, BW_ERR_USER, "larger than %" PRId64 " bytes in total",
                        w->opts->max_total_bytes);
  }
  w->total_bytes += st->st_size;
  if (w->count == w->cap) {
    w->cap = w->cap ? w->cap * 2 : 16;
    w->items = bw_xrealloc(w->items, w->cap * sizeof(*w->items));
  }
  w->items[w->count++] = (planned){.rel = bw_strdup(rel),
                                   .size = st->st_size,
                                   .dev = st->st_dev,
                                   .ino = st->st_ino,
                                   .manifest = manifest};
  return 0;
}

static int walk_dir(walk *w, int dirfd, const char *rel_dir, json_t *inherited, int depth,
                    bw_error_t *err);

static int walk_subdir(walk *w, int dirfd, const dir_entry *entries, size_t n, size_t i,
                       const char *rel, json_t *inherited, int depth, bw_error_t *err) {
  if (depth >= OUTPUTS_MAX_DEPTH) {
    refuse_entry(w, entries, n, i, rel, "folder nested too deep (not walked)");
    return 0;
  }
  cleanup_close int fd =
      openat(dirfd, entries[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    refuse_entry(w, entries, n, i, rel, "folder cannot be opened (not walked)");
    return 0;
  }
  json_t *own = NULL;
  load_sidecar(w, dirfd, entries, n, i, rel, &own);
  int rc = walk_dir(w, fd, rel, own ? own : inherited, depth + 1, err);
  json_decref(own);
  return rc;
}

static int walk_entry(walk *w, int dirfd, const dir_entry *entries, size_t n, size_t i,
                      const char *rel_dir, json_t *inherited, int depth, bw_error_t *err) {
  const dir_entry *e = &entries[i];
  cleanup_free char *rel = bw_strdup_printf("%s/%s", rel_dir, e->name);
  if (!name_is_printable_utf8(e->name)) {
    make_printable(rel);
    refuse(w, rel, "name is not printable UTF-8");
    return 0;
  }
  if (strlen(rel) > OUTPUTS_REL_MAX) {
    refuse(w, rel, "path longer than 800 bytes");
    return 0;
  }
  long owner = sidecar_owner(entries, n, i);
  if (owner >= 0) { /* handled with its owner, unless the owner is a manifest: never an artifact */
    if (has_manifest_suffix(entries[owner].name))
      refuse(w, rel, "manifest of a manifest");
    return 0;
  }
  if (has_manifest_suffix(e->name)) {
    refuse(w, rel, "manifest without its data file");
    return 0;
  }
  if (e->stat_errno) {
    refuse_entry(w, entries, n, i, rel, "cannot be examined (stat failed)");
    return 0;
  }
  mode_t mode = e->st.st_mode;
  if (S_ISLNK(mode)) {
    refuse_entry(w, entries, n, i, rel, "a symbolic link (not followed)");
    return 0;
  }
  if (S_ISDIR(mode))
    return walk_subdir(w, dirfd, entries, n, i, rel, inherited, depth, err);
  if (!S_ISREG(mode)) {
    refuse_entry(w, entries, n, i, rel, special_file_reason(mode));
    return 0;
  }
  if (e->st.st_nlink > 1) {
    refuse_entry(w, entries, n, i, rel, "a file with several hard links (not read)");
    return 0;
  }
  json_t *manifest = NULL;
  load_sidecar(w, dirfd, entries, n, i, rel, &manifest);
  if (!manifest)
    manifest = json_incref(inherited);
  return plan_file(w, rel, &e->st, manifest, err);
}

static int walk_dir(walk *w, int dirfd, const char *rel_dir, json_t *inherited, int depth,
                    bw_error_t *err) {
  dir_entry *entries = NULL;
  size_t n = 0;
  if (list_dir(w, dirfd, &entries, &n, err) < 0)
    return bw_error_prefix(err, "out/%s", rel_dir);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = walk_entry(w, dirfd, entries, n, i, rel_dir, inherited, depth, err);
  free_entries(entries, n);
  return rc;
}

/* out/tables or out/files: missing is fine, anything but a folder is refused. */
int outputs_walk_root(walk *w, int out_fd, const char *name, bw_error_t *err) {
  struct stat st;
  if (fstatat(out_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT)
      return 0;
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "out/%s: stat", name);
  }
  if (S_ISLNK(st.st_mode)) {
    refuse(w, name, "a symbolic link (not followed)");
    return 0;
  }
  if (!S_ISDIR(st.st_mode)) {
    refuse(w, name, "not a folder");
    return 0;
  }
  cleanup_close int fd = openat(out_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "out/%s: open", name);
  return walk_dir(w, fd, name, NULL, 1, err);
}

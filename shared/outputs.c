#include "outputs.h"

#include "cleanup.h"
#include "digest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A path under out/ this long no longer fits a store key with its prefix. */
#define OUTPUTS_REL_MAX 800
#define JOB_ID_MAX 128
#define MANIFEST_SUFFIX ".manifest"
#define MANIFEST_SUFFIX_LEN (sizeof(MANIFEST_SUFFIX) - 1)

typedef struct dir_entry {
  char *name;
  struct stat st;
  int stat_errno; /* 0 when st is valid */
} dir_entry;

/* A file that passed the walk and waits for its upload. */
typedef struct planned {
  char *rel; /* relative to out/: "tables/x.csv" */
  int64_t size;
  dev_t dev;
  ino_t ino;
  json_t *manifest; /* a reference of ours, or NULL */
} planned;

typedef struct walk {
  const outputs_opts *opts;
  size_t max_files;
  size_t entries;
  int64_t total_bytes;
  planned *items;
  size_t count;
  size_t cap;
} walk;

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

static void free_planned(planned *items, size_t n) {
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
static int read_small_file(int dirfd, const char *name, size_t cap, char **data, size_t *len,
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
  cleanup_free char *buf = malloc(cap + 1);
  if (!buf)
    abort();
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
static int parse_object(const char *data, size_t len, json_t **out, bw_error_t *err) {
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
  return parse_object(data, len, out, err);
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
      entries = realloc(entries, cap * sizeof(*entries));
      if (!entries)
        abort();
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
  if (read_small_file(dirfd, name, OUTPUTS_MANIFEST_MAX_BYTES, &data, &len, &err) == 0)
    parse_object(data, len, manifest, &err);
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
    w->items = realloc(w->items, w->cap * sizeof(*w->items));
    if (!w->items)
      abort();
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
static int walk_root(walk *w, int out_fd, const char *name, bw_error_t *err) {
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

/* ---- the uploads ------------------------------------------------------------------------ */

/* Opens out/<rel> again, component by component, never following a link. */
static int open_planned(int out_fd, const char *rel, bw_error_t *err) {
  cleanup_free char *copy = bw_strdup(rel);
  int fd = dup(out_fd);
  if (fd < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "dup");
  char *comp = copy;
  char *slash;
  while ((slash = strchr(comp, '/'))) {
    *slash = '\0';
    int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(fd);
    if (next < 0)
      return bw_error_set_errno(err, BW_ERR_USER, e, "changed while outputs were collected");
    fd = next;
    comp = slash + 1;
  }
  int file = openat(fd, comp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  int e = errno;
  close(fd);
  if (file < 0)
    return bw_error_set_errno(err, BW_ERR_USER, e, "changed while outputs were collected");
  return file;
}

static bool valid_job_id(const char *id) {
  size_t len = id ? strlen(id) : 0;
  if (len == 0 || len > JOB_ID_MAX || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
    return false;
  for (const char *c = id; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
          *c == '.' || *c == '_' || *c == '-'))
      return false;
  return true;
}

static void scan_chunk(void *ctx, const void *data, size_t len) {
  masker_scan_feed(ctx, data, len);
}

static int upload_one(int out_fd, artifact_store *store, const outputs_opts *opts, const planned *p,
                      bw_error_t *err) {
  cleanup_close int fd = open_planned(out_fd, p->rel, err);
  if (fd < 0)
    return -1;
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != p->dev || st.st_ino != p->ino)
    return bw_error_set(err, BW_ERR_USER, "changed while outputs were collected");
  char hex[DIGEST_SHA256_HEX_LEN + 1];
  int64_t size = 0;
  masker_scan scan;
  masker_scan_init(&scan, opts->refuse_secrets);
  if (digest_sha256_fd_each(fd, hex, &size, scan_chunk, &scan, err) < 0)
    return -1;
  if (masker_scan_found(&scan)) {
    if (opts->on_refused)
      opts->on_refused(opts->ctx, p->rel,
                       "it holds one of the job's secrets (artifacts.secrets is refuse): not "
                       "stored");
    return 0;
  }
  if (size != p->size)
    return bw_error_set(err, BW_ERR_USER,
                        "changed while outputs were collected (%" PRId64 " bytes, was %" PRId64 ")",
                        size, p->size);
  cleanup_free char *key = bw_strdup_printf("%s/%d/%s", opts->job_id, opts->attempt, p->rel);
  cleanup_free char *location = NULL;
  if (artifact_store_put_fd(store, key, fd, hex, size, &location, err) < 0)
    return -1;
  cleanup_json json_t *artifact =
      json_pack("{s:s, s:I, s:s, s:s, s:O?}", "path", p->rel, "size", (json_int_t)size, "sha256",
                hex, "location", location, "manifest", p->manifest);
  if (!artifact)
    return bw_error_set(err, BW_ERR_INTERNAL, "cannot build the artifact record");
  if (opts->on_artifact)
    opts->on_artifact(opts->ctx, artifact);
  return 0;
}

int outputs_collect(const char *out_dir, artifact_store *store, const outputs_opts *opts,
                    bw_error_t *err) {
  if (!valid_job_id(opts->job_id) || opts->attempt < 0)
    return bw_error_set(err, BW_ERR_INVALID,
                        "outputs: the job id must be 1 to %d of [A-Za-z0-9._-] and the attempt "
                        ">= 0",
                        JOB_ID_MAX);
  cleanup_close int out_fd = open(out_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (out_fd < 0 && errno == ENOENT)
    return 0;
  if (out_fd < 0 && (errno == ELOOP || errno == ENOTDIR))
    return bw_error_set(err, BW_ERR_USER, "out: a symbolic link or not a folder (not followed)");
  if (out_fd < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "outputs: open %s", out_dir);
  walk w = {.opts = opts,
            .max_files = opts->max_files ? opts->max_files : OUTPUTS_MAX_FILES_DEFAULT};
  int rc = walk_root(&w, out_fd, "tables", err);
  if (rc == 0)
    rc = walk_root(&w, out_fd, "files", err);
  if (rc < 0) {
    free_planned(w.items, w.count);
    return bw_error_prefix(err, "outputs");
  }
  for (size_t i = 0; i < w.count && rc == 0; i++)
    if ((rc = upload_one(out_fd, store, opts, &w.items[i], err)) < 0)
      bw_error_prefix(err, "outputs: out/%s", w.items[i].rel);
  free_planned(w.items, w.count);
  return rc;
}

/* ---- state ------------------------------------------------------------------------------ */

int outputs_read_state(const char *out_dir, json_t **state, bw_error_t *err) {
  *state = NULL;
  cleanup_close int out_fd = open(out_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (out_fd < 0 && errno == ENOENT)
    return 0;
  if (out_fd < 0 && (errno == ELOOP || errno == ENOTDIR))
    return bw_error_set(err, BW_ERR_USER, "out: a symbolic link or not a folder (not followed)");
  if (out_fd < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "outputs: open %s", out_dir);
  struct stat st;
  if (fstatat(out_fd, "state.json", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
    return 0;
  cleanup_free char *data = NULL;
  size_t len = 0;
  if (read_small_file(out_fd, "state.json", OUTPUTS_STATE_MAX_BYTES, &data, &len, err) < 0)
    return bw_error_prefix(err, "out/state.json");
  if (parse_object(data, len, state, err) < 0)
    return bw_error_prefix(err, "out/state.json");
  return 0;
}

/* ---- secrets in the state ---------------------------------------------------------------- */

static bool text_leaks(const masker *m, const char *s, size_t len) {
  return masker_contains(m, s, len);
}

static bool value_leaks(const json_t *v, const masker *m, const char *path, char **where) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    const char *key;
    json_t *item;
    json_object_foreach((json_t *)v, key, item) {
      cleanup_free char *child = bw_strdup_printf("%s.%s", path, key);
      if (text_leaks(m, key, strlen(key))) {
        /* the key itself: name the object, not the key */
        *where = bw_strdup(path);
        return true;
      }
      if (key[0] == '#')
        continue; /* a secret of the state's own, marked as one */
      if (value_leaks(item, m, child, where))
        return true;
    }
    return false;
  }
  case JSON_ARRAY: {
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
      cleanup_free char *child = bw_strdup_printf("%s[%zu]", path, i);
      if (value_leaks(item, m, child, where))
        return true;
    }
    return false;
  }
  case JSON_STRING:
    if (!text_leaks(m, json_string_value(v), json_string_length(v)))
      return false;
    break;
  case JSON_INTEGER:
  case JSON_REAL: {
    cleanup_free char *text = json_dumps(v, JSON_ENCODE_ANY);
    if (!text || !text_leaks(m, text, strlen(text)))
      return false;
    break;
  }
  default:
    return false;
  }
  *where = bw_strdup(path);
  return true;
}

bool outputs_state_leaks(const json_t *state, const masker *m, char **where) {
  *where = NULL;
  if (!state || !m)
    return false;
  return value_leaks(state, m, "state", where);
}

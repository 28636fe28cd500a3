#include "pipeline/outputs.h"

#include "pipeline/outputs_walk.h"

#include "core/cleanup.h"
#include "core/thread.h"
#include "core/ident.h"
#include "core/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* out/, opened without following a link; *fd stays -1 when there is none. */
static int open_out_dir(const char *out_dir, int *fd, bw_error_t *err) {
  *fd = open(out_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (*fd >= 0 || errno == ENOENT)
    return 0;
  if (errno == ELOOP || errno == ENOTDIR)
    return bw_error_set(err, BW_ERR_USER, "out: a symbolic link or not a folder (not followed)");
  return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "outputs: open %s", out_dir);
}

static int scan_chunk(void *ctx, const void *data, size_t len, bw_error_t *err) {
  masker_scan_feed(ctx, data, len);
  return 0;
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
  artifact_stored stored = {0};
  if (artifact_store_put_fd(store, key, fd, hex, size, &stored, err) < 0)
    return -1;
  cleanup_json json_t *artifact =
      json_pack("{s:s, s:I, s:s, s:s, s:s?, s:s?, s:O?}", "path", p->rel, "size", (json_int_t)size,
                "sha256", hex, "location", stored.location, "etag", stored.etag, "version_id",
                stored.version_id, "manifest", p->manifest);
  artifact_stored_free(&stored);
  if (!artifact)
    return bw_error_set(err, BW_ERR_INTERNAL, "cannot build the artifact record");
  if (opts->on_artifact)
    opts->on_artifact(opts->ctx, artifact);
  return 0;
}

/* The uploads of one collection, on opts->parallel threads. */
typedef struct upload_pool {
  int out_fd;
  artifact_store *store;
  const outputs_opts *caller; /* the callbacks, called under lock */
  outputs_opts opts;          /* the caller's, with the locked callbacks */
  const walk *w;
  pthread_mutex_t lock; /* guards next, failure and the caller's callbacks */
  size_t next;
  bw_error_t failure;
} upload_pool;

static void locked_on_artifact(void *ctx, const json_t *artifact) {
  upload_pool *pool = ctx;
  pthread_mutex_lock(&pool->lock);
  if (pool->caller->on_artifact)
    pool->caller->on_artifact(pool->caller->ctx, artifact);
  pthread_mutex_unlock(&pool->lock);
}

static void locked_on_refused(void *ctx, const char *path, const char *reason) {
  upload_pool *pool = ctx;
  pthread_mutex_lock(&pool->lock);
  if (pool->caller->on_refused)
    pool->caller->on_refused(pool->caller->ctx, path, reason);
  pthread_mutex_unlock(&pool->lock);
}

static void *upload_worker(void *arg) {
  upload_pool *pool = arg;
  for (;;) {
    pthread_mutex_lock(&pool->lock);
    bool stop = pool->failure || pool->next >= pool->w->count;
    size_t i = pool->next++;
    pthread_mutex_unlock(&pool->lock);
    if (stop)
      return NULL;
    bw_error_t err = NULL;
    const planned *p = &pool->w->items[i];
    if (upload_one(pool->out_fd, pool->store, &pool->opts, p, &err) == 0)
      continue;
    bw_error_prefix(&err, "outputs: out/%s", p->rel);
    pthread_mutex_lock(&pool->lock);
    if (!pool->failure)
      pool->failure = steal_pointer(&err);
    pthread_mutex_unlock(&pool->lock);
    bw_error_release(&err);
  }
}

static int upload_all(int out_fd, artifact_store *store, const outputs_opts *opts, const walk *w,
                      bw_error_t *err) {
  int threads = opts->parallel > 1 ? opts->parallel : 1;
  if ((size_t)threads > w->count)
    threads = (int)w->count;
  upload_pool pool = {.out_fd = out_fd, .store = store, .caller = opts, .opts = *opts, .w = w};
  pool.opts.on_artifact = locked_on_artifact;
  pool.opts.on_refused = locked_on_refused;
  pool.opts.ctx = &pool;
  pthread_mutex_init(&pool.lock, NULL);
  pthread_t ids[OUTPUTS_PARALLEL_MAX];
  if (threads > OUTPUTS_PARALLEL_MAX)
    threads = OUTPUTS_PARALLEL_MAX;
  int started = 0;
  /* The calling thread is one of the uploaders; a thread that cannot start
   * only means fewer at once. */
  for (int i = 1; i < threads; i++)
    if (bw_thread_start(&ids[started], upload_worker, &pool) == 0)
      started++;
  upload_worker(&pool);
  for (int i = 0; i < started; i++)
    pthread_join(ids[i], NULL);
  pthread_mutex_destroy(&pool.lock);
  if (!pool.failure)
    return 0;
  bw_error_release(err);
  *err = pool.failure;
  return -1;
}

int outputs_collect(const char *out_dir, artifact_store *store, const outputs_opts *opts,
                    bw_error_t *err) {
  if (!bw_id_valid(opts->job_id, JOB_ID_MAX) || opts->attempt < 0)
    return bw_error_set(err, BW_ERR_INVALID,
                        "outputs: the job id must be 1 to %d of [A-Za-z0-9._-] and the attempt "
                        ">= 0",
                        JOB_ID_MAX);
  cleanup_close int out_fd = -1;
  if (open_out_dir(out_dir, &out_fd, err) < 0)
    return -1;
  if (out_fd < 0)
    return 0; /* no out/: nothing to do */
  walk w = {.opts = opts,
            .max_files = opts->max_files ? opts->max_files : OUTPUTS_MAX_FILES_DEFAULT};
  int rc = outputs_walk_root(&w, out_fd, "tables", err);
  if (rc == 0)
    rc = outputs_walk_root(&w, out_fd, "files", err);
  if (rc < 0) {
    outputs_free_planned(w.items, w.count);
    return bw_error_prefix(err, "outputs");
  }
  rc = upload_all(out_fd, store, opts, &w, err);
  outputs_free_planned(w.items, w.count);
  return rc;
}

/* ---- state ------------------------------------------------------------------------------ */

int outputs_read_state(const char *out_dir, json_t **state, bw_error_t *err) {
  *state = NULL;
  cleanup_close int out_fd = -1;
  if (open_out_dir(out_dir, &out_fd, err) < 0)
    return -1;
  if (out_fd < 0)
    return 0; /* no out/: nothing to do */
  struct stat st;
  if (fstatat(out_fd, "state.json", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
    return 0;
  cleanup_free char *data = NULL;
  size_t len = 0;
  if (outputs_read_small_file(out_fd, "state.json", OUTPUTS_STATE_MAX_BYTES, &data, &len, err) < 0)
    return bw_error_prefix(err, "out/state.json");
  if (outputs_parse_object(data, len, state, err) < 0)
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

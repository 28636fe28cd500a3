/* s3:// inputs (inputs_internal.h): read with the worker's S3 client, with
 * the same checks as any input (max_bytes, sha256, a path inside in/). */
#include "pipeline/inputs_internal.h"

#include "core/cleanup.h"
#include "core/digest.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A prefix with more objects than this is refused: a job's table slices are
 * tens or hundreds, not a bucket's millions. */
#define S3_PREFIX_OBJECTS_MAX 10000

typedef struct s3_fill {
  s3_client *s3;
  const char *bucket;
  const char *key;
  const char *sha256; /* NULL: not checked */
  int64_t max_bytes;  /* 0: no bound */
} s3_fill;

static int fill_from_s3(void *ctx, int fd, bw_error_t *err) {
  s3_fill *f = ctx;
  int64_t max = f->max_bytes > 0 ? f->max_bytes : INT64_MAX;
  char got[DIGEST_SHA256_HEX_LEN + 1];
  if (s3_get_object(f->s3, f->bucket, f->key, fd, max, NULL, got, err) < 0)
    return -1;
  if (f->sha256 && strcasecmp(got, f->sha256) != 0)
    return bw_error_set(err, BW_ERR_USER, "sha256 mismatch: expected %s, got %s", f->sha256, got);
  return 0;
}

/* Every object under the prefix, page by page, each to PATH/<the key's rest>. */
static int fetch_prefix(int in_fd, const job_input *in, s3_fill *f, const char *prefix,
                        bw_error_t *err) {
  size_t fetched = 0;
  cleanup_free char *token = NULL;
  do {
    s3_xml_answer page;
    if (s3_list_page(f->s3, f->bucket, prefix, token, &page, err) < 0) {
      s3_xml_answer_free(&page);
      return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < page.object_count && rc == 0; i++) {
      const s3_xml_object *o = &page.objects[i];
      if (!o->key || strncmp(o->key, prefix, strlen(prefix)) != 0)
        continue; /* a server that lists what it was not asked for */
      const char *rest = o->key + strlen(prefix);
      size_t rest_len = strlen(rest);
      if (rest_len == 0 || rest[rest_len - 1] == '/')
        continue; /* a "folder" marker, not data */
      if (++fetched > S3_PREFIX_OBJECTS_MAX) {
        rc = bw_error_set(err, BW_ERR_USER, "more than %d objects under the prefix",
                          S3_PREFIX_OBJECTS_MAX);
        break;
      }
      cleanup_free char *path = bw_strdup_printf("%s/%s", in->path, rest);
      f->key = o->key;
      if (inputs_store_at(in_fd, path, fill_from_s3, f, err) < 0)
        rc = bw_error_prefix(err, "s3://%s/%.200s", f->bucket, o->key);
    }
    free(token);
    token = page.truncated && page.next_token ? bw_strdup(page.next_token) : NULL;
    bool truncated_without_token = page.truncated && !page.next_token;
    s3_xml_answer_free(&page);
    if (rc < 0)
      return -1;
    if (truncated_without_token)
      return bw_error_set(err, BW_ERR_UNAVAILABLE,
                          "S3 ListObjectsV2: a truncated page without a continuation token");
  } while (token);
  if (fetched == 0)
    return bw_error_set(err, BW_ERR_USER, "no object under the prefix");
  return 0;
}

int inputs_fetch_s3(int in_fd, const job_input *in, int64_t max_bytes, const inputs_options *o,
                    bw_error_t *err) {
  if (!o->s3)
    return bw_error_set(err, BW_ERR_INVALID,
                        "s3:// inputs need the worker's artifacts.s3.* "
                        "settings");
  cleanup_free char *bucket = NULL;
  cleanup_free char *key = NULL;
  if (s3_url_parse(in->url, &bucket, &key, err) < 0) {
    (*err)->kind = BW_ERR_USER;
    return -1;
  }
  s3_fill f = {
      .s3 = o->s3, .bucket = bucket, .key = key, .sha256 = in->sha256, .max_bytes = max_bytes};
  if (inputs_url_is_s3_prefix(in->url))
    return fetch_prefix(in_fd, in, &f, key, err);
  return inputs_store_at(in_fd, in->path, fill_from_s3, &f, err);
}

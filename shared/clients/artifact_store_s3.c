/* s3:// artifact stores (artifact_store_internal.h), over clients/s3_client.h. */
#include "clients/artifact_store_internal.h"

#include "core/cleanup.h"

#include <stdlib.h>
#include <string.h>

int artifact_store_s3_open(artifact_store *s, const bw_config *cfg, const char *url,
                           bw_error_t *err) {
  cleanup_free char *prefix = NULL;
  if (s3_url_parse(url, &s->bucket, &prefix, err) < 0)
    return bw_error_prefix(err, "artifact store");
  size_t len = strlen(prefix);
  while (len > 0 && prefix[len - 1] == '/')
    prefix[--len] = '\0';
  s->prefix = len ? bw_strdup_printf("%s/", prefix) : bw_strdup("");
  s->public_url = bw_strdup_printf("s3://%s%s%.*s", s->bucket, len ? "/" : "", (int)len, prefix);
  if (s3_client_new(cfg, &s->opts, &s->s3, err) < 0)
    return bw_error_prefix(err, "artifact store %s", s->public_url);
  return 0;
}

int artifact_store_s3_put(artifact_store *s, const char *key, int fd, const char *sha256_hex,
                          int64_t size, artifact_stored *out, bw_error_t *err) {
  cleanup_free char *object = bw_strdup_printf("%s%s", s->prefix, key);
  s3_stored stored = {0};
  if (s3_put_file(s->s3, s->bucket, object, fd, size, sha256_hex, &stored, err) < 0)
    return -1;
  if (out) {
    out->location = bw_strdup_printf("s3://%s/%s", s->bucket, object);
    out->etag = steal_pointer(&stored.etag);
    out->version_id = steal_pointer(&stored.version_id);
    out->parts = stored.parts;
  }
  s3_stored_free(&stored);
  return 0;
}

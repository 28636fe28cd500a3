#include "core/digest.h"

#include "core/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Big enough to keep syscalls rare, small enough to live on the stack of a
 * worker thread. */
#define DIGEST_READ_CHUNK (64u * 1024u)

int digest_sha256_init(digest_sha256 *d, bw_error_t *err) {
  d->ctx = EVP_MD_CTX_new();
  if (!d->ctx)
    return bw_error_set(err, BW_ERR_INTERNAL, "sha256: cannot allocate a digest context");
  if (EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1) {
    digest_sha256_free(d);
    return bw_error_set(err, BW_ERR_INTERNAL, "sha256: EVP_DigestInit_ex failed");
  }
  return 0;
}

int digest_sha256_update(digest_sha256 *d, const void *data, size_t len, bw_error_t *err) {
  if (!d->ctx)
    return bw_error_set(err, BW_ERR_INTERNAL, "sha256: update on a context that is not ready");
  if (len > 0 && EVP_DigestUpdate(d->ctx, data, len) != 1)
    return bw_error_set(err, BW_ERR_INTERNAL, "sha256: EVP_DigestUpdate failed");
  return 0;
}

int digest_sha256_final(digest_sha256 *d, unsigned char raw[DIGEST_SHA256_LEN],
                        char hex[DIGEST_SHA256_HEX_LEN + 1], bw_error_t *err) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (!d->ctx)
    return bw_error_set(err, BW_ERR_INTERNAL, "sha256: final on a context that is not ready");
  int ok = EVP_DigestFinal_ex(d->ctx, md, &md_len);
  digest_sha256_free(d); /* spent either way */
  if (ok != 1 || md_len != DIGEST_SHA256_LEN)
    return bw_error_set(err, BW_ERR_INTERNAL, "sha256: EVP_DigestFinal_ex failed");
  if (raw)
    memcpy(raw, md, DIGEST_SHA256_LEN);
  if (hex)
    digest_hex_encode(md, DIGEST_SHA256_LEN, hex);
  return 0;
}

void digest_sha256_free(digest_sha256 *d) {
  if (!d)
    return;
  EVP_MD_CTX_free(d->ctx); /* accepts NULL */
  d->ctx = NULL;
}

int digest_sha256_fd(int fd, char hex[DIGEST_SHA256_HEX_LEN + 1], int64_t *size_out,
                     bw_error_t *err) {
  return digest_sha256_fd_each(fd, hex, size_out, NULL, NULL, err);
}

/* The one read-and-hash loop: with read(2) from the fd's offset (start -1),
 * or with pread(2) from `start`; at most `limit` bytes (-1: to the end). */
typedef struct hash_span {
  int64_t start;
  int64_t limit;
} hash_span;

static int hash_chunks(int fd, hash_span span, unsigned char raw[DIGEST_SHA256_LEN],
                       char hex[DIGEST_SHA256_HEX_LEN + 1], int64_t *size_out, digest_chunk_fn each,
                       void *ctx, bw_error_t *err) {
  cleanup_digest digest_sha256 d = {0};
  if (digest_sha256_init(&d, err) < 0)
    return -1;
  cleanup_free unsigned char *chunk = bw_xmalloc(DIGEST_READ_CHUNK);
  int64_t total = 0;
  for (;;) {
    size_t want = DIGEST_READ_CHUNK;
    if (span.limit >= 0 && span.limit - total < (int64_t)want)
      want = (size_t)(span.limit - total);
    if (want == 0)
      break;
    ssize_t n =
        span.start >= 0 ? pread(fd, chunk, want, span.start + total) : read(fd, chunk, want);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "sha256: read");
    if (n == 0)
      break;
    if (digest_sha256_update(&d, chunk, (size_t)n, err) < 0)
      return -1;
    if (each && each(ctx, chunk, (size_t)n, err) < 0)
      return -1;
    total += n;
  }
  if (digest_sha256_final(&d, raw, hex, err) < 0)
    return -1;
  if (size_out)
    *size_out = total;
  return 0;
}

int digest_sha256_fd_each(int fd, char hex[DIGEST_SHA256_HEX_LEN + 1], int64_t *size_out,
                          digest_chunk_fn each, void *ctx, bw_error_t *err) {
  return hash_chunks(fd, (hash_span){-1, -1}, NULL, hex, size_out, each, ctx, err);
}

int digest_sha256_pread_each(int fd, char hex[DIGEST_SHA256_HEX_LEN + 1], int64_t *size_out,
                             digest_chunk_fn each, void *ctx, bw_error_t *err) {
  return hash_chunks(fd, (hash_span){0, -1}, NULL, hex, size_out, each, ctx, err);
}

int digest_sha256_pread_range(int fd, int64_t start, int64_t len,
                              unsigned char raw[DIGEST_SHA256_LEN],
                              char hex[DIGEST_SHA256_HEX_LEN + 1], int64_t *size_out,
                              digest_chunk_fn each, void *ctx, bw_error_t *err) {
  if (start < 0 || len < 0)
    return bw_error_set(err, BW_ERR_INTERNAL, "sha256: a negative range");
  return hash_chunks(fd, (hash_span){start, len}, raw, hex, size_out, each, ctx, err);
}

int digest_sha256_file(const char *path, char hex[DIGEST_SHA256_HEX_LEN + 1], int64_t *size_out,
                       bw_error_t *err) {
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "sha256 of %s: open", path);
  if (digest_sha256_fd(fd, hex, size_out, err) < 0)
    return bw_error_prefix(err, "sha256 of %s", path);
  return 0;
}

int digest_sha256_buf(const void *data, size_t len, char hex[DIGEST_SHA256_HEX_LEN + 1],
                      bw_error_t *err) {
  cleanup_digest digest_sha256 d = {0};
  if (digest_sha256_init(&d, err) < 0 || digest_sha256_update(&d, data, len, err) < 0)
    return -1;
  return digest_sha256_final(&d, NULL, hex, err);
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool digest_sha256_hex_valid(const char *s) {
  if (!s)
    return false;
  size_t i = 0;
  for (; s[i]; i++)
    if (i >= DIGEST_SHA256_HEX_LEN || hex_value(s[i]) < 0)
      return false;
  return i == DIGEST_SHA256_HEX_LEN;
}

int digest_hex_decode(const char *s, unsigned char raw[DIGEST_SHA256_LEN]) {
  if (!digest_sha256_hex_valid(s))
    return -1;
  for (size_t i = 0; i < DIGEST_SHA256_LEN; i++)
    raw[i] = (unsigned char)(hex_value(s[2 * i]) << 4 | hex_value(s[2 * i + 1]));
  return 0;
}

void digest_hex_encode(const unsigned char *raw, size_t len, char *hex) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    hex[2 * i] = digits[raw[i] >> 4];
    hex[2 * i + 1] = digits[raw[i] & 0x0f];
  }
  hex[2 * len] = '\0';
}

char *digest_base64(const void *data, size_t len) {
  /* EVP_EncodeBlock takes an int length and writes 4 bytes per 3, plus NUL. */
  if (len > (size_t)(INT32_MAX / 4 * 3))
    abort();
  char *out = bw_xmalloc((len + 2) / 3 * 4 + 1);
  EVP_EncodeBlock((unsigned char *)out, data, (int)len);
  return out;
}

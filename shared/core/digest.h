/* SHA-256 and base64 through OpenSSL's libcrypto (EVP), never hand-written.
 * Used to check inputs against the checksum a job gave, and to label and
 * verify what goes to the artifact store. */
#pragma once

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_SHA256_LEN 32
#define DIGEST_SHA256_HEX_LEN 64 /* without the NUL */

typedef struct evp_md_ctx_st digest_evp_ctx; /* OpenSSL's EVP_MD_CTX */

typedef struct digest_sha256 {
  digest_evp_ctx *ctx;
} digest_sha256;

/* Incremental hashing: init, update as data arrives, final once.
 * digest_sha256_free may be called at any point and accepts a zeroed or
 * already freed context. */
int digest_sha256_init(digest_sha256 *d, bw_error_t *err);
int digest_sha256_update(digest_sha256 *d, const void *data, size_t len, bw_error_t *err);
/* Either output may be NULL: raw gets 32 bytes, hex 64 lowercase digits + NUL.
 * The context is spent afterwards (free it, or init it again). */
int digest_sha256_final(digest_sha256 *d, unsigned char raw[DIGEST_SHA256_LEN],
                        char hex[DIGEST_SHA256_HEX_LEN + 1], bw_error_t *err);
void digest_sha256_free(digest_sha256 *d);

/* Hashes what is left to read on fd, through a bounded buffer. size_out (may
 * be NULL) gets the number of bytes read. Reads with read(2): the fd's offset
 * moves to the end. */
int digest_sha256_fd(int fd, char hex[DIGEST_SHA256_HEX_LEN + 1], int64_t *size_out,
                     bw_error_t *err);
/* As digest_sha256_fd, handing every chunk read to each(ctx, ...) too, so a
 * second look at the bytes (a scan for secrets, a copy) costs no second
 * read. each returns 0, or -1 with *err set to stop there. */
typedef int (*digest_chunk_fn)(void *ctx, const void *data, size_t len, bw_error_t *err);
int digest_sha256_fd_each(int fd, char hex[DIGEST_SHA256_HEX_LEN + 1], int64_t *size_out,
                          digest_chunk_fn each, void *ctx, bw_error_t *err);
/* As digest_sha256_fd_each on the whole file from offset 0, with pread(2):
 * the fd's offset stays where it was. each may be NULL. */
int digest_sha256_pread_each(int fd, char hex[DIGEST_SHA256_HEX_LEN + 1], int64_t *size_out,
                             digest_chunk_fn each, void *ctx, bw_error_t *err);
/* The sha256 of at most `len` bytes from offset `start`, with pread(2): one
 * part of a file (S3's multipart uploads). *size_out gets how many bytes
 * there were (fewer than len when the file ends first). raw or hex may be
 * NULL; each (may be NULL) sees every chunk, as in digest_sha256_fd_each. */
int digest_sha256_pread_range(int fd, int64_t start, int64_t len,
                              unsigned char raw[DIGEST_SHA256_LEN],
                              char hex[DIGEST_SHA256_HEX_LEN + 1], int64_t *size_out,
                              digest_chunk_fn each, void *ctx, bw_error_t *err);
/* As digest_sha256_fd on a file opened by path (symlinks are followed: use
 * the fd form on anything a job controls). */
int digest_sha256_file(const char *path, char hex[DIGEST_SHA256_HEX_LEN + 1], int64_t *size_out,
                       bw_error_t *err);
/* One-shot hash of a memory block. */
int digest_sha256_buf(const void *data, size_t len, char hex[DIGEST_SHA256_HEX_LEN + 1],
                      bw_error_t *err);

/* Exactly 64 hex digits (either case)? */
bool digest_sha256_hex_valid(const char *s);
/* 64 hex digits -> 32 bytes; returns -1 when s is not valid. */
int digest_hex_decode(const char *s, unsigned char raw[DIGEST_SHA256_LEN]);
/* Lowercase hex of len bytes into hex (2 * len + 1 bytes). */
void digest_hex_encode(const unsigned char *raw, size_t len, char *hex);
/* Standard base64 with padding and no line breaks (EVP_EncodeBlock);
 * free() the result. */
char *digest_base64(const void *data, size_t len);

static inline void digest_cleanup_sha256p(digest_sha256 *d) {
  digest_sha256_free(d);
}
#define cleanup_digest __attribute__((cleanup(digest_cleanup_sha256p)))

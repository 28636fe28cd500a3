/* The project's one error convention (written down in docs/errors.md):
 *
 *   - every fallible function takes `bw_error_t *err` as its last argument and
 *     returns a negative value (or NULL) on failure, having set *err;
 *   - a caller that passes the failure up adds context with bw_error_prefix(),
 *     so the final message reads outermost-first:
 *       "pull 127.0.0.1:5000/acme/box:1: registry said: manifest unknown";
 *   - whoever handles the error (prints it, turns it into an event) releases
 *     it with bw_error_release();
 *   - the kind says who is at fault, which the pipeline maps to a job status. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

typedef enum bw_error_kind {
  BW_ERR_INTERNAL = 1, /* a bug or resource exhaustion inside the worker */
  BW_ERR_INVALID,      /* bad input: arguments, configuration, a run request */
  BW_ERR_UNAVAILABLE,  /* a service we depend on failed or is unreachable */
  BW_ERR_USER,         /* the job's side: image not found, unauthorized, ... */
  BW_ERR_TIMEOUT,      /* a deadline passed */
  BW_ERR_CANCELLED,    /* stopped on request (signal, cancel command) */
} bw_error_kind;

typedef struct bw_error {
  bw_error_kind kind;
  int sys_errno; /* 0 when no errno applies */
  char *msg;
} bw_error;

typedef bw_error *bw_error_t; /* NULL means "no error" */

/* Sets *err (replacing any earlier error) and returns -1. */
int bw_error_set(bw_error_t *err, bw_error_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As bw_error_set, appending ": strerror(errnum)". */
int bw_error_set_errno(bw_error_t *err, bw_error_kind kind, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds "CONTEXT: " in front of the message; returns -1. */
int bw_error_prefix(bw_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees the error and sets *err to NULL; accepts NULL and an unset error. */
void bw_error_release(bw_error_t *err);

const char *bw_error_kind_name(bw_error_kind kind);
/* The message, or "" when unset: convenient for printing. */
const char *bw_error_msg(const bw_error_t *err);

/* vasprintf that aborts on allocation failure: messages are small and an
 * out-of-memory worker cannot do anything useful anyway. */
char *bw_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *bw_strdup_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
char *bw_strdup(const char *s);
/* A string of `len` bytes that need not end in NUL (Kafka keys, headers):
 * strndup() may read one byte past them. Aborts when out of memory. */
char *bw_strdup_bytes(const void *bytes, size_t len);

/* Checked allocation, in the style of crun's xmalloc: out of memory aborts
 * (nothing in a worker can go on without the memory it asked for). A size
 * of 0 gives a unique pointer, never NULL; bw_xcalloc checks n * size. */
void *bw_xmalloc(size_t size);
void *bw_xcalloc(size_t n, size_t size);
void *bw_xrealloc(void *p, size_t size);

static inline void bw_cleanup_errorp(bw_error_t *err) {
  bw_error_release(err);
}
#define cleanup_error __attribute__((cleanup(bw_cleanup_errorp)))

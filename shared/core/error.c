#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *bw_strdup_vprintf(const char *fmt, va_list ap) {
  char *out = NULL;
  if (vasprintf(&out, fmt, ap) < 0)
    abort();
  return out;
}

char *bw_strdup_printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *out = bw_strdup_vprintf(fmt, ap);
  va_end(ap);
  return out;
}

void *bw_xmalloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p)
    abort();
  return p;
}

void *bw_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p)
    abort();
  return p;
}

void *bw_xrealloc(void *p, size_t size) {
  void *q = realloc(p, size ? size : 1);
  if (!q)
    abort();
  return q;
}

char *bw_strdup(const char *s) {
  char *out = strdup(s ? s : "");
  if (!out)
    abort();
  return out;
}

static int error_store(bw_error_t *err, bw_error_kind kind, int errnum, char *msg) {
  if (!err) {
    free(msg);
    return -1;
  }
  bw_error_release(err);
  bw_error *e = calloc(1, sizeof(*e));
  if (!e)
    abort();
  e->kind = kind;
  e->sys_errno = errnum;
  e->msg = msg;
  *err = e;
  return -1;
}

int bw_error_set(bw_error_t *err, bw_error_kind kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = bw_strdup_vprintf(fmt, ap);
  va_end(ap);
  return error_store(err, kind, 0, msg);
}

int bw_error_set_errno(bw_error_t *err, bw_error_kind kind, int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *head = bw_strdup_vprintf(fmt, ap);
  va_end(ap);
  char *msg = bw_strdup_printf("%s: %s", head, strerror(errnum));
  free(head);
  return error_store(err, kind, errnum, msg);
}

int bw_error_prefix(bw_error_t *err, const char *fmt, ...) {
  if (!err || !*err)
    return -1;
  va_list ap;
  va_start(ap, fmt);
  char *ctx = bw_strdup_vprintf(fmt, ap);
  va_end(ap);
  char *msg = bw_strdup_printf("%s: %s", ctx, (*err)->msg);
  free(ctx);
  free((*err)->msg);
  (*err)->msg = msg;
  return -1;
}

void bw_error_release(bw_error_t *err) {
  if (!err || !*err)
    return;
  free((*err)->msg);
  free(*err);
  *err = NULL;
}

const char *bw_error_kind_name(bw_error_kind kind) {
  switch (kind) {
  case BW_ERR_INTERNAL:
    return "internal";
  case BW_ERR_INVALID:
    return "invalid";
  case BW_ERR_UNAVAILABLE:
    return "unavailable";
  case BW_ERR_USER:
    return "user";
  case BW_ERR_TIMEOUT:
    return "timeout";
  case BW_ERR_CANCELLED:
    return "cancelled";
  }
  return "unknown";
}

const char *bw_error_msg(const bw_error_t *err) {
  return (err && *err && (*err)->msg) ? (*err)->msg : "";
}

char *bw_strdup_bytes(const void *bytes, size_t len) {
  char *s = malloc(len + 1);
  if (!s)
    abort();
  if (len)
    memcpy(s, bytes, len);
  s[len] = '\0';
  return s;
}

/* What the pull locks' integration tests share (test_pull_locks.c,
 * test_pull_locks_outage.c): a key prefix and a Redis connection of the
 * test's own, reading keys back, counting log lines. */
#pragma once

#include "stack_env.h"

#include "core/cleanup.h"
#include "service/pull_locks.h"
#include "clients/redis_store.h"
#include "core/timeutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define HOST "testhost"

/* ---- fixtures ---- */

typedef struct fixture {
  bw_config cfg;
  bw_logger log;
  int log_fd;
  char *prefix;
  redisContext *redis; /* the test's own connection, for checks */
} fixture;

static inline int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  stack_config(&f->cfg);
  f->log_fd = memfd_create("log", 0);
  bw_logger_init(&f->log, BW_LOG_INFO, f->log_fd, "test");
  f->prefix = stack_redis_prefix();
  f->redis = stack_redis_connect(&f->cfg);
  *state = f;
  return 0;
}

static inline int teardown(void **state) {
  fixture *f = *state;
  stack_redis_cleanup(f->redis, f->prefix);
  close(f->log_fd);
  free(f->prefix);
  bw_config_free(&f->cfg);
  free(f);
  return 0;
}

static inline char *lock_key(const fixture *f, const char *image) {
  return bw_strdup_printf("%spull:%s:%s", f->prefix, HOST, image);
}

static inline long long redis_int(redisContext *ctx, const char *cmd, const char *key) {
  cleanup_redis_reply redisReply *r = redisCommand(ctx, "%s %s", cmd, key);
  assert_non_null(r);
  assert_int_equal(r->type, REDIS_REPLY_INTEGER);
  return r->integer;
}

static inline char *redis_get(redisContext *ctx, const char *key) {
  cleanup_redis_reply redisReply *r = redisCommand(ctx, "GET %s", key);
  assert_non_null(r);
  return r->type == REDIS_REPLY_STRING ? bw_strdup(r->str) : NULL;
}

/* How many log lines contain `needle`. */
static inline int log_count(const fixture *f, const char *needle) {
  char buf[65536];
  ssize_t n = pread(f->log_fd, buf, sizeof(buf) - 1, 0);
  assert_true(n >= 0);
  buf[n] = '\0';
  int count = 0;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
    count += strstr(line, needle) != NULL;
  return count;
}

/* Redis through hiredis: connection set-up shared by every Redis user (pull
 * locks, heartbeats, leases). Builds against hiredis 0.14 to 1.2. */
#pragma once

#include "core/config.h"
#include "core/error.h"

#include "core/log.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Connects with the configured timeout, AUTHs and SELECTs as configured. */
int redis_store_connect(const bw_config *cfg, redisContext **out, bw_error_t *err);
void redis_store_close(redisContext *ctx); /* accepts NULL */
/* PING, then INFO server: *version_out = "7.0.15". */
int redis_store_ping(redisContext *ctx, char **version_out, bw_error_t *err);

/* One connection shared by the threads of a module (job leases, pull locks):
 * a mutex around it, a lazy reconnect (at most one attempt per call; after a
 * failed attempt calls fail fast for half a second), a dead idle connection
 * noticed before use, and an outage logged once (warn, with `down_note` saying
 * what it means for the module) and its end once (info). */
typedef struct redis_store_conn {
  const bw_config *cfg;
  const bw_logger *log;
  const char *down_note;
  pthread_mutex_t mu;
  redisContext *ctx;
  bool down;
  int64_t next_connect_ms; /* monotonic */
} redis_store_conn;

void redis_store_conn_init(redis_store_conn *c, const bw_config *cfg, const bw_logger *log,
                           const char *down_note);
void redis_store_conn_destroy(redis_store_conn *c);
/* One command (argv form); NULL with *err set (BW_ERR_UNAVAILABLE) when Redis
 * failed or answered with an error. Free the reply with freeReplyObject. */
redisReply *redis_store_conn_run(redis_store_conn *c, int argc, const char **argv, bw_error_t *err);

static inline void redis_cleanup_contextp(redisContext **c) {
  redis_store_close(*c);
}
#define cleanup_redis __attribute__((cleanup(redis_cleanup_contextp)))
static inline void redis_cleanup_replyp(redisReply **r) {
  if (*r)
    freeReplyObject(*r);
}
#define cleanup_redis_reply __attribute__((cleanup(redis_cleanup_replyp)))

/* Redis through hiredis: connection set-up shared by every Redis user (pull
 * locks, heartbeats, leases). Builds against hiredis 0.14 to 1.2. */
#pragma once

#include "config.h"
#include "error.h"

#include <hiredis/hiredis.h>

/* Connects with the configured timeout, AUTHs and SELECTs as configured. */
int redis_store_connect(const bw_config *cfg, redisContext **out, bw_error_t *err);
void redis_store_close(redisContext *ctx); /* accepts NULL */
/* PING, then INFO server: *version_out = "7.0.15". */
int redis_store_ping(redisContext *ctx, char **version_out, bw_error_t *err);

static inline void redis_cleanup_contextp(redisContext **c) {
  redis_store_close(*c);
}
#define cleanup_redis __attribute__((cleanup(redis_cleanup_contextp)))
static inline void redis_cleanup_replyp(redisReply **r) {
  if (*r)
    freeReplyObject(*r);
}
#define cleanup_redis_reply __attribute__((cleanup(redis_cleanup_replyp)))

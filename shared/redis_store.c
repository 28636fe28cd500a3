#include "redis_store.h"

#include "cleanup.h"

#include <stdlib.h>
#include <string.h>

void redis_store_close(redisContext *ctx) {
  if (ctx)
    redisFree(ctx);
}

static int reply_error(redisContext *ctx, redisReply *reply, const char *what, bw_error_t *err) {
  if (!reply)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "redis %s: %s", what,
                        ctx->errstr[0] ? ctx->errstr : "no reply");
  if (reply->type == REDIS_REPLY_ERROR)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "redis %s: %s", what, reply->str);
  return 0;
}

int redis_store_connect(const bw_config *cfg, redisContext **out, bw_error_t *err) {
  struct timeval tv = {.tv_sec = cfg->redis_timeout_ms / 1000,
                       .tv_usec = (cfg->redis_timeout_ms % 1000) * 1000};
  redisContext *ctx = redisConnectWithTimeout(cfg->redis_host, (int)cfg->redis_port, tv);
  if (!ctx)
    abort();
  if (ctx->err) {
    bw_error_set(err, BW_ERR_UNAVAILABLE, "redis %s:%ld: %s", cfg->redis_host, cfg->redis_port,
                 ctx->errstr);
    redisFree(ctx);
    return -1;
  }
  redisSetTimeout(ctx, tv);
  if (cfg->redis_password && *cfg->redis_password) {
    cleanup_redis_reply redisReply *r = redisCommand(ctx, "AUTH %s", cfg->redis_password);
    if (reply_error(ctx, r, "AUTH", err) < 0) {
      redisFree(ctx);
      return bw_error_prefix(err, "redis %s:%ld", cfg->redis_host, cfg->redis_port);
    }
  }
  if (cfg->redis_db != 0) {
    cleanup_redis_reply redisReply *r = redisCommand(ctx, "SELECT %ld", cfg->redis_db);
    if (reply_error(ctx, r, "SELECT", err) < 0) {
      redisFree(ctx);
      return bw_error_prefix(err, "redis %s:%ld", cfg->redis_host, cfg->redis_port);
    }
  }
  *out = ctx;
  return 0;
}

int redis_store_ping(redisContext *ctx, char **version_out, bw_error_t *err) {
  {
    cleanup_redis_reply redisReply *r = redisCommand(ctx, "PING");
    if (reply_error(ctx, r, "PING", err) < 0)
      return -1;
  }
  cleanup_redis_reply redisReply *info = redisCommand(ctx, "INFO server");
  if (reply_error(ctx, info, "INFO server", err) < 0)
    return -1;
  /* hiredis 1.x may answer INFO as a verbatim string under RESP3; both carry str. */
  const char *text = info->str ? info->str : "";
  const char *v = strstr(text, "redis_version:");
  if (!v)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "redis INFO server: no redis_version");
  v += strlen("redis_version:");
  *version_out = strndup(v, strcspn(v, "\r\n"));
  if (!*version_out)
    abort();
  return 0;
}

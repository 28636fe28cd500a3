#include "clients/redis_store.h"

#include "core/cleanup.h"

#include "core/log.h"
#include "core/timeutil.h"

#include <poll.h>
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

/* ---- one connection shared by threads ---- */

/* After a failed connection attempt, calls fail fast for this long instead of
 * queueing behind the mutex for a connect timeout each. */
#define REDIS_CONN_RETRY_MS 500

void redis_store_conn_init(redis_store_conn *c, const bw_config *cfg, const bw_logger *log,
                           const char *down_note) {
  c->cfg = cfg;
  c->log = log;
  c->down_note = down_note;
  pthread_mutex_init(&c->mu, NULL);
  c->ctx = NULL;
  c->down = false;
  c->next_connect_ms = 0;
}

void redis_store_conn_destroy(redis_store_conn *c) {
  redis_store_close(c->ctx);
  c->ctx = NULL;
  pthread_mutex_destroy(&c->mu);
}

/* An idle connection has nothing to read: readable means the server closed it
 * (restart, client timeout), and a command sent on it would fail. */
static bool conn_idle_ok(redisContext *ctx) {
  if (ctx->err)
    return false;
  struct pollfd p = {.fd = ctx->fd, .events = POLLIN};
  return poll(&p, 1, 0) == 0;
}

static int conn_ready(redis_store_conn *c, bw_error_t *err) {
  if (c->ctx && !conn_idle_ok(c->ctx)) {
    redis_store_close(c->ctx);
    c->ctx = NULL;
  }
  if (c->ctx)
    return 0;
  int64_t now = bw_time_monotonic_ms();
  if (now < c->next_connect_ms)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "redis %s:%ld: unreachable (retrying shortly)",
                        c->cfg->redis_host, c->cfg->redis_port);
  if (redis_store_connect(c->cfg, &c->ctx, err) < 0) {
    c->ctx = NULL;
    c->next_connect_ms = bw_time_monotonic_ms() + REDIS_CONN_RETRY_MS;
    return -1;
  }
  return 0;
}

static void conn_note(redis_store_conn *c, bool ok, bw_error_t *err) {
  if (ok && c->down) {
    c->down = false;
    bw_log_info(c->log, "redis %s:%ld reachable again", c->cfg->redis_host, c->cfg->redis_port);
  } else if (!ok && !c->down) {
    c->down = true;
    bw_log_warn(c->log, "%s; %s", bw_error_msg(err), c->down_note);
  } else if (!ok) {
    bw_log_debug(c->log, "%s", bw_error_msg(err));
  }
}

/* One command; NULL with *err set (BW_ERR_UNAVAILABLE) when Redis failed or
 * answered with an error. At most one connection attempt. */
redisReply *redis_store_conn_run(redis_store_conn *c, int argc, const char **argv,
                                 bw_error_t *err) {
  pthread_mutex_lock(&c->mu);
  redisReply *r = NULL;
  if (conn_ready(c, err) == 0) {
    r = redisCommandArgv(c->ctx, argc, argv, NULL);
    if (!r) {
      bw_error_set(err, BW_ERR_UNAVAILABLE, "redis %s:%ld: %s: %s", c->cfg->redis_host,
                   c->cfg->redis_port, argv[0], c->ctx->errstr[0] ? c->ctx->errstr : "no reply");
      redis_store_close(c->ctx); /* a broken or timed-out connection is never reused */
      c->ctx = NULL;
    } else if (r->type == REDIS_REPLY_ERROR) {
      bw_error_set(err, BW_ERR_UNAVAILABLE, "redis %s: %s", argv[0], r->str);
      freeReplyObject(r);
      r = NULL;
    }
  }
  conn_note(c, r != NULL, err);
  pthread_mutex_unlock(&c->mu);
  return r;
}

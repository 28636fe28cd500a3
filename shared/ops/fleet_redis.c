#include "ops/fleet_redis.h"

#include "core/cleanup.h"

#include <stdlib.h>
#include <string.h>

/* ZRANGE ... WITHSCORES answers id, score, id, score (RESP2), or pairs
 * (RESP3): either way, the i-th id and its score. */
static bool member_at(const redisReply *r, size_t i, const char **id, double *score) {
  const redisReply *idr = NULL, *sr = NULL;
  if (r->elements > 0 && r->element[0]->type == REDIS_REPLY_ARRAY) {
    if (i >= r->elements || r->element[i]->elements != 2)
      return false;
    idr = r->element[i]->element[0];
    sr = r->element[i]->element[1];
  } else {
    if (2 * i + 1 >= r->elements)
      return false;
    idr = r->element[2 * i];
    sr = r->element[2 * i + 1];
  }
  if (idr->type != REDIS_REPLY_STRING)
    return false;
  *id = idr->str;
  if (sr->type == REDIS_REPLY_STRING)
    *score = strtod(sr->str, NULL);
#ifdef REDIS_REPLY_DOUBLE
  else if (sr->type == REDIS_REPLY_DOUBLE)
    *score = sr->dval;
#endif
  else
    return false;
  return true;
}

static size_t member_count(const redisReply *r) {
  if (r->elements > 0 && r->element[0]->type == REDIS_REPLY_ARRAY)
    return r->elements;
  return r->elements / 2;
}

int fleet_redis_workers(redis_store_conn *conn, const char *prefix, fleet_worker **out, size_t *n,
                        bw_error_t *err) {
  *out = NULL;
  *n = 0;
  cleanup_free char *set = bw_strdup_printf("%sworkers", prefix);
  const char *zargv[] = {"ZRANGE", set, "0", "-1", "WITHSCORES"};
  cleanup_redis_reply redisReply *ids = redis_store_conn_run(conn, 5, zargv, err);
  if (!ids)
    return bw_error_prefix(err, "workers");
  if (ids->type != REDIS_REPLY_ARRAY)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "workers: redis ZRANGE: unexpected reply type %d",
                        ids->type);
  size_t count = member_count(ids);
  fleet_worker *ws = bw_xcalloc(count + 1, sizeof(*ws));
  if (count == 0) {
    *out = ws;
    return 0;
  }
  const char **argv = bw_xcalloc(count + 1, sizeof(*argv));
  char **keys = bw_xcalloc(count, sizeof(*keys));
  double *scores = bw_xcalloc(count, sizeof(*scores));
  argv[0] = "MGET";
  for (size_t i = 0; i < count; i++) {
    const char *id = "";
    if (!member_at(ids, i, &id, &scores[i]))
      scores[i] = 0;
    keys[i] = bw_strdup_printf("%sworker:%s", prefix, id);
    argv[i + 1] = keys[i];
  }
  redisReply *infos = redis_store_conn_run(conn, (int)(count + 1), argv, err);
  size_t got = 0;
  int rc = 0;
  if (!infos) {
    rc = bw_error_prefix(err, "workers");
  } else if (infos->type != REDIS_REPLY_ARRAY || infos->elements != count) {
    rc = bw_error_set(err, BW_ERR_UNAVAILABLE, "workers: redis MGET: unexpected reply");
  } else {
    for (size_t i = 0; i < count; i++) {
      const redisReply *v = infos->element[i];
      if (v->type != REDIS_REPLY_STRING)
        continue; /* the heartbeat expired: the worker is gone */
      cleanup_json json_t *info = json_loadb(v->str, v->len, 0, NULL);
      if (fleet_worker_from_json(info, (int64_t)scores[i], &ws[got]))
        got++;
    }
  }
  if (infos)
    freeReplyObject(infos);
  for (size_t i = 0; i < count; i++)
    free(keys[i]);
  free(keys);
  free(argv);
  free(scores);
  if (rc < 0) {
    fleet_workers_free(ws, got);
    return rc;
  }
  *out = ws;
  *n = got;
  return 0;
}

#include "clients/job_store.h"

#include "clients/job_store_scripts.h"

#include "core/cleanup.h"
#include "job/job_status.h"
#include "core/random_id.h"
#include "clients/redis_store.h"
#include "core/timeutil.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct job_store {
  char *prefix;
  redis_store_conn conn;
};

job_store *job_store_new(const bw_config *cfg, const bw_logger *log, const char *prefix) {
  job_store *js = bw_xcalloc(1, sizeof(*js));
  js->prefix = bw_strdup(prefix);
  redis_store_conn_init(&js->conn, cfg, log,
                        "job leases, records and heartbeats fail until it is back");
  return js;
}

void job_store_free(job_store *js) {
  if (!js)
    return;
  redis_store_conn_destroy(&js->conn);
  free(js->prefix);
  free(js);
}

static char *key_of(const job_store *js, const char *kind, const char *id) {
  return bw_strdup_printf("%s%s%s", js->prefix, kind, id);
}

static int check_id(const char *what, const char *id, bw_error_t *err) {
  if (!id || !*id)
    return bw_error_set(err, BW_ERR_INVALID, "%s is empty", what);
  return 0;
}

static int check_ttl(long ttl_ms, bw_error_t *err) {
  if (ttl_ms <= 0)
    return bw_error_set(err, BW_ERR_INVALID, "lease ttl %ld ms is not positive", ttl_ms);
  return 0;
}

static int want_type(const redisReply *r, int type, const char *what, bw_error_t *err) {
  if (r->type != type)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "redis %s: unexpected reply type %d", what,
                        r->type);
  return 0;
}

int job_store_claim(job_store *js, const job_claim_request *req, job_claim *out, bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  const char *job_id = req->job_id;
  if (check_id("job id", job_id, err) < 0 || check_id("worker id", req->worker_id, err) < 0 ||
      check_ttl(req->ttl_ms, err) < 0)
    return bw_error_prefix(err, "claim job %s", job_id ? job_id : "");
  char token[JOB_STORE_TOKEN_LEN + 1];
  if (bw_random_id(token, err) < 0)
    return bw_error_prefix(err, "claim job %s", job_id);
  cleanup_free char *record = key_of(js, "job:", job_id);
  cleanup_free char *lease = key_of(js, "lease:", job_id);
  char ttl[24], attempt[24], record_ttl[24], max[24], started[BW_RFC3339_LEN];
  snprintf(ttl, sizeof(ttl), "%ld", req->ttl_ms);
  snprintf(attempt, sizeof(attempt), "%ld", req->attempt > 0 ? req->attempt : 1);
  snprintf(record_ttl, sizeof(record_ttl), "%ld", JOB_STORE_RECORD_TTL_S);
  snprintf(max, sizeof(max), "%ld", req->max_deliveries > 0 ? req->max_deliveries : LONG_MAX);
  bw_time_rfc3339_now(started);
  const char *argv[] = {
      "EVAL", job_store_claim_script, "2",     record,  lease,      token,
      ttl,    req->worker_id,         attempt, started, record_ttl, req->replay ? "1" : "0",
      max};
  cleanup_redis_reply redisReply *r = redis_store_conn_run(&js->conn, 13, argv, err);
  if (!r)
    return bw_error_prefix(err, "claim job %s", job_id);
  if (want_type(r, REDIS_REPLY_ARRAY, "EVAL", err) < 0 || r->elements < 3 || r->elements > 4 ||
      r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER ||
      r->element[2]->type != REDIS_REPLY_INTEGER) {
    bw_error_set(err, BW_ERR_UNAVAILABLE, "redis EVAL: unexpected claim reply");
    return bw_error_prefix(err, "claim job %s", job_id);
  }
  switch (r->element[0]->integer) {
  case 0:
    out->outcome = JOB_CLAIM_ACQUIRED;
    memcpy(out->token, token, sizeof(token));
    break;
  case 1:
    out->outcome = JOB_CLAIM_HELD;
    break;
  case 3:
    out->outcome = JOB_CLAIM_POISONED;
    break;
  default:
    out->outcome = JOB_CLAIM_FINISHED;
    break;
  }
  out->attempt = (long)r->element[1]->integer;
  out->crashes = (long)r->element[2]->integer;
  if (r->elements == 4 && r->element[3]->type == REDIS_REPLY_STRING)
    out->undelivered_event = bw_strdup_bytes(r->element[3]->str, r->element[3]->len);
  return 0;
}

void job_claim_free(job_claim *c) {
  if (!c)
    return;
  free(c->undelivered_event);
  c->undelivered_event = NULL;
}

int job_store_extend(job_store *js, const char *job_id, const char *token, long ttl_ms,
                     bool *still_ours, bw_error_t *err) {
  if (check_id("job id", job_id, err) < 0 || check_id("token", token, err) < 0 ||
      check_ttl(ttl_ms, err) < 0)
    return bw_error_prefix(err, "extend lease of job %s", job_id ? job_id : "");
  cleanup_free char *lease = key_of(js, "lease:", job_id);
  char ttl[24];
  snprintf(ttl, sizeof(ttl), "%ld", ttl_ms);
  const char *argv[] = {"EVAL", job_store_extend_script, "1", lease, token, ttl};
  cleanup_redis_reply redisReply *r = redis_store_conn_run(&js->conn, 6, argv, err);
  if (!r || want_type(r, REDIS_REPLY_INTEGER, "EVAL", err) < 0)
    return bw_error_prefix(err, "extend lease of job %s", job_id);
  *still_ours = r->integer == 1;
  return 0;
}

int job_store_lease_is_ours(job_store *js, const char *job_id, const char *token, bool *ours,
                            bw_error_t *err) {
  if (check_id("job id", job_id, err) < 0 || check_id("token", token, err) < 0)
    return bw_error_prefix(err, "lease of job %s", job_id ? job_id : "");
  cleanup_free char *lease = key_of(js, "lease:", job_id);
  const char *argv[] = {"GET", lease};
  cleanup_redis_reply redisReply *r = redis_store_conn_run(&js->conn, 2, argv, err);
  if (!r)
    return bw_error_prefix(err, "lease of job %s", job_id);
  *ours = r->type == REDIS_REPLY_STRING && strcmp(r->str, token) == 0;
  return 0;
}

/* COMMAND PREFIX+JOB_ID, for the one-key reads: the id checked, the
 * answer of the type wanted, else NULL with *err set. */
static redisReply *job_key_command(job_store *js, const char *command, const char *prefix,
                                   const char *job_id, int type, bw_error_t *err) {
  if (check_id("job id", job_id, err) < 0)
    return NULL;
  cleanup_free char *key = key_of(js, prefix, job_id);
  const char *argv[] = {command, key};
  redisReply *r = redis_store_conn_run(&js->conn, 2, argv, err);
  if (r && want_type(r, type, command, err) < 0) {
    freeReplyObject(r);
    return NULL;
  }
  return r;
}

int job_store_lease_alive(job_store *js, const char *job_id, bool *alive, bw_error_t *err) {
  cleanup_redis_reply redisReply *r =
      job_key_command(js, "EXISTS", "lease:", job_id, REDIS_REPLY_INTEGER, err);
  if (!r)
    return bw_error_prefix(err, "lease of job %s", job_id ? job_id : "");
  *alive = r->integer == 1;
  return 0;
}

/* A final record's job id and status, checked. */
static int check_final(const char *what, const char *job_id, const char *status, bw_error_t *err) {
  job_status parsed;
  if (check_id("job id", job_id, err) < 0)
    return bw_error_prefix(err, "%s %s", what, job_id ? job_id : "");
  if (!status || job_status_parse(status, &parsed) < 0)
    return bw_error_set(err, BW_ERR_INVALID, "%s %s: %s is not a final status", what, job_id,
                        status ? status : "(null)");
  return 0;
}

/* When a final record is written, and how long it is kept (seconds). */
static void finish_stamps(char finished[BW_RFC3339_LEN], char *ttl, size_t ttl_size) {
  bw_time_rfc3339_now(finished);
  snprintf(ttl, ttl_size, "%ld", JOB_STORE_RECORD_TTL_S);
}

int job_store_finish(job_store *js, const char *job_id, const char *token, const char *status,
                     const char *result_json, const char *event_json, bool *was_ours, bool *written,
                     bw_error_t *err) {
  if (check_id("token", token, err) < 0)
    return bw_error_prefix(err, "finish job %s", job_id ? job_id : "");
  if (check_final("finish job", job_id, status, err) < 0)
    return -1;
  cleanup_free char *record = key_of(js, "job:", job_id);
  cleanup_free char *lease = key_of(js, "lease:", job_id);
  char finished[BW_RFC3339_LEN], record_ttl[24];
  finish_stamps(finished, record_ttl, sizeof(record_ttl));
  const char *argv[] = {"EVAL",
                        job_store_finish_script,
                        "2",
                        record,
                        lease,
                        token,
                        status,
                        finished,
                        result_json ? result_json : "",
                        result_json ? "1" : "0",
                        record_ttl,
                        event_json ? event_json : ""};
  cleanup_redis_reply redisReply *r = redis_store_conn_run(&js->conn, 12, argv, err);
  if (!r || want_type(r, REDIS_REPLY_INTEGER, "EVAL", err) < 0)
    return bw_error_prefix(err, "finish job %s", job_id);
  *was_ours = r->integer == 1;
  *written = r->integer >= 0;
  return 0;
}

int job_store_finish_unrun(job_store *js, const char *job_id, const char *status,
                           const char *result_json, const char *event_json, bool *written,
                           bw_error_t *err) {
  if (check_final("finish job", job_id, status, err) < 0)
    return -1;
  cleanup_free char *record = key_of(js, "job:", job_id);
  cleanup_free char *lease = key_of(js, "lease:", job_id);
  char finished[BW_RFC3339_LEN], record_ttl[24];
  finish_stamps(finished, record_ttl, sizeof(record_ttl));
  const char *argv[] = {"EVAL",     job_store_finish_unrun_script,
                        "2",        record,
                        lease,      status,
                        finished,   result_json,
                        event_json, record_ttl};
  cleanup_redis_reply redisReply *r = redis_store_conn_run(&js->conn, 10, argv, err);
  if (!r || want_type(r, REDIS_REPLY_INTEGER, "EVAL", err) < 0)
    return bw_error_prefix(err, "finish job %s", job_id);
  *written = r->integer == 1;
  return 0;
}

int job_store_confirm_delivery(job_store *js, const char *job_id, const char *event_id,
                               bw_error_t *err) {
  if (check_id("job id", job_id, err) < 0 || check_id("event id", event_id, err) < 0)
    return bw_error_prefix(err, "confirm delivery");
  cleanup_free char *record = key_of(js, "job:", job_id);
  cleanup_free char *needle = bw_strdup_printf("\"event_id\":\"%s\"", event_id);
  const char *argv[] = {"EVAL", job_store_confirm_script, "1", record, needle};
  cleanup_redis_reply redisReply *r = redis_store_conn_run(&js->conn, 5, argv, err);
  if (!r)
    return bw_error_prefix(err, "confirm delivery of job %s", job_id);
  return 0;
}

int job_store_release(job_store *js, const char *job_id, const char *token, bw_error_t *err) {
  if (check_id("job id", job_id, err) < 0 || check_id("token", token, err) < 0)
    return bw_error_prefix(err, "release job %s", job_id ? job_id : "");
  cleanup_free char *record = key_of(js, "job:", job_id);
  cleanup_free char *lease = key_of(js, "lease:", job_id);
  char record_ttl[24];
  snprintf(record_ttl, sizeof(record_ttl), "%ld", JOB_STORE_RECORD_TTL_S);
  const char *argv[] = {"EVAL", job_store_release_script, "2", record, lease, token, record_ttl};
  cleanup_redis_reply redisReply *r = redis_store_conn_run(&js->conn, 7, argv, err);
  if (!r || want_type(r, REDIS_REPLY_INTEGER, "EVAL", err) < 0)
    return bw_error_prefix(err, "release job %s", job_id);
  return 0;
}

static json_t *record_value(const char *field, const redisReply *v) {
  if (strcmp(field, "attempt") == 0)
    return json_integer(strtol(v->str, NULL, 10));
  if (strcmp(field, "result") == 0 || strcmp(field, "event") == 0) {
    json_t *parsed = json_loadb(v->str, v->len, JSON_DECODE_ANY, NULL);
    if (parsed)
      return parsed;
  }
  json_t *s = json_stringn(v->str, v->len);
  return s ? s : json_string("(not valid UTF-8)");
}

int job_store_get(job_store *js, const char *job_id, json_t **record_out, bw_error_t *err) {
  cleanup_redis_reply redisReply *r =
      job_key_command(js, "HGETALL", "job:", job_id, REDIS_REPLY_ARRAY, err);
  if (!r)
    return bw_error_prefix(err, "read job %s", job_id ? job_id : "");
  if (r->elements == 0) {
    *record_out = NULL;
    return 0;
  }
  cleanup_json json_t *obj = json_object();
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    const redisReply *k = r->element[i], *v = r->element[i + 1];
    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
      continue;
    json_object_set_new(obj, k->str, record_value(k->str, v));
  }
  *record_out = steal_pointer(&obj);
  return 0;
}

int job_store_heartbeat(job_store *js, const char *worker_id, const json_t *info, long ttl_ms,
                        bw_error_t *err) {
  if (check_id("worker id", worker_id, err) < 0 || check_ttl(ttl_ms, err) < 0)
    return bw_error_prefix(err, "heartbeat");
  cleanup_free char *text = json_dumps(info, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!text)
    return bw_error_set(err, BW_ERR_INVALID, "heartbeat of %s: info is not serialisable",
                        worker_id);
  cleanup_free char *worker = key_of(js, "worker:", worker_id);
  cleanup_free char *workers = key_of(js, "workers", "");
  int64_t now = bw_time_epoch_ms();
  char ttl[24], now_s[24], cutoff[24], window[24];
  snprintf(ttl, sizeof(ttl), "%ld", ttl_ms);
  snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
  snprintf(cutoff, sizeof(cutoff), "%lld", (long long)(now - JOB_STORE_WORKERS_WINDOW_MS));
  snprintf(window, sizeof(window), "%ld", JOB_STORE_WORKERS_WINDOW_MS);
  const char *argv[] = {
      "EVAL", job_store_heartbeat_script, "2", worker, workers, text, ttl, now_s, worker_id, cutoff,
      window};
  cleanup_redis_reply redisReply *r = redis_store_conn_run(&js->conn, 11, argv, err);
  if (!r)
    return bw_error_prefix(err, "heartbeat of %s", worker_id);
  return 0;
}

int job_store_workers(job_store *js, json_t **array_out, bw_error_t *err) {
  cleanup_free char *workers = key_of(js, "workers", "");
  const char *zargv[] = {"ZRANGE", workers, "0", "-1"};
  cleanup_redis_reply redisReply *ids = redis_store_conn_run(&js->conn, 4, zargv, err);
  if (!ids || want_type(ids, REDIS_REPLY_ARRAY, "ZRANGE", err) < 0)
    return bw_error_prefix(err, "list workers");
  cleanup_json json_t *out = json_array();
  if (ids->elements == 0) {
    *array_out = steal_pointer(&out);
    return 0;
  }
  size_t n = ids->elements;
  cleanup_free const char **argv = bw_xcalloc(n + 1, sizeof(*argv));
  cleanup_free char **keys = bw_xcalloc(n, sizeof(*keys));
  argv[0] = "MGET";
  for (size_t i = 0; i < n; i++) {
    const redisReply *id = ids->element[i];
    keys[i] = key_of(js, "worker:", id->type == REDIS_REPLY_STRING ? id->str : "");
    argv[i + 1] = keys[i];
  }
  cleanup_redis_reply redisReply *infos = redis_store_conn_run(&js->conn, (int)(n + 1), argv, err);
  for (size_t i = 0; i < n; i++)
    free(keys[i]);
  if (!infos || want_type(infos, REDIS_REPLY_ARRAY, "MGET", err) < 0)
    return bw_error_prefix(err, "list workers");
  for (size_t i = 0; i < infos->elements; i++) {
    const redisReply *v = infos->element[i];
    if (v->type != REDIS_REPLY_STRING)
      continue; /* heartbeat expired: the worker is gone */
    json_t *info = json_loadb(v->str, v->len, 0, NULL);
    if (info && json_is_object(info))
      json_array_append_new(out, info);
    else
      json_decref(info);
  }
  *array_out = steal_pointer(&out);
  return 0;
}

int job_store_cancel_request(job_store *js, const char *job_id, bw_error_t *err) {
  if (check_id("job id", job_id, err) < 0)
    return bw_error_prefix(err, "cancel job");
  cleanup_free char *key = key_of(js, "cancel:", job_id);
  char ttl[24];
  snprintf(ttl, sizeof(ttl), "%ld", JOB_STORE_CANCEL_TTL_S);
  const char *argv[] = {"SET", key, "1", "EX", ttl};
  cleanup_redis_reply redisReply *r = redis_store_conn_run(&js->conn, 5, argv, err);
  if (!r)
    return bw_error_prefix(err, "cancel job %s", job_id);
  return 0;
}

/* One MGET of PREFIX KIND ID for each id; the reply has n elements. */
static redisReply *mget(job_store *js, const char *kind, const char *const *ids, size_t n,
                        const char *what, bw_error_t *err) {
  cleanup_free const char **argv = bw_xcalloc(n + 1, sizeof(*argv));
  cleanup_free char **keys = bw_xcalloc(n, sizeof(*keys));
  argv[0] = "MGET";
  for (size_t i = 0; i < n; i++) {
    keys[i] = key_of(js, kind, ids[i] ? ids[i] : "");
    argv[i + 1] = keys[i];
  }
  redisReply *r = redis_store_conn_run(&js->conn, (int)(n + 1), argv, err);
  for (size_t i = 0; i < n; i++)
    free(keys[i]);
  if (r && (r->type != REDIS_REPLY_ARRAY || r->elements != n)) {
    bw_error_set(err, BW_ERR_UNAVAILABLE, "redis MGET: %zu answers for %zu keys",
                 r->type == REDIS_REPLY_ARRAY ? r->elements : 0, n);
    freeReplyObject(r);
    r = NULL;
  }
  if (!r)
    bw_error_prefix(err, "%s", what);
  return r;
}

int job_store_cancel_requested(job_store *js, const char *const *job_ids, size_t n, bool *flags_out,
                               bw_error_t *err) {
  if (n == 0)
    return 0;
  cleanup_redis_reply redisReply *r = mget(js, "cancel:", job_ids, n, "cancel flags", err);
  if (!r)
    return -1;
  for (size_t i = 0; i < n; i++)
    flags_out[i] = r->element[i]->type == REDIS_REPLY_STRING;
  return 0;
}

int job_store_abandon(job_store *js, const char *job_id, const char *token, bw_error_t *err) {
  if (check_id("job id", job_id, err) < 0 || check_id("token", token, err) < 0)
    return bw_error_prefix(err, "give up the lease of job %s", job_id ? job_id : "");
  cleanup_free char *lease = key_of(js, "lease:", job_id);
  const char *argv[] = {"EVAL", job_store_abandon_script, "1", lease, token};
  cleanup_redis_reply redisReply *r = redis_store_conn_run(&js->conn, 5, argv, err);
  if (!r)
    return bw_error_prefix(err, "give up the lease of job %s", job_id);
  return 0;
}

int job_store_leases(job_store *js, const char *const *job_ids, size_t n, char **values_out,
                     bw_error_t *err) {
  if (n == 0)
    return 0;
  cleanup_redis_reply redisReply *r = mget(js, "lease:", job_ids, n, "leases", err);
  if (!r)
    return -1;
  for (size_t i = 0; i < n; i++)
    values_out[i] = r->element[i]->type == REDIS_REPLY_STRING
                        ? bw_strdup_bytes(r->element[i]->str, r->element[i]->len)
                        : NULL;
  return 0;
}

int job_store_worker_info(job_store *js, const char *worker_id, json_t **info_out,
                          bw_error_t *err) {
  *info_out = NULL;
  if (check_id("worker id", worker_id, err) < 0)
    return bw_error_prefix(err, "worker info");
  cleanup_free char *key = key_of(js, "worker:", worker_id);
  const char *argv[] = {"GET", key};
  cleanup_redis_reply redisReply *r = redis_store_conn_run(&js->conn, 2, argv, err);
  if (!r)
    return bw_error_prefix(err, "worker info of %s", worker_id);
  if (r->type == REDIS_REPLY_STRING) {
    json_t *info = json_loadb(r->str, r->len, 0, NULL);
    if (json_is_object(info))
      *info_out = info;
    else
      json_decref(info);
  }
  return 0;
}

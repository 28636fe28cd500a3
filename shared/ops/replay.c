#include "ops/replay.h"

#include "core/cleanup.h"
#include "job/job_request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEAD_LETTER "dead_letter"

unsigned replay_default_statuses(void) {
  unsigned bits = 0;
  for (int s = 0; s < JOB_STATUS_COUNT; s++)
    if (s != JOB_SUCCESS && s != JOB_CANCELLED)
      bits |= 1u << s;
  return bits;
}

int replay_parse_statuses(const char *list, unsigned *out, bw_error_t *err) {
  cleanup_free char *copy = bw_strdup(list);
  unsigned bits = 0;
  char *save = NULL;
  for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    job_status s;
    if (job_status_parse(tok, &s) < 0)
      return bw_error_set(err, BW_ERR_INVALID,
                          "unknown status '%s' (one of user_error, application_error, timeout, "
                          "oom, disk_limit, cancelled, infra_error, rejected, success)",
                          tok);
    bits |= 1u << s;
  }
  if (!bits)
    return bw_error_set(err, BW_ERR_INVALID, "no status given");
  *out = bits;
  return 0;
}

static bool listed(const char *const *list, size_t n, const char *value) {
  if (n == 0)
    return true;
  for (size_t i = 0; i < n; i++)
    if (value && strcmp(list[i], value) == 0)
      return true;
  return false;
}

static replay_candidate *find_or_add(replay_set *set, const char *job_id) {
  for (size_t i = 0; i < set->count; i++)
    if (strcmp(set->items[i].job_id, job_id) == 0)
      return &set->items[i];
  if (set->count == set->cap) {
    set->cap = set->cap ? set->cap * 2 : 16;
    set->items = bw_xrealloc(set->items, set->cap * sizeof(*set->items));
  }
  replay_candidate *c = &set->items[set->count++];
  memset(c, 0, sizeof(*c));
  c->job_id = bw_strdup(job_id);
  c->attempt = -1;
  return c;
}

static void set_str(char **field, const char *value) {
  free(*field);
  *field = value ? bw_strdup(value) : NULL;
}

static void clear_source(replay_candidate *c) {
  set_str(&c->request_topic, NULL);
  set_str(&c->payload, NULL);
  set_str(&c->note, NULL);
  c->len = 0;
}

void replay_set_add_finished(replay_set *set, const replay_filter *f, const json_t *ev,
                             int64_t ts_ms) {
  const char *type = json_string_value(json_object_get(ev, "type"));
  const char *job_id = json_string_value(json_object_get(ev, "job_id"));
  const char *status = json_string_value(json_object_get(ev, "status"));
  json_int_t attempt = json_integer_value(json_object_get(ev, "attempt"));
  const char *comp = json_string_value(json_object_get(ev, "component"));
  job_status st;
  if (!type || strcmp(type, "job.finished") != 0 || !job_id || !status ||
      job_status_parse(status, &st) < 0 || !listed(f->job_ids, f->job_id_count, job_id))
    return;
  bool selects = st != JOB_SUCCESS && (f->statuses & (1u << st)) &&
                 listed(f->components, f->component_count, comp);
  replay_candidate *existing = NULL;
  for (size_t i = 0; i < set->count; i++)
    if (strcmp(set->items[i].job_id, job_id) == 0)
      existing = &set->items[i];
  if (!existing && !selects)
    return; /* a success or an unselected failure of a job nobody asked about */
  replay_candidate *c = existing ? existing : find_or_add(set, job_id);
  c->matched = c->matched || selects;
  if (attempt < c->attempt || (attempt == c->attempt && ts_ms < c->ts_ms))
    return; /* an older attempt: the latest one decides */
  c->attempt = (long)attempt;
  c->ts_ms = ts_ms;
  c->source = REPLAY_FROM_EVENTS;
  set_str(&c->status, status);
  set_str(&c->component, comp);
  clear_source(c);
  set_str(&c->note, json_string_value(json_object_get(ev, "message")));
  const json_t *req = json_object_get(ev, "request");
  const char *topic = json_string_value(json_object_get(req, "topic"));
  if (topic && json_is_integer(json_object_get(req, "partition")) &&
      json_is_integer(json_object_get(req, "offset"))) {
    set_str(&c->request_topic, topic);
    c->request_partition = (int32_t)json_integer_value(json_object_get(req, "partition"));
    c->request_offset = (int64_t)json_integer_value(json_object_get(req, "offset"));
  }
}

void replay_set_add_dead_letter(replay_set *set, const replay_filter *f,
                                const replay_dead_letter *dl) {
  cleanup_job_request job_request req = {0};
  cleanup_error bw_error_t err = NULL;
  bool readable =
      !dl->not_whole && job_request_parse(dl->payload ? dl->payload : "", dl->len, &req, &err) == 0;
  cleanup_free char *anonymous = NULL;
  const char *job_id = readable ? req.job_id : dl->key;
  if (!job_id || !*job_id)
    job_id = anonymous = bw_strdup_printf("(no job id: %s [%d] %lld)", dl->topic ? dl->topic : "?",
                                          (int)dl->partition, (long long)dl->offset);
  if (!listed(f->job_ids, f->job_id_count, job_id) ||
      (f->component_count &&
       !(readable && listed(f->components, f->component_count, req.component))))
    return;
  replay_candidate *c = find_or_add(set, job_id);
  long attempt = readable ? req.attempt : 0;
  if (c->status && (attempt < c->attempt || (attempt == c->attempt && dl->ts_ms < c->ts_ms)))
    return;
  c->matched = true;
  c->attempt = attempt;
  c->ts_ms = dl->ts_ms;
  c->source = REPLAY_FROM_DLQ;
  set_str(&c->status, DEAD_LETTER);
  set_str(&c->component, readable ? req.component : NULL);
  clear_source(c);
  c->payload = bw_xmalloc(dl->len + 1);
  memcpy(c->payload, dl->payload ? dl->payload : "", dl->len);
  c->payload[dl->len] = '\0';
  c->len = dl->len;
  set_str(&c->note, readable ? dl->reason : dl->not_whole ? dl->not_whole : bw_error_msg(&err));
}

static void skip(replay_candidate *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip(replay_candidate *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  free(c->why);
  if (vasprintf(&c->why, fmt, ap) < 0)
    abort();
  va_end(ap);
  c->send = false;
}

void replay_judge(replay_candidate *c, const json_t *record) {
  c->send = false;
  c->new_attempt = 0;
  const char *rec_status = json_string_value(json_object_get(record, "status"));
  long rec_attempt = (long)json_integer_value(json_object_get(record, "attempt"));
  if (strcmp(c->status, "success") == 0)
    return skip(c, "succeeded since (attempt %ld)", c->attempt);
  if (c->source == REPLAY_FROM_DLQ && c->attempt == 0)
    return skip(c, "not a readable request: %s", c->note ? c->note : "?");
  if (c->source == REPLAY_FROM_EVENTS && !c->request_topic)
    return skip(c, "its job.finished event does not say where the request is (sent by an "
                   "older worker): submit it again by hand");
  if (rec_status && strcmp(rec_status, "success") == 0)
    return skip(c, "succeeded since (attempt %ld)", rec_attempt);
  if (rec_status && (strcmp(rec_status, "running") == 0 || strcmp(rec_status, "interrupted") == 0))
    return skip(c, "running now (attempt %ld)", rec_attempt);
  if (rec_status && rec_attempt > c->attempt)
    return skip(c,
                "already run again as attempt %ld (%s): widen the time window to include "
                "that run to replay it",
                rec_attempt, rec_status);
  if (c->attempt + 1 > REPLAY_MAX_ATTEMPT)
    return skip(c, "attempt %ld is the last one allowed", c->attempt);
  free(c->why);
  c->why = NULL;
  c->send = true;
  c->new_attempt = c->attempt + 1;
}

int replay_rewrite(const char *original, size_t len, const char *job_id, long new_attempt,
                   const component_registry *components, char **out, size_t *out_len,
                   bw_error_t *err) {
  json_error_t jerr;
  cleanup_json json_t *doc = json_loadb(original, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!json_is_object(doc))
    return bw_error_set(err, BW_ERR_INVALID, "the original request is not a JSON object%s%s",
                        doc ? "" : ": ", doc ? "" : jerr.text);
  const char *id = json_string_value(json_object_get(doc, "job_id"));
  if (!id || strcmp(id, job_id) != 0)
    return bw_error_set(err, BW_ERR_INVALID,
                        "the message at the recorded offset is not job %s's request (job_id %s)",
                        job_id, id ? id : "missing");
  json_object_set_new(doc, "attempt", json_integer(new_attempt));
  json_object_set_new(doc, "replay_of", json_string(job_id));
  char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!text)
    return bw_error_set(err, BW_ERR_INTERNAL, "out of memory");
  cleanup_job_request job_request req;
  job_plan plan;
  if (job_request_parse(text, strlen(text), &req, err) < 0 ||
      job_plan_resolve(&req, components, &plan, err) < 0) {
    free(text);
    return bw_error_prefix(err, "still invalid");
  }
  job_plan_free(&plan);
  *out = text;
  *out_len = strlen(text);
  return 0;
}

void replay_set_free(replay_set *set) {
  for (size_t i = 0; i < set->count; i++) {
    replay_candidate *c = &set->items[i];
    free(c->job_id);
    free(c->component);
    free(c->status);
    free(c->request_topic);
    free(c->payload);
    free(c->note);
    free(c->why);
  }
  free(set->items);
  memset(set, 0, sizeof(*set));
}

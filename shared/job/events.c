#include "job/events.h"

#include "core/cleanup.h"
#include "core/error.h"
#include "core/random_id.h"
#include "core/timeutil.h"
#include "core/utf8.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

json_t *event_new(const job_events *je, const char *type) {
  char ts[BW_RFC3339_LEN];
  bw_time_rfc3339_now(ts);
  json_t *ev = json_object();
  json_object_set_new(ev, "schema_version", json_integer(EVENT_SCHEMA_VERSION));
  json_object_set_new(ev, "type", json_string(type));
  /* Unique, and the same bytes whenever the event is sent again (the
   * outbox of job.finished): consumers dedupe by it (docs/events.md). */
  char id[BW_RANDOM_ID_LEN + 1] = "";
  bw_random_id(id, NULL);
  json_object_set_new(ev, "event_id", json_string(id));
  json_object_set_new(ev, "job_id", je->job_id ? json_string(je->job_id) : json_null());
  json_object_set_new(ev, "attempt", json_integer(je->attempt));
  json_object_set_new(ev, "ts", json_string(ts));
  json_object_set_new(ev, "worker", json_string(je->worker_id ? je->worker_id : ""));
  json_object_set_new(ev, "host", json_string(je->host ? je->host : ""));
  return ev;
}

/* Masks a string; returns a new json string when something was hidden.
 * Fails closed: hiding a secret that is not UTF-8 (or that ends inside a
 * character) can leave bytes that are not UTF-8, which JSON cannot carry;
 * they become U+FFFD and the text is masked once more (the replacement could
 * complete another secret), and when even that is not clean, the whole value
 * is hidden. Never the original. */
static json_t *masked_string(const masker *m, const char *s, size_t len) {
  size_t out_len = 0;
  cleanup_free char *out = masker_apply(m, s, len, &out_len);
  if (!out || (out_len == len && memcmp(out, s, len) == 0))
    return NULL;
  json_t *js = json_stringn(out, out_len);
  if (js)
    return js;
  size_t valid_len = 0, again_len = 0;
  cleanup_free char *valid = bw_utf8_sanitize(out, out_len, false, &valid_len);
  cleanup_free char *again = masker_apply(m, valid, valid_len, &again_len);
  js = json_stringn(again, again_len);
  return js ? js : json_string(MASKER_HIDDEN);
}

/* Masks every key and value of the event in place. Masking the JSON values,
 * not the serialised text, keeps the event valid JSON whatever the secret is
 * (a secret "1234" or "true" must not turn `"size":1234` into `"size":[hidden]`). */
/* The fields every event starts with are the worker's own words and ids
 * (docs/events.md), never secrets: masking them would only break the
 * protocol (a secret "job" would turn the type job.finished into
 * "[hidden].finished"). */
static bool is_common_field(const char *key) {
  static const char *const common[] = {"schema_version", "type", "event_id", "job_id",
                                       "attempt",        "ts",   "worker",   "host"};
  for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
    if (strcmp(key, common[i]) == 0)
      return true;
  return false;
}

static json_t *mask_value(const masker *m, json_t *v, bool top) {
  if (json_is_string(v))
    return masked_string(m, json_string_value(v), json_string_length(v));
  if (json_is_integer(v) || json_is_real(v)) {
    cleanup_free char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    cleanup_json json_t *as_string = text ? masked_string(m, text, strlen(text)) : NULL;
    return as_string ? json_string(MASKER_HIDDEN) : NULL;
  }
  if (json_is_array(v)) {
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
      json_t *repl = mask_value(m, item, false);
      if (repl)
        json_array_set_new(v, i, repl);
    }
    return NULL;
  }
  if (json_is_object(v)) {
    /* Keys may hold secrets too: rebuild the object in order. */
    json_t *rebuilt = json_object();
    const char *key;
    json_t *item;
    json_object_foreach(v, key, item) {
      if (top && is_common_field(key)) {
        json_object_set(rebuilt, key, item);
        continue;
      }
      json_t *repl = mask_value(m, item, false);
      json_t *k = masked_string(m, key, strlen(key));
      json_object_set_new(rebuilt, k ? json_string_value(k) : key, repl ? repl : json_incref(item));
      json_decref(k);
    }
    json_object_clear(v);
    json_object_update(v, rebuilt);
    json_decref(rebuilt);
    return NULL;
  }
  return NULL;
}

int event_emit(const job_events *je, json_t *ev) {
  return event_emit_with_unmasked(je, ev, NULL, NULL);
}

int event_emit_with_unmasked(const job_events *je, json_t *ev, const char *key, json_t *value) {
  if (je->mask)
    mask_value(je->mask, ev, true);
  if (key)
    json_object_set(ev, key, value);
  const char *type = json_string_value(json_object_get(ev, "type"));
  cleanup_free char *text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!text) {
    json_decref(ev);
    return -1;
  }
  int rc = je->sink->emit(je->sink->ctx, type ? type : "", je->job_id, text, strlen(text));
  json_decref(ev); /* type points into it */
  return rc;
}

int event_sink_stdout(void *ctx, const char *type, const char *job_id, const char *json,
                      size_t len) {
  FILE *out = ctx ? ctx : stdout;
  if (fwrite(json, 1, len, out) != len || fputc('\n', out) == EOF || fflush(out) != 0)
    return -1;
  return 0;
}

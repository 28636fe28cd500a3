#include "events.h"

#include "cleanup.h"
#include "error.h"
#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

json_t *event_new(const job_events *je, const char *type) {
  char ts[BW_RFC3339_LEN];
  bw_time_rfc3339_now(ts);
  json_t *ev = json_object();
  json_object_set_new(ev, "schema_version", json_integer(EVENT_SCHEMA_VERSION));
  json_object_set_new(ev, "type", json_string(type));
  json_object_set_new(ev, "job_id", je->job_id ? json_string(je->job_id) : json_null());
  json_object_set_new(ev, "attempt", json_integer(je->attempt));
  json_object_set_new(ev, "ts", json_string(ts));
  json_object_set_new(ev, "worker", json_string(je->worker_id ? je->worker_id : ""));
  json_object_set_new(ev, "host", json_string(je->host ? je->host : ""));
  return ev;
}

int event_emit(const job_events *je, json_t *ev) {
  const char *type = json_string_value(json_object_get(ev, "type"));
  cleanup_free char *text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!text) {
    json_decref(ev);
    return -1;
  }
  size_t len = strlen(text);
  cleanup_free char *masked = NULL;
  if (je->mask) {
    masked = masker_apply(je->mask, text, len, &len);
  }
  int rc = je->sink->emit(je->sink->ctx, type ? type : "", je->job_id, masked ? masked : text, len);
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

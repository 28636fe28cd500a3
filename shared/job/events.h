/* Pipeline events: one JSON object per event (docs/events.md), with
 * schema_version, type, job_id, attempt, ts (RFC 3339, ms), worker and host.
 * Every event is serialised, then masked (secrets become [hidden]), then
 * handed to a sink: standard output for `run`, Kafka for `serve`. */
#pragma once

#include "job/masker.h"

#include <jansson.h>
#include <stddef.h>

#define EVENT_SCHEMA_VERSION 1

/* The sink gets masked JSON text (no newline) and the event's type. It must
 * not keep `json` after returning. */
typedef struct event_sink {
  int (*emit)(void *ctx, const char *type, const char *job_id, const char *json, size_t len);
  void *ctx;
} event_sink;

typedef struct job_events {
  const event_sink *sink;
  const masker *mask; /* may be NULL */
  const char *job_id; /* may be NULL for a request without a readable id */
  long attempt;
  const char *worker_id;
  const char *host;
} job_events;

/* A new event object with the common fields filled in. */
json_t *event_new(const job_events *je, const char *type);
/* Serialises, masks and hands the event to the sink; takes `ev`. Returns the
 * sink's result (negative when it could not take the event). */
int event_emit(const job_events *je, json_t *ev);
/* As event_emit, with one field set after masking, as it is (value is
 * borrowed): only for what must travel whole, such as job.finished's state. */
int event_emit_with_unmasked(const job_events *je, json_t *ev, const char *key, json_t *value);

/* The stdout sink of `bundle-worker run`: one line per event, flushed. */
int event_sink_stdout(void *ctx, const char *type, const char *job_id, const char *json,
                      size_t len);

/* Replaying failed jobs (`bundle-worker replay`): which jobs to send again,
 * and the request to send. Pure logic; the command does the reading (events
 * and DLQ topics by time window, Redis records) and the sending.
 *
 * A job is replayed as its next attempt: the original request, attempt set
 * to the failed attempt + 1 and replay_of to its job id. The attempt is
 * derived from the failure, never from a clock or a counter, so replaying
 * one selection twice produces the same message twice -- and the workers run
 * one attempt of a job once (job_store_claim), so the copy is answered by a
 * job.duplicate event instead of a second run. */
#pragma once

#include "job/components.h"
#include "core/error.h"
#include "job/job_status.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPLAY_MAX_ATTEMPT 1000 /* the request schema's limit */

typedef struct replay_filter {
  const char *const *job_ids; /* none: any job */
  size_t job_id_count;
  const char *const *components; /* none: any component */
  size_t component_count;
  unsigned statuses; /* bit (1u << job_status) per status to select */
} replay_filter;

/* The default status set: every failure but cancelled (a cancel was meant). */
unsigned replay_default_statuses(void);
/* "oom,timeout" -> bits; -1 naming the unknown status in err. */
int replay_parse_statuses(const char *list, unsigned *out, bw_error_t *err);

typedef enum replay_source { REPLAY_FROM_EVENTS, REPLAY_FROM_DLQ } replay_source;

typedef struct replay_candidate {
  char *job_id;
  char *component; /* NULL when the request could not be read */
  char *status;    /* the latest outcome: a job status, or "dead_letter" */
  long attempt;    /* the latest attempt seen (DLQ: the request's) */
  int64_t ts_ms;
  replay_source source;
  bool matched; /* a failure that the filter selects was seen */
  /* events: where the request is (job.finished's "request"); topic NULL
   * when the event does not say (a worker before replay existed). */
  char *request_topic;
  int32_t request_partition;
  int64_t request_offset;
  /* DLQ: the original bytes, and why they were dead-lettered. */
  char *payload;
  size_t len;
  char *note;
  /* replay_judge() */
  bool send;
  long new_attempt;
  char *why;      /* when not sent: why not */
  bool delivered; /* sent, and the broker acknowledged it (replay_run) */
} replay_candidate;

typedef struct replay_set {
  replay_candidate *items;
  size_t count;
  size_t cap;
} replay_set;

/* Takes a job.finished event (anything else is ignored). Per job id the
 * latest attempt is kept, whatever its status, so a later success is seen. */
void replay_set_add_finished(replay_set *set, const replay_filter *f, const json_t *ev,
                             int64_t ts_ms);
/* A dead letter as replay reads it. */
typedef struct replay_dead_letter {
  const char *key;     /* the message key; NULL: none */
  const char *payload; /* the request's bytes: the dead letter's, or its original's */
  size_t len;
  const char *reason; /* dlq.reason; NULL: none */
  /* Where the dead letter is: names it when it has no job id. */
  const char *topic;
  int32_t partition;
  int64_t offset;
  int64_t ts_ms;
  /* Not NULL: the bytes are not the whole request (a cut or minimal copy
   * whose original could not be had), and why. */
  const char *not_whole;
} replay_dead_letter;

/* Takes a dead-lettered request. Its job id is the request's; when the bytes
 * cannot be read, the message key; with no key either, "(no job id: TOPIC
 * [PARTITION] OFFSET)" of the dead letter, so that each such dead letter is a
 * candidate of its own. */
void replay_set_add_dead_letter(replay_set *set, const replay_filter *f,
                                const replay_dead_letter *dl);
/* Decides one candidate, given the job's Redis record (NULL: none or not
 * known): send it as attempt + 1, or say why not. */
void replay_judge(replay_candidate *c, const json_t *record);
/* The request to send: `original` with attempt and replay_of set, checked
 * with the worker's validator against the registered components. */
int replay_rewrite(const char *original, size_t len, const char *job_id, long new_attempt,
                   const component_registry *components, char **out, size_t *out_len,
                   bw_error_t *err);
void replay_set_free(replay_set *set);

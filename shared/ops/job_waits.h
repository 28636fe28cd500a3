/* Waiting for submitted jobs to end (`bundle-worker submit --wait`): the
 * jobs waited for, and the decision, for each event read from topic.events,
 * whether it ends one of them. Pure: the caller reads the events
 * (ops/event_follow.h) and prints; tests/unit/test_job_waits.c. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct job_waits job_waits;

/* How a job ended, as its event says; the pointers live as long as the
 * event (status: as long as the set). */
typedef struct job_end {
  const char *job_id;
  const char *status;
  const json_t *exit_code; /* an integer, or NULL/null when no container ran */
  const char *message;     /* may be NULL */
} job_end;

/* The set of jobs to wait for (ids copied). A job id given twice is waited
 * for once. */
job_waits *job_waits_new(const char *const *job_ids, size_t n);
void job_waits_free(job_waits *w); /* accepts NULL */

/* Does this event end a job still waited for? A job.finished with a status
 * does; so does a job.duplicate whose record has a status (the job had
 * ended before it was sent again). Any other event, a job not in the set,
 * or a job that already ended: false. On true, *end says how. */
bool job_waits_feed(job_waits *w, const json_t *ev, job_end *end);

/* How many are still waited for. */
size_t job_waits_open(const job_waits *w);
/* Did every job end with status success? (false while any is open) */
bool job_waits_all_succeeded(const job_waits *w);

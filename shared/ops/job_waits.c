#include "ops/job_waits.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

typedef struct waited {
  char *job_id;
  char *status; /* NULL while it runs */
} waited;

struct job_waits {
  waited *jobs;
  size_t n;
  size_t open;
};

static waited *find(job_waits *w, const char *job_id) {
  for (size_t i = 0; i < w->n; i++)
    if (strcmp(w->jobs[i].job_id, job_id) == 0)
      return &w->jobs[i];
  return NULL;
}

job_waits *job_waits_new(const char *const *job_ids, size_t n) {
  job_waits *w = bw_xcalloc(1, sizeof(*w));
  w->jobs = bw_xcalloc(n ? n : 1, sizeof(*w->jobs));
  for (size_t i = 0; i < n; i++) {
    if (find(w, job_ids[i]))
      continue;
    w->jobs[w->n++].job_id = bw_strdup(job_ids[i]);
  }
  w->open = w->n;
  return w;
}

void job_waits_free(job_waits *w) {
  if (!w)
    return;
  for (size_t i = 0; i < w->n; i++) {
    free(w->jobs[i].job_id);
    free(w->jobs[i].status);
  }
  free(w->jobs);
  free(w);
}

/* The status an event gives its job's end, or NULL when it gives none. */
static const char *status_of(const json_t *ev) {
  const char *type = json_string_value(json_object_get(ev, "type"));
  if (!type)
    return NULL;
  if (strcmp(type, "job.finished") == 0)
    return json_string_value(json_object_get(ev, "status"));
  if (strcmp(type, "job.duplicate") == 0)
    return json_string_value(json_object_get(json_object_get(ev, "record"), "status"));
  return NULL;
}

bool job_waits_feed(job_waits *w, const json_t *ev, job_end *end) {
  const char *job_id = json_string_value(json_object_get(ev, "job_id"));
  waited *j = job_id ? find(w, job_id) : NULL;
  const char *status = j && !j->status ? status_of(ev) : NULL;
  if (!status || !*status)
    return false;
  j->status = bw_strdup(status);
  w->open--;
  *end = (job_end){.job_id = j->job_id,
                   .status = j->status,
                   .exit_code = json_object_get(ev, "exit_code"),
                   .message = json_string_value(json_object_get(ev, "message"))};
  return true;
}

size_t job_waits_open(const job_waits *w) {
  return w->open;
}

bool job_waits_all_succeeded(const job_waits *w) {
  for (size_t i = 0; i < w->n; i++)
    if (!w->jobs[i].status || strcmp(w->jobs[i].status, "success") != 0)
      return false;
  return true;
}

/* How a job ended, and how that is decided from what the engine reports. */
#pragma once

#include <stdbool.h>

typedef enum job_status {
  JOB_SUCCESS = 0,       /* exit code 0 */
  JOB_USER_ERROR,        /* exit code 1: the job's own failure, output shown */
  JOB_APPLICATION_ERROR, /* any other exit code: the component's bug */
  JOB_TIMEOUT,           /* stopped after its time limit */
  JOB_OOM,               /* killed for memory, whatever the exit code */
  JOB_CANCELLED,         /* stopped on request */
  JOB_INFRA_ERROR,       /* the engine, registry, disk or network on our side */
  JOB_REJECTED,          /* the request was invalid: nothing ran */
  JOB_DISK_LIMIT,        /* stopped for writing more than limits.disk */
} job_status;

#define JOB_STATUS_COUNT 9

const char *job_status_name(job_status s);
/* -1 when the name is unknown. */
int job_status_parse(const char *name, job_status *out);

/* The reference's order: out-of-memory first (State.OOMKilled, whatever the
 * exit code), then our own timeout kill, then a cancel, then the exit code. */
job_status job_status_classify(bool oom_killed, bool timed_out, bool cancelled, long exit_code);

#include "job/job_status.h"

#include <string.h>

static const char *const names[JOB_STATUS_COUNT] = {
    "success",   "user_error",  "application_error", "timeout",   "oom",
    "cancelled", "infra_error", "rejected",          "disk_limit"};

const char *job_status_name(job_status s) {
  return (unsigned)s < JOB_STATUS_COUNT ? names[s] : "unknown";
}

int job_status_parse(const char *name, job_status *out) {
  for (int i = 0; i < JOB_STATUS_COUNT; i++) {
    if (strcmp(name, names[i]) == 0) {
      *out = (job_status)i;
      return 0;
    }
  }
  return -1;
}

job_status job_status_classify(bool oom_killed, bool timed_out, bool cancelled, long exit_code) {
  if (oom_killed)
    return JOB_OOM;
  if (timed_out)
    return JOB_TIMEOUT;
  if (cancelled)
    return JOB_CANCELLED;
  if (exit_code == 0)
    return JOB_SUCCESS;
  if (exit_code == 1)
    return JOB_USER_ERROR;
  return JOB_APPLICATION_ERROR;
}

/* Sending run requests to topic.runs, for the commands that feed the workers
 * (submit, replay): an idempotent producer, key = job_id, and every message
 * acknowledged by the broker before the call returns. */
#pragma once

#include "core/config.h"
#include "core/error.h"

#include <stddef.h>

typedef struct run_request_msg {
  const char *job_id;
  const char *payload; /* the request's JSON bytes */
  size_t len;
} run_request_msg;

/* Sends all, waits up to 30 s for their delivery; BW_ERR_UNAVAILABLE naming
 * the broker and how many were not delivered. */
int run_requests_send(const bw_config *cfg, const run_request_msg *msgs, size_t n, bw_error_t *err);

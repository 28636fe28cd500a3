/* Sending run requests to topic.runs, for the commands that feed the workers
 * (submit, replay): an idempotent producer, key = job_id, and every message
 * acknowledged by the broker before the call returns. */
#pragma once

#include "core/config.h"
#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct run_request_msg {
  const char *job_id;
  const char *payload; /* the request's JSON bytes */
  size_t len;
} run_request_msg;

/* Sends all, waits up to 30 s for their delivery; BW_ERR_UNAVAILABLE naming
 * the broker and how many were not delivered. acked (n entries, may be NULL)
 * says which the broker acknowledged: on a failure some may have been. One
 * not acknowledged may still have arrived (the wait ended first). */
int run_requests_send(const bw_config *cfg, const run_request_msg *msgs, size_t n, bool *acked,
                      bw_error_t *err);

/* A job's inputs (job/job_inputs.h), fetched into DATA/in/ before its
 * container starts.
 *
 * Safety: each body streams into a temporary file next to its destination,
 * opened with O_NOFOLLOW under folders opened one by one with O_NOFOLLOW from
 * in/, so nothing planted in in/ (a symlink, a folder link) can redirect a
 * write outside it. The file is renamed into place only when its size and
 * checksum are right; on failure the temporary file is removed. Redirects
 * may only lead to http or https (never to file://, which would let a remote
 * server read the worker's own files). Error messages show URLs without
 * their userinfo, query and fragment.
 *
 * Network: every connection an http(s) input makes, the first and each
 * redirect's, is checked just before it is made, on the address actually
 * connected, against net_policy (loopback, private, link-local, ... refused
 * unless jobs.inputs.allow opens them). Redirects are followed here, not by
 * curl, so that each hop's host name is known to the check; at most
 * INPUTS_MAX_REDIRECTS of them. Proxies from the environment are not used. */
#pragma once

#include "clients/s3_client.h"
#include "core/cancel.h"
#include "core/error.h"
#include "core/net_policy.h"
#include "job/job_inputs.h"

#include <stddef.h>
#include <stdint.h>

#define INPUTS_CONNECT_TIMEOUT_S 30L
#define INPUTS_MAX_REDIRECTS 5
/* A transfer slower than 1 byte/s for this long is abandoned. */
#define INPUTS_LOW_SPEED_TIME_S 60L

typedef struct inputs_options {
  int64_t default_max_bytes; /* bounds an input without max_bytes; 0: no bound */
  const bw_cancel *cancel;   /* may be NULL: a transfer stops when it turns non-zero */
  /* bw_time_monotonic_ms() after which no input may go on: bounds all the
   * inputs of a job together; 0: none. */
  int64_t deadline_ms;
  /* Which addresses http(s) inputs may reach: a parsed jobs.inputs.allow
   * (net_policy_parse, e.g. once per worker), else the text `allow` is
   * parsed at each call (once per job; cheap). Both NULL: the defaults only. */
  const net_policy *policy;
  const char *allow;
  /* s3:// inputs are read with this client (the worker's credentials);
   * NULL: they are refused. */
  s3_client *s3;
} inputs_options;

/* Fetches every input into in_dir (an existing folder the worker made),
 * in order, stopping at the first failure. opts may be NULL (no bound, no
 * deadline, the default network policy).
 * Kinds: BW_ERR_USER for what the job asked for (HTTP 4xx, a missing
 * file:// source, a checksum mismatch, a body too large, a bad path or a
 * destination folder that is a symlink, an address the policy refuses, too
 * many redirects), BW_ERR_UNAVAILABLE for transport failures, HTTP 5xx and
 * the worker's own disk, BW_ERR_TIMEOUT when the deadline passes,
 * BW_ERR_CANCELLED. */
int inputs_fetch(const char *in_dir, const job_input *inputs, size_t count,
                 const inputs_options *opts, bw_error_t *err);

/* What a job's container prints, from the Engine's bytes to job.log events:
 *
 *   attach stream bytes (frames, or raw bytes with a TTY), cut anywhere
 *     -> log_stream: demultiplexed, split into lines, masked, long lines cut
 *     -> log_tail:   the last lines kept for the message of a failed job
 *     -> log_budget: the first and the last part of the output kept
 *     -> job.log events (text made valid UTF-8), and job.log.trimmed
 *
 * No threads and no I/O but the events, so that a test or a fuzz target can
 * drive exactly what the pipeline runs (job_logs feeds it from the attach
 * stream). Memory is bounded whatever the bytes: two line buffers of at most
 * max_line_bytes, the masker's window, the budget's ring (half of
 * max_log_bytes) and the fixed tail. Must not be moved after init. */
#pragma once

#include "core/error.h"
#include "job/events.h"
#include "pipeline/log_budget.h"
#include "pipeline/log_stream.h"
#include "pipeline/log_tail.h"
#include "job/masker.h"

#include <stdbool.h>
#include <stddef.h>

/* Lines longer than this become several job.log events marked "cut". */
#define JOB_OUTPUT_MAX_LINE (16 * 1024)

typedef struct job_output {
  const job_events *events;
  log_stream stream;
  log_budget budget;
  log_tail tail;
} job_output;

/* mask and events are borrowed and must outlive the output; mask must have
 * all its secrets by now. max_line_bytes 0 means JOB_OUTPUT_MAX_LINE;
 * max_log_bytes is the budget (0: unlimited). */
void job_output_init(job_output *o, bool tty, size_t max_line_bytes, size_t max_log_bytes,
                     const masker *mask, const job_events *events);
/* As log_stream_feed: -1 with *err on a bad frame header (sticky). */
int job_output_feed(job_output *o, const char *bytes, size_t len, bw_error_t *err);
/* End of the output: the unterminated lines, then the budget's tail. Once. */
void job_output_finish(job_output *o);
void job_output_free(job_output *o);

/* The last lines (masked), valid UTF-8 without NUL bytes: free() it. */
char *job_output_tail_text(const job_output *o);

/* A container's output, followed on a thread of its own: the thread attaches
 * to the container before it starts (so nothing is missed and nothing has to
 * go through the engine's log files first), the stream is demultiplexed,
 * masked, capped (first and last part kept) and turned into job.log events.
 * Attach gives back-pressure: a container cannot outrun the worker, and the
 * worker's memory stays bounded however much the container prints. */
#pragma once

#include "core/cancel.h"

#include "clients/docker_client.h"
#include "job/events.h"
#include "pipeline/job_output.h"
#include "job/masker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct job_logs {
  docker_client *dc; /* its own connection: the stream blocks */
  char *container_id;
  job_output output; /* the follow thread's until it is joined, then the caller's */
  pthread_t thread;
  bool started;
  atomic_bool done;
  pthread_mutex_t lock; /* guards attach_status */
  pthread_cond_t attached;
  long attach_status; /* 0 until the attach answered */
  bw_cancel stop;     /* asks the stream to end */
  bw_error_t err;     /* why following failed, if it did */
} job_logs;

/* Attaches to the created (not yet started) container's output; returns once
 * the stream is connected, so the caller may start the container. */
int job_logs_start(job_logs *jl, const docker_client *main_client, const char *container_id,
                   bool tty, size_t max_bytes, const masker *mask, const job_events *events,
                   bw_error_t *err);
/* Waits up to wait_ms for the stream to end by itself (the container stopped),
 * then stops it, joins the thread and emits the kept tail. */
void job_logs_finish(job_logs *jl, long wait_ms);
void job_logs_free(job_logs *jl);
/* The last output lines (masked, valid UTF-8), for messages of failed jobs;
 * free() it. After job_logs_finish. */
char *job_logs_tail(const job_logs *jl);

/* A running job's disk, watched against limits.disk on a thread of its own:
 * every interval it measures the data folder (disk_usage.h), and every few
 * intervals the container's writable layer too (the engine's SizeRw, which
 * costs a walk on the engine's side); when the sum is over the limit, or the
 * folder cannot be measured, it kills the container at once and says why.
 * The pipeline's wait then returns, and disk_watch_stop() tells it the job
 * ended for its disk. A fast writer can pass the limit by what it writes in
 * one interval before it is stopped: the limit bounds what is kept and
 * uploaded (checked again before the upload), the interval how far past it
 * a job can get (docs/components.md). */
#pragma once

#include "core/cancel.h"

#include "core/disk_usage.h"
#include "clients/docker_client.h"
#include "core/error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The writable layer is measured every this many intervals. */
#define DISK_WATCH_LAYER_EVERY 5

typedef struct disk_watch {
  docker_client *dc; /* the thread's own: clients are one per thread */
  char *dir;
  char *container_id;
  int64_t limit;
  long interval_ms;
  pthread_t thread;
  bool started;
  bw_cancel stop;
  atomic_bool exceeded;
  /* Written by the thread before it sets `exceeded`, read after the join. */
  disk_usage usage;
  int64_t layer_bytes;
  int64_t peak_bytes;
} disk_watch;

/* Starts watching dir (the job's data folder) and the container. The
 * client's socket and negotiated version are copied. limit <= 0: no watch
 * (returns 0 and does nothing). */
int disk_watch_start(disk_watch *w, const docker_client *main_client, const char *container_id,
                     const char *dir, int64_t limit, long interval_ms, bw_error_t *err);
/* Stops and joins the thread; true when it stopped the container for its
 * disk (w->usage and w->layer_bytes say how much). Safe to call twice. */
bool disk_watch_stop(disk_watch *w);
void disk_watch_free(disk_watch *w);

/* The message of a job stopped for its disk ("disk limit: ..."), from a
 * measure of dir and (layer_bytes >= 0) the writable layer: free() it. */
char *disk_watch_message(const disk_usage *u, int64_t layer_bytes, int64_t limit);

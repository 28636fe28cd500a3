/* A stop request that other threads read: a job's cancel level (the
 * heartbeat thread raises it on a cancel flag, the main loop at shutdown;
 * the job's thread and its transfers read it), or a thread's stop flag.
 * One atomic that only rises, so that a graceful stop can never undo a
 * kill-now that came first. 0 means go on. */
#pragma once

#include <stdatomic.h>

typedef atomic_int bw_cancel;

/* The level now; NULL reads as 0. */
static inline int bw_cancel_level(const bw_cancel *c) {
  return c ? atomic_load(c) : 0;
}

/* Raises the level to at least `level` (compare-and-swap: never lowers). */
static inline void bw_cancel_raise(bw_cancel *c, int level) {
  int now = atomic_load(c);
  while (now < level && !atomic_compare_exchange_weak(c, &now, level)) {
  }
}

/* Back to 0, for a flag about to be reused (a slot's next job). Only while
 * no other thread reads it. */
static inline void bw_cancel_reset(bw_cancel *c) {
  atomic_store(c, 0);
}

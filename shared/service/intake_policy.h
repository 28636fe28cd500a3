/* The decisions of intake (service/intake.c), as pure functions: no Kafka,
 * no Redis, no clock of their own; tests/unit/test_intake_policy.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct intake_view {
  bool paused;             /* intake is paused now */
  bool draining;           /* a stop signal came: no new jobs */
  int free_slots;          /* job slots with nothing running */
  size_t waiting_for_slot; /* requests taken ahead, parked until a slot frees (the lookahead) */
  size_t prefetch;         /* worker.prefetch: how many may be taken ahead */
} intake_view;

/* Should the assigned partitions be paused? While draining, always. Else
 * paused once every slot is busy and the lookahead is full, and resumed
 * once a slot is free or the lookahead is down to half (with no lookahead:
 * resumed as soon as a slot is free). */
bool intake_policy_pause(const intake_view *v);

/* When a request parked now is first looked at again (monotonic ms): one
 * waiting for a slot at the next look (0); one held by a live lease or
 * waiting for Redis after a heartbeat, when the lease may have changed. */
int64_t intake_policy_first_check(bool waiting_for_slot, int64_t now_ms, int64_t heartbeat_ms);

/* Is a parked request to be claimed again now? Only when its time has come,
 * the worker is not draining and a slot is free (a claim without a slot
 * would have nowhere to run). Parked requests are tried in arrival order. */
bool intake_policy_due(int64_t next_check_ms, int64_t now_ms, bool draining, bool slot_free);

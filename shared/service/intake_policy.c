#include "service/intake_policy.h"

bool intake_policy_pause(const intake_view *v) {
  if (v->draining)
    return true;
  if (v->free_slots > 0)
    return false;
  /* Every slot busy: the lookahead decides, with a gap between pausing
   * (full) and resuming (half), so intake does not flap at every job. */
  if (v->paused)
    return v->prefetch == 0 || v->waiting_for_slot > v->prefetch / 2;
  return v->waiting_for_slot >= v->prefetch;
}

int64_t intake_policy_first_check(bool waiting_for_slot, int64_t now_ms, int64_t heartbeat_ms) {
  return waiting_for_slot ? 0 : now_ms + heartbeat_ms;
}

bool intake_policy_due(int64_t next_check_ms, int64_t now_ms, bool draining, bool slot_free) {
  return next_check_ms <= now_ms && !draining && slot_free;
}

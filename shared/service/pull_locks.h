/* Image-pull locks: at most one pull of an image per host at a time.
 *
 * Two levels. Inside the process, a table holds one entry per image being
 * acquired or held, owned by one thread; other threads asking for that image
 * wait on a condition variable. Across worker processes of the host, the
 * entry's owner also holds the Redis key PREFIX "pull:" HOST ":" IMAGE, whose
 * value is this object's random token (SET NX PX 30 s, polled every
 * 100-200 ms while another process holds it). The heartbeat thread calls
 * pull_locks_refresh() every few seconds while pulls run.
 *
 * When Redis cannot be reached the table alone serialises the pulls of this
 * process (a single flight per image) and acquire still succeeds: a pull
 * must not fail because the lock service is down. The outage is logged once
 * (warn), its end once (info).
 *
 * Thread-safe: one Redis connection guarded by a mutex, reconnected lazily
 * (one attempt per call, redis.timeout.ms bounding every command). */
#pragma once

#include "core/cancel.h"

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"

#include <stdint.h>

#define PULL_LOCKS_TTL_MS 30000L
#define PULL_LOCKS_POLL_MIN_MS 100L
#define PULL_LOCKS_POLL_MAX_MS 200L

typedef struct pull_locks pull_locks;

typedef struct pull_locks_stats {
  uint64_t acquisitions; /* pull_locks_acquire calls that returned 0 */
  uint64_t waits;        /* ... of which found the image held and waited */
  uint64_t fallbacks;    /* ... of which hold the image in-process only (Redis failed) */
  uint64_t lost;         /* refreshes that found a held key taken by another token */
} pull_locks_stats;

/* cfg, log and everything they point to are borrowed and must outlive the
 * object; host and prefix ("bw:") are copied. Does not connect: the first
 * acquire does. NULL only when no random token can be made. */
pull_locks *pull_locks_new(const bw_config *cfg, const bw_logger *log, const char *host,
                           const char *prefix);
/* Blocks until this thread holds `image`. wait_timeout_ms < 0: no limit;
 * 0: one try. Fails with BW_ERR_TIMEOUT when the time is up and with
 * BW_ERR_CANCELLED when *cancel (may be NULL) turns non-zero; a Redis failure
 * is not an error (in-process fallback). Not reentrant: a thread asking again
 * for an image it holds waits for itself until the timeout. */
int pull_locks_acquire(pull_locks *pl, const char *image, long wait_timeout_ms,
                       const bw_cancel *cancel, bw_error_t *err);
/* Releases `image` if the calling thread holds it (the Redis key is deleted
 * only while it still carries our token); otherwise does nothing. */
void pull_locks_release(pull_locks *pl, const char *image);
/* For every image held: PEXPIRE the key when it carries our token, SET it
 * again when it vanished (expired during an outage, or Redis restarted);
 * a key another token holds is counted as lost and logged. An image held
 * in-process during an outage gets its key this way once Redis is back. */
void pull_locks_refresh(pull_locks *pl);
void pull_locks_stats_get(pull_locks *pl, pull_locks_stats *out);
/* Deletes the keys still held (best effort); accepts NULL. No thread may be
 * inside another pull_locks_* call. */
void pull_locks_free(pull_locks *pl);

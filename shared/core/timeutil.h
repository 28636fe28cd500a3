/* Clocks: wall time for what people read, monotonic time for deadlines. */
#pragma once

#include "core/cancel.h"

#include "core/error.h"

#include <stdint.h>

#define BW_RFC3339_LEN 32

/* "2026-11-27T23:50:01.123Z" (UTC, milliseconds). */
void bw_time_rfc3339_now(char out[BW_RFC3339_LEN]);
void bw_time_rfc3339_from_ms(int64_t epoch_ms, char out[BW_RFC3339_LEN]);
int64_t bw_time_epoch_ms(void);
int64_t bw_time_monotonic_ms(void);
/* Sleeps, restarting after signals; returns early only when *stop turns non-zero
 * (checked every 50 ms). stop may be NULL. */
void bw_time_sleep_ms(int64_t ms, const bw_cancel *stop);

/* A point in time given by a person: RFC 3339 in UTC ("2026-11-28T03:00:00Z",
 * fractions and "+00:00" allowed, or a date alone "2026-11-28") or an age
 * before now_ms ("90s", "15m", "2h", "7d"). BW_ERR_INVALID saying which forms
 * are understood. */
int bw_time_parse_point(const char *text, int64_t now_ms, int64_t *out_ms, bw_error_t *err);

/* Structured logs: one JSON object per line on stderr (docs/logging.md).
 *   {"ts":"2026-11-27T23:50:01.123Z","level":"info","worker":"w1","msg":"..."}
 * Extra fields come as key/value string pairs ending with NULL. Each line is
 * written with one write() so lines from threads do not interleave. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>

typedef enum bw_log_level {
  BW_LOG_DEBUG = 0,
  BW_LOG_INFO,
  BW_LOG_WARN,
  BW_LOG_ERROR,
} bw_log_level;

typedef struct bw_logger {
  bw_log_level min_level;
  int fd;                /* usually 2 */
  const char *worker_id; /* borrowed; may be NULL */
} bw_logger;

void bw_logger_init(bw_logger *lg, bw_log_level min_level, int fd, const char *worker_id);

/* "debug" | "info" | "warn" | "error" -> level; returns -1 when unknown. */
int bw_log_level_parse(const char *name, bw_log_level *out);
const char *bw_log_level_name(bw_log_level level);

void bw_log(const bw_logger *lg, bw_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* msg, then key, value, key, value, ..., NULL. */
void bw_log_fields(const bw_logger *lg, bw_log_level level, const char *msg, ...)
    __attribute__((sentinel));

#define bw_log_debug(lg, ...) bw_log((lg), BW_LOG_DEBUG, __VA_ARGS__)
#define bw_log_info(lg, ...) bw_log((lg), BW_LOG_INFO, __VA_ARGS__)
#define bw_log_warn(lg, ...) bw_log((lg), BW_LOG_WARN, __VA_ARGS__)
#define bw_log_error(lg, ...) bw_log((lg), BW_LOG_ERROR, __VA_ARGS__)

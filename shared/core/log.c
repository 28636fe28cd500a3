#include "core/log.h"

#include "core/cleanup.h"
#include "core/error.h"
#include "core/timeutil.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void bw_logger_init(bw_logger *lg, bw_log_level min_level, int fd, const char *worker_id) {
  lg->min_level = min_level;
  lg->fd = fd;
  lg->worker_id = worker_id;
}

int bw_log_level_parse(const char *name, bw_log_level *out) {
  for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *out = (bw_log_level)i;
      return 0;
    }
  }
  return -1;
}

const char *bw_log_level_name(bw_log_level level) {
  if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
    return level_names[level];
  return "unknown";
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return; /* nowhere left to report a logging failure */
    }
    buf += n;
    len -= (size_t)n;
  }
}

static void emit(const bw_logger *lg, bw_log_level level, const char *msg, va_list *fields) {
  char ts[BW_RFC3339_LEN];
  bw_time_rfc3339_now(ts);
  cleanup_json json_t *line = json_object();
  json_object_set_new(line, "ts", json_string(ts));
  json_object_set_new(line, "level", json_string(bw_log_level_name(level)));
  if (lg->worker_id)
    json_object_set_new(line, "worker", json_string(lg->worker_id));
  /* json_string refuses invalid UTF-8; say so rather than drop the line. */
  json_t *jmsg = json_string(msg);
  json_object_set_new(line, "msg", jmsg ? jmsg : json_string("(message not valid UTF-8)"));
  if (fields) {
    const char *key;
    while ((key = va_arg(*fields, const char *)) != NULL) {
      const char *value = va_arg(*fields, const char *);
      json_t *jv = json_string(value ? value : "");
      json_object_set_new(line, key, jv ? jv : json_string("(not valid UTF-8)"));
    }
  }
  cleanup_free char *text = json_dumps(line, JSON_PRESERVE_ORDER | JSON_COMPACT);
  if (!text)
    return;
  cleanup_free char *with_nl = bw_strdup_printf("%s\n", text);
  write_all(lg->fd, with_nl, strlen(with_nl));
}

void bw_log(const bw_logger *lg, bw_log_level level, const char *fmt, ...) {
  if (!lg || level < lg->min_level)
    return;
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *msg = bw_strdup_vprintf(fmt, ap);
  va_end(ap);
  emit(lg, level, msg, NULL);
}

void bw_log_fields(const bw_logger *lg, bw_log_level level, const char *msg, ...) {
  if (!lg || level < lg->min_level)
    return;
  va_list ap;
  va_start(ap, msg);
  emit(lg, level, msg, &ap);
  va_end(ap);
}

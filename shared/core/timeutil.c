#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t bw_time_epoch_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t bw_time_monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void bw_time_rfc3339_from_ms(int64_t epoch_ms, char out[BW_RFC3339_LEN]) {
  time_t secs = (time_t)(epoch_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char date[24];
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, BW_RFC3339_LEN, "%.20s.%03dZ", date, (int)(epoch_ms % 1000));
}

void bw_time_rfc3339_now(char out[BW_RFC3339_LEN]) {
  bw_time_rfc3339_from_ms(bw_time_epoch_ms(), out);
}

void bw_time_sleep_ms(int64_t ms, const bw_cancel *stop) {
  int64_t deadline = bw_time_monotonic_ms() + ms;
  for (;;) {
    if (bw_cancel_level(stop))
      return;
    int64_t left = deadline - bw_time_monotonic_ms();
    if (left <= 0)
      return;
    if (stop && left > 50)
      left = 50;
    struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
    nanosleep(&ts, NULL);
  }
}

static int parse_age(const char *text, int64_t *age_ms) {
  char *end = NULL;
  long long n = strtoll(text, &end, 10);
  if (end == text || n < 0 || n > 100000 || strlen(end) != 1)
    return -1;
  static const struct {
    char unit;
    int64_t ms;
  } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}};
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
    if (*end == units[i].unit) {
      *age_ms = n * units[i].ms;
      return 0;
    }
  return -1;
}

int bw_time_parse_point(const char *text, int64_t now_ms, int64_t *out_ms, bw_error_t *err) {
  int64_t age = 0;
  if (text && parse_age(text, &age) == 0) {
    *out_ms = now_ms - age;
    return 0;
  }
  struct tm tm = {0};
  const char *rest = text ? strptime(text, "%Y-%m-%d", &tm) : NULL;
  int64_t frac_ms = 0;
  if (rest && *rest == 'T') {
    rest = strptime(rest + 1, "%H:%M:%S", &tm);
    if (rest && *rest == '.') {
      int digits = 0;
      for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
        if (digits < 3)
          frac_ms = frac_ms * 10 + (*rest - '0');
      for (; digits > 0 && digits < 3; digits++)
        frac_ms *= 10;
    }
    if (rest && (strcmp(rest, "Z") == 0 || strcmp(rest, "+00:00") == 0))
      rest = "";
  }
  if (!rest || *rest)
    return bw_error_set(err, BW_ERR_INVALID,
                        "'%s' is not a time: give UTC as 2026-11-28T03:00:00Z (or a date "
                        "2026-11-28), or an age like 90s, 15m, 2h, 7d",
                        text ? text : "");
  *out_ms = (int64_t)timegm(&tm) * 1000 + frac_ms;
  return 0;
}

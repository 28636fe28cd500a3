#include "timeutil.h"

#include <stdio.h>
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

void bw_time_sleep_ms(int64_t ms, const volatile int *stop) {
  int64_t deadline = bw_time_monotonic_ms() + ms;
  for (;;) {
    if (stop && *stop)
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

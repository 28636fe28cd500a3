#include "core/thread.h"

#include <signal.h>

int bw_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg) {
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &saved);
  int rc = pthread_create(thread, NULL, fn, arg);
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  return rc;
}

void bw_with_signals_blocked(void (*fn)(void *), void *arg) {
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &saved);
  fn(arg);
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

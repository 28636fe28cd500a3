/* Linked into every executable of a BW_TSAN build, never into another.
 *
 * librdkafka makes its threads and locks with C11's <threads.h>. glibc's
 * thrd_create, mtx_lock and friends call its pthread internals directly, so
 * ThreadSanitizer (gcc 12's and clang 14's) sees neither the threads (the
 * first allocation on one crashes in the TSan runtime) nor the locks (every
 * hand-over between librdkafka's threads and our callbacks would look like a
 * race). These definitions take precedence over glibc's for librdkafka (the
 * linker exports them from the executable, since a shared library refers to
 * them) and go through the pthread functions that TSan intercepts. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread mutex in glibc");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread cond in glibc");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t in glibc");

typedef struct {
  thrd_start_t fn;
  void *arg;
} c11_start;

static int c11_result(int pthread_rc) {
  if (pthread_rc == 0)
    return thrd_success;
  if (pthread_rc == ENOMEM)
    return thrd_nomem;
  if (pthread_rc == EBUSY)
    return thrd_busy;
  if (pthread_rc == ETIMEDOUT)
    return thrd_timedout;
  return thrd_error;
}

static void *c11_trampoline(void *p) {
  c11_start start = *(c11_start *)p;
  free(p);
  return (void *)(intptr_t)start.fn(start.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg) {
  c11_start *start = malloc(sizeof(*start));
  if (!start)
    return thrd_nomem;
  *start = (c11_start){fn, arg};
  int rc = pthread_create((pthread_t *)thr, NULL, c11_trampoline, start);
  if (rc != 0)
    free(start);
  return c11_result(rc);
}

int thrd_join(thrd_t thr, int *res) {
  void *ret = NULL;
  int rc = pthread_join((pthread_t)thr, &ret);
  if (rc == 0 && res)
    *res = (int)(intptr_t)ret;
  return c11_result(rc);
}

int thrd_detach(thrd_t thr) {
  return c11_result(pthread_detach((pthread_t)thr));
}

int mtx_init(mtx_t *m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive)
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  int rc = pthread_mutex_init((pthread_mutex_t *)m, &attr);
  pthread_mutexattr_destroy(&attr);
  return c11_result(rc);
}

int mtx_lock(mtx_t *m) {
  return c11_result(pthread_mutex_lock((pthread_mutex_t *)m));
}
int mtx_trylock(mtx_t *m) {
  return c11_result(pthread_mutex_trylock((pthread_mutex_t *)m));
}
int mtx_unlock(mtx_t *m) {
  return c11_result(pthread_mutex_unlock((pthread_mutex_t *)m));
}
void mtx_destroy(mtx_t *m) {
  pthread_mutex_destroy((pthread_mutex_t *)m);
}

int cnd_init(cnd_t *c) {
  return c11_result(pthread_cond_init((pthread_cond_t *)c, NULL));
}
int cnd_signal(cnd_t *c) {
  return c11_result(pthread_cond_signal((pthread_cond_t *)c));
}
int cnd_broadcast(cnd_t *c) {
  return c11_result(pthread_cond_broadcast((pthread_cond_t *)c));
}
void cnd_destroy(cnd_t *c) {
  pthread_cond_destroy((pthread_cond_t *)c);
}

int cnd_wait(cnd_t *c, mtx_t *m) {
  return c11_result(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict until) {
  return c11_result(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, until));
}

void call_once(once_flag *flag, void (*fn)(void)) {
  pthread_once((pthread_once_t *)flag, fn);
}

/* shared/service/pull_locks.h with Redis unreachable (127.0.0.1:1, a closed port):
 * the in-process single flight still serialises pulls of one image, lets
 * other images through, honours timeouts and cancels, ignores a release by
 * a thread that does not hold the image, and logs the outage once. */
#include "service/pull_locks.h"

#include "core/cleanup.h"
#include "core/config.h"
#include "core/timeutil.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
  bw_config cfg;
  bw_logger log;
  int log_fd;
  pull_locks *pl;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  bw_config_init(&f->cfg);
  bw_error_t err = NULL;
  if (bw_config_set(&f->cfg, "redis.host", "127.0.0.1", "test", &err) < 0 ||
      bw_config_set(&f->cfg, "redis.port", "1", "test", &err) < 0 ||
      bw_config_set(&f->cfg, "redis.timeout.ms", "200", "test", &err) < 0)
    fail_msg("config: %s", bw_error_msg(&err));
  f->log_fd = memfd_create("log", 0);
  bw_logger_init(&f->log, BW_LOG_INFO, f->log_fd, "test");
  f->pl = pull_locks_new(&f->cfg, &f->log, "host", "bwtest:");
  assert_non_null(f->pl);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  pull_locks_free(f->pl);
  close(f->log_fd);
  bw_config_free(&f->cfg);
  free(f);
  return 0;
}

static int log_count(const fixture *f, const char *needle) {
  char buf[65536];
  ssize_t n = pread(f->log_fd, buf, sizeof(buf) - 1, 0);
  assert_true(n >= 0);
  buf[n] = '\0';
  int count = 0;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
    count += strstr(line, needle) != NULL;
  return count;
}

typedef struct arena {
  pull_locks *pl;
  const char *image;
  int rounds;
  atomic_int inside, overlaps, failures;
} arena;

static void *contend(void *arg) {
  arena *a = arg;
  for (int i = 0; i < a->rounds; i++) {
    bw_error_t err = NULL;
    if (pull_locks_acquire(a->pl, a->image, 30000, NULL, &err) < 0) {
      atomic_fetch_add(&a->failures, 1);
      bw_error_release(&err);
      continue;
    }
    if (atomic_fetch_add(&a->inside, 1) != 0)
      atomic_fetch_add(&a->overlaps, 1);
    usleep(1000);
    atomic_fetch_sub(&a->inside, 1);
    pull_locks_release(a->pl, a->image);
  }
  return NULL;
}

static void fallback_serialises_one_image(void **state) {
  fixture *f = *state;
  arena a = {.pl = f->pl, .image = "img/x:1", .rounds = 20};
  pthread_t ths[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&ths[i], NULL, contend, &a), 0);
  for (int i = 0; i < 4; i++) {
    pull_locks_refresh(f->pl); /* no Redis: holds stay as they are */
    pthread_join(ths[i], NULL);
  }
  assert_int_equal(atomic_load(&a.failures), 0);
  assert_int_equal(atomic_load(&a.overlaps), 0);
  pull_locks_stats st;
  pull_locks_stats_get(f->pl, &st);
  assert_int_equal(st.acquisitions, 80);
  assert_int_equal(st.fallbacks, 80);
  assert_true(st.waits > 0);
  /* One warning for the whole outage, naming the address and the fallback. */
  assert_int_equal(log_count(f, "\"level\":\"warn\""), 1);
  assert_int_equal(log_count(f, "127.0.0.1:1"), 1);
  assert_int_equal(log_count(f, "serialised in this process only"), 1);
  assert_int_equal(log_count(f, "reachable again"), 0);
}

typedef struct side_call {
  pull_locks *pl;
  const char *image;
  long timeout_ms;
  const bw_cancel *cancel;
  bool release_only;
  int rc;
  bw_error_kind kind;
  int64_t elapsed_ms;
} side_call;

static void *side(void *arg) {
  side_call *s = arg;
  if (s->release_only) {
    pull_locks_release(s->pl, s->image);
    return NULL;
  }
  bw_error_t err = NULL;
  int64_t t0 = bw_time_monotonic_ms();
  s->rc = pull_locks_acquire(s->pl, s->image, s->timeout_ms, s->cancel, &err);
  s->elapsed_ms = bw_time_monotonic_ms() - t0;
  s->kind = err ? err->kind : 0;
  bw_error_release(&err);
  if (s->rc == 0)
    pull_locks_release(s->pl, s->image);
  return NULL;
}

static void run_side(side_call *s) {
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, side, s), 0);
  pthread_join(th, NULL);
}

static void held_image_times_out_others_pass(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(pull_locks_acquire(f->pl, "img/a:1", 0, NULL, &err), 0);

  side_call other = {.pl = f->pl, .image = "img/b:1", .timeout_ms = 0};
  run_side(&other);
  assert_int_equal(other.rc, 0);

  side_call same = {.pl = f->pl, .image = "img/a:1", .timeout_ms = 250};
  run_side(&same);
  assert_int_equal(same.rc, -1);
  assert_int_equal(same.kind, BW_ERR_TIMEOUT);
  assert_true(same.elapsed_ms >= 250 && same.elapsed_ms < 2000);

  bw_cancel cancel = 1;
  side_call cancelled = {.pl = f->pl, .image = "img/a:1", .timeout_ms = -1, .cancel = &cancel};
  run_side(&cancelled);
  assert_int_equal(cancelled.rc, -1);
  assert_int_equal(cancelled.kind, BW_ERR_CANCELLED);

  /* Another thread's release does not free it. */
  side_call thief = {.pl = f->pl, .image = "img/a:1", .release_only = true};
  run_side(&thief);
  side_call after = {.pl = f->pl, .image = "img/a:1", .timeout_ms = 0};
  run_side(&after);
  assert_int_equal(after.rc, -1);
  assert_int_equal(after.kind, BW_ERR_TIMEOUT);

  pull_locks_release(f->pl, "img/a:1");
  run_side(&after);
  assert_int_equal(after.rc, 0);
  pull_locks_release(f->pl, "img/never-held:1"); /* harmless */
}

static void waiter_wakes_when_the_holder_releases(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(pull_locks_acquire(f->pl, "img/w:1", 0, NULL, &err), 0);
  side_call waiter = {.pl = f->pl, .image = "img/w:1", .timeout_ms = 5000};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, side, &waiter), 0);
  usleep(200 * 1000);
  pull_locks_release(f->pl, "img/w:1");
  pthread_join(th, NULL);
  assert_int_equal(waiter.rc, 0);
  assert_true(waiter.elapsed_ms >= 150 && waiter.elapsed_ms < 1000);
}

static void free_accepts_null(void **state) {
  pull_locks_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(fallback_serialises_one_image, setup, teardown),
      cmocka_unit_test_setup_teardown(held_image_times_out_others_pass, setup, teardown),
      cmocka_unit_test_setup_teardown(waiter_wakes_when_the_holder_releases, setup, teardown),
      cmocka_unit_test(free_accepts_null),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* shared/service/pull_locks.h against the stack's real redis-server: threads
 * of one process and separate objects (as separate processes) never hold one
 * image at once; release by a non-owner does nothing; refresh extends the TTL.
 * Each test has its own key prefix and deletes its keys. */
#include "pull_locks_fixture.h"

/* ---- contention: threads count how many are inside at once ---- */

typedef struct arena {
  const char *image;
  int rounds;
  atomic_int inside, overlaps, failures, done;
} arena;

typedef struct contender {
  pull_locks *pl;
  arena *a;
} contender;

static void *contend(void *arg) {
  contender *c = arg;
  for (int i = 0; i < c->a->rounds; i++) {
    bw_error_t err = NULL;
    if (pull_locks_acquire(c->pl, c->a->image, 30000, NULL, &err) < 0) {
      atomic_fetch_add(&c->a->failures, 1);
      bw_error_release(&err);
      continue;
    }
    if (atomic_fetch_add(&c->a->inside, 1) != 0)
      atomic_fetch_add(&c->a->overlaps, 1);
    usleep(3000);
    atomic_fetch_sub(&c->a->inside, 1);
    pull_locks_release(c->pl, c->a->image);
    usleep(3000 + (unsigned)(i % 3) * 1000);
  }
  atomic_fetch_add(&c->a->done, 1);
  return NULL;
}

typedef struct refresher {
  pull_locks **pls;
  size_t n;
  arena *a;
  int total;
} refresher;

/* The heartbeat thread's part, as often as possible, to race with releases. */
static void *refresh_loop(void *arg) {
  refresher *r = arg;
  while (atomic_load(&r->a->done) < r->total) {
    for (size_t i = 0; i < r->n; i++)
      pull_locks_refresh(r->pls[i]);
    usleep(1000);
  }
  return NULL;
}

/* npl objects with `threads` threads each, `rounds` rounds per thread. */
static void run_contention(fixture *f, size_t npl, int threads, int rounds, const char *image) {
  pull_locks *pls[4];
  assert_true(npl <= 4 && threads <= 4);
  for (size_t i = 0; i < npl; i++) {
    pls[i] = pull_locks_new(&f->cfg, &f->log, HOST, f->prefix);
    assert_non_null(pls[i]);
  }
  arena a = {.image = image, .rounds = rounds};
  contender cs[16];
  pthread_t ths[16];
  int total = (int)npl * threads;
  for (int i = 0; i < total; i++) {
    cs[i] = (contender){.pl = pls[i % npl], .a = &a};
    assert_int_equal(pthread_create(&ths[i], NULL, contend, &cs[i]), 0);
  }
  refresher rf = {.pls = pls, .n = npl, .a = &a, .total = total};
  pthread_t rth;
  assert_int_equal(pthread_create(&rth, NULL, refresh_loop, &rf), 0);
  for (int i = 0; i < total; i++)
    pthread_join(ths[i], NULL);
  pthread_join(rth, NULL);

  assert_int_equal(atomic_load(&a.failures), 0);
  assert_int_equal(atomic_load(&a.overlaps), 0);
  uint64_t acquisitions = 0, waits = 0;
  for (size_t i = 0; i < npl; i++) {
    pull_locks_stats st;
    pull_locks_stats_get(pls[i], &st);
    acquisitions += st.acquisitions;
    waits += st.waits;
    assert_int_equal(st.fallbacks, 0);
    assert_int_equal(st.lost, 0);
    pull_locks_free(pls[i]);
  }
  assert_int_equal(acquisitions, (uint64_t)(total * rounds));
  assert_true(waits > 0);
  /* Every release deleted the key; no refresh left one behind. */
  cleanup_free char *key = lock_key(f, image);
  assert_int_equal(redis_int(f->redis, "EXISTS", key), 0);
  assert_int_equal(log_count(f, "\"level\":\"warn\""), 0);
}

static void threads_of_one_process_never_overlap(void **state) {
  run_contention(*state, 1, 3, 20, "127.0.0.1:5000/bundle-test/one:1.0");
}

static void separate_objects_never_overlap(void **state) {
  run_contention(*state, 2, 1, 25, "127.0.0.1:5000/bundle-test/two:1.0");
}

static void threads_of_two_objects_never_overlap(void **state) {
  run_contention(*state, 2, 2, 13, "127.0.0.1:5000/bundle-test/four:1.0");
}

/* ---- ownership ---- */

typedef struct side_call {
  pull_locks *pl;
  const char *image;
  long timeout_ms;
  int rc;
  bw_error_kind kind;
  bool release_only;
} side_call;

static void *side(void *arg) {
  side_call *s = arg;
  if (s->release_only) {
    pull_locks_release(s->pl, s->image);
    return NULL;
  }
  bw_error_t err = NULL;
  s->rc = pull_locks_acquire(s->pl, s->image, s->timeout_ms, NULL, &err);
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

static void release_by_a_non_owner_does_nothing(void **state) {
  fixture *f = *state;
  const char *image = "127.0.0.1:5000/bundle-test/own:1.0";
  cleanup_free char *key = lock_key(f, image);
  pull_locks *a = pull_locks_new(&f->cfg, &f->log, HOST, f->prefix);
  pull_locks *b = pull_locks_new(&f->cfg, &f->log, HOST, f->prefix);
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(pull_locks_acquire(a, image, 0, NULL, &err), 0);
  cleanup_free char *token = redis_get(f->redis, key);
  assert_non_null(token);
  assert_int_equal(strlen(token), 32);
  assert_true(redis_int(f->redis, "PTTL", key) > PULL_LOCKS_TTL_MS - 5000);

  /* Another process's release, and another thread's of ours: nothing. */
  pull_locks_release(b, image);
  side_call other_thread = {.pl = a, .image = image, .release_only = true};
  run_side(&other_thread);
  cleanup_free char *still = redis_get(f->redis, key);
  assert_non_null(still);
  assert_string_equal(still, token);

  /* Both still see it held. */
  int64_t t0 = bw_time_monotonic_ms();
  assert_int_equal(pull_locks_acquire(b, image, 300, NULL, &err), -1);
  assert_int_equal(err->kind, BW_ERR_TIMEOUT);
  assert_true(bw_time_monotonic_ms() - t0 >= 300);
  bw_error_release(&err);
  side_call same_process = {.pl = a, .image = image, .timeout_ms = 200};
  run_side(&same_process);
  assert_int_equal(same_process.rc, -1);
  assert_int_equal(same_process.kind, BW_ERR_TIMEOUT);
  bw_cancel cancel = 1;
  assert_int_equal(pull_locks_acquire(b, image, -1, &cancel, &err), -1);
  assert_int_equal(err->kind, BW_ERR_CANCELLED);
  bw_error_release(&err);

  /* The owner's release frees it for the other process. */
  pull_locks_release(a, image);
  assert_int_equal(redis_int(f->redis, "EXISTS", key), 0);
  assert_int_equal(pull_locks_acquire(b, image, 0, NULL, &err), 0);
  cleanup_free char *token_b = redis_get(f->redis, key);
  assert_non_null(token_b);
  assert_string_not_equal(token_b, token);
  pull_locks_release(b, image);
  assert_int_equal(redis_int(f->redis, "EXISTS", key), 0);

  pull_locks_stats st;
  pull_locks_stats_get(b, &st);
  assert_int_equal(st.acquisitions, 1);
  assert_int_equal(st.waits, 0);
  pull_locks_free(a);
  pull_locks_free(b);
}

static void other_images_do_not_wait(void **state) {
  fixture *f = *state;
  pull_locks *a = pull_locks_new(&f->cfg, &f->log, HOST, f->prefix);
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(pull_locks_acquire(a, "img/a:1", 0, NULL, &err), 0);
  side_call s = {.pl = a, .image = "img/b:1", .timeout_ms = 0};
  run_side(&s);
  assert_int_equal(s.rc, 0);
  pull_locks_release(a, "img/a:1");
  pull_locks_free(a);
}

/* ---- refresh ---- */

static void refresh_extends_the_ttl(void **state) {
  fixture *f = *state;
  const char *image = "127.0.0.1:5000/bundle-test/ttl:1.0";
  cleanup_free char *key = lock_key(f, image);
  pull_locks *a = pull_locks_new(&f->cfg, &f->log, HOST, f->prefix);
  pull_locks *b = pull_locks_new(&f->cfg, &f->log, HOST, f->prefix);
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(pull_locks_acquire(a, image, 0, NULL, &err), 0);
  cleanup_free char *token = redis_get(f->redis, key);

  freeReplyObject(redisCommand(f->redis, "PEXPIRE %s 1000", key));
  pull_locks_refresh(b); /* holds nothing: touches nothing */
  assert_true(redis_int(f->redis, "PTTL", key) <= 1000);
  pull_locks_refresh(a);
  assert_true(redis_int(f->redis, "PTTL", key) > PULL_LOCKS_TTL_MS - 5000);

  /* The key vanished (expired during an outage): refresh sets it again. */
  freeReplyObject(redisCommand(f->redis, "DEL %s", key));
  pull_locks_refresh(a);
  cleanup_free char *again = redis_get(f->redis, key);
  assert_non_null(again);
  assert_string_equal(again, token);

  /* Another token took it: counted and logged as lost, left alone. */
  freeReplyObject(redisCommand(f->redis, "SET %s %s PX 5000", key, "someone-else"));
  pull_locks_refresh(a);
  pull_locks_refresh(a);
  cleanup_free char *theirs = redis_get(f->redis, key);
  assert_string_equal(theirs, "someone-else");
  assert_true(redis_int(f->redis, "PTTL", key) <= 5000);
  pull_locks_stats st;
  pull_locks_stats_get(a, &st);
  assert_int_equal(st.lost, 1);
  assert_int_equal(log_count(f, "is held by another worker"), 1);
  /* Our release leaves their key alone. */
  pull_locks_release(a, image);
  cleanup_free char *after = redis_get(f->redis, key);
  assert_string_equal(after, "someone-else");
  pull_locks_free(a);
  pull_locks_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(threads_of_one_process_never_overlap, setup, teardown),
      cmocka_unit_test_setup_teardown(separate_objects_never_overlap, setup, teardown),
      cmocka_unit_test_setup_teardown(threads_of_two_objects_never_overlap, setup, teardown),
      cmocka_unit_test_setup_teardown(release_by_a_non_owner_does_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(other_images_do_not_wait, setup, teardown),
      cmocka_unit_test_setup_teardown(refresh_extends_the_ttl, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* shared/service/pull_locks.h against the stack's real redis-server: threads of one
 * process and separate objects (as separate processes) never hold one image
 * at once; release by a non-owner does nothing; refresh extends the TTL; an
 * outage (a proxy in front of Redis going down) falls back in-process and
 * recovers. Each test has its own key prefix and deletes its keys. */
#include "stack_env.h"

#include "core/cleanup.h"
#include "service/pull_locks.h"
#include "clients/redis_store.h"
#include "core/timeutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define HOST "testhost"

/* ---- fixtures ---- */

typedef struct fixture {
  bw_config cfg;
  bw_logger log;
  int log_fd;
  char *prefix;
  redisContext *redis; /* the test's own connection, for checks */
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  stack_config(&f->cfg);
  f->log_fd = memfd_create("log", 0);
  bw_logger_init(&f->log, BW_LOG_INFO, f->log_fd, "test");
  f->prefix = stack_redis_prefix();
  f->redis = stack_redis_connect(&f->cfg);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  stack_redis_cleanup(f->redis, f->prefix);
  close(f->log_fd);
  free(f->prefix);
  bw_config_free(&f->cfg);
  free(f);
  return 0;
}

static char *lock_key(const fixture *f, const char *image) {
  return bw_strdup_printf("%spull:%s:%s", f->prefix, HOST, image);
}

static long long redis_int(redisContext *ctx, const char *cmd, const char *key) {
  cleanup_redis_reply redisReply *r = redisCommand(ctx, "%s %s", cmd, key);
  assert_non_null(r);
  assert_int_equal(r->type, REDIS_REPLY_INTEGER);
  return r->integer;
}

static char *redis_get(redisContext *ctx, const char *key) {
  cleanup_redis_reply redisReply *r = redisCommand(ctx, "GET %s", key);
  assert_non_null(r);
  return r->type == REDIS_REPLY_STRING ? bw_strdup(r->str) : NULL;
}

/* How many log lines contain `needle`. */
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

/* ---- outage: a TCP proxy in front of Redis that can go down ---- */

typedef struct proxy {
  int port;
  int target_port;
  int listen_fd;
  int cmd[2], ack[2];
  int fds[64]; /* pairs: client, upstream */
  int nfds;
  pthread_t thread;
} proxy;

static int proxy_listen(proxy *p) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof(sa);
  getsockname(fd, (struct sockaddr *)&sa, &len);
  p->port = ntohs(sa.sin_port);
  return fd;
}

static void proxy_drop_all(proxy *p) {
  for (int i = 0; i < p->nfds; i++)
    close(p->fds[i]);
  p->nfds = 0;
}

static void proxy_accept(proxy *p) {
  int c = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0)
    return;
  int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->target_port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (p->nfds + 2 > 64 || connect(u, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    close(c);
    close(u);
    return;
  }
  p->fds[p->nfds++] = c;
  p->fds[p->nfds++] = u;
}

/* Moves bytes from fds[i] to its partner; false when the pair is finished. */
static bool proxy_forward(proxy *p, int i) {
  char buf[16384];
  ssize_t n = read(p->fds[i], buf, sizeof(buf));
  if (n <= 0)
    return false;
  return write(p->fds[i ^ 1], buf, (size_t)n) == n;
}

static void *proxy_main(void *arg) {
  proxy *p = arg;
  for (;;) {
    struct pollfd pfds[66];
    int n = 0;
    pfds[n++] = (struct pollfd){.fd = p->cmd[0], .events = POLLIN};
    pfds[n++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
    for (int i = 0; i < p->nfds; i++)
      pfds[n++] = (struct pollfd){.fd = p->fds[i], .events = POLLIN};
    if (poll(pfds, (nfds_t)n, -1) < 0)
      continue;
    if (pfds[0].revents) {
      char c = 0;
      if (read(p->cmd[0], &c, 1) != 1 || c == 'q') {
        proxy_drop_all(p);
        if (p->listen_fd >= 0)
          close(p->listen_fd);
        ssize_t acked = write(p->ack[1], &c, 1);
        (void)acked;
        return NULL;
      }
      if (c == 'd') {
        proxy_drop_all(p);
        close(p->listen_fd);
        p->listen_fd = -1;
      } else if (c == 'u' && p->listen_fd < 0) {
        p->listen_fd = proxy_listen(p);
      }
      if (write(p->ack[1], &c, 1) != 1)
        return NULL;
      continue;
    }
    if (p->listen_fd >= 0 && pfds[1].revents)
      proxy_accept(p);
    for (int i = 0; i < p->nfds; i++) {
      if (pfds[2 + i].revents && !proxy_forward(p, i)) {
        int pair = i & ~1;
        close(p->fds[pair]);
        close(p->fds[pair + 1]);
        memmove(&p->fds[pair], &p->fds[pair + 2], sizeof(int) * (size_t)(p->nfds - pair - 2));
        p->nfds -= 2;
        break; /* the poll set changed */
      }
    }
  }
}

static void proxy_send(proxy *p, char c) {
  assert_int_equal(write(p->cmd[1], &c, 1), 1);
  char got;
  assert_int_equal(read(p->ack[0], &got, 1), 1);
}

static void redis_outage_falls_back_and_recovers(void **state) {
  fixture *f = *state;
  proxy p = {.target_port = (int)f->cfg.redis_port};
  assert_int_equal(pipe(p.cmd), 0);
  assert_int_equal(pipe(p.ack), 0);
  p.listen_fd = proxy_listen(&p);
  assert_true(p.listen_fd >= 0);
  assert_int_equal(pthread_create(&p.thread, NULL, proxy_main, &p), 0);

  bw_config cfg;
  stack_config(&cfg);
  cleanup_error bw_error_t err = NULL;
  cleanup_free char *port = bw_strdup_printf("%d", p.port);
  assert_int_equal(bw_config_set(&cfg, "redis.port", port, "test", &err), 0);
  assert_int_equal(bw_config_set(&cfg, "redis.timeout.ms", "500", "test", &err), 0);
  pull_locks *pl = pull_locks_new(&cfg, &f->log, HOST, f->prefix);
  cleanup_free char *key1 = lock_key(f, "img/1:1");
  cleanup_free char *key2 = lock_key(f, "img/2:1");
  cleanup_free char *key3 = lock_key(f, "img/3:1");

  assert_int_equal(pull_locks_acquire(pl, "img/1:1", 0, NULL, &err), 0);
  assert_int_equal(redis_int(f->redis, "EXISTS", key1), 1);
  pull_locks_release(pl, "img/1:1");
  assert_int_equal(redis_int(f->redis, "EXISTS", key1), 0);

  /* Down: the idle connection is found closed, the reconnection refused. */
  proxy_send(&p, 'd');
  assert_int_equal(pull_locks_acquire(pl, "img/1:1", 0, NULL, &err), 0);
  pull_locks_release(pl, "img/1:1");
  assert_int_equal(pull_locks_acquire(pl, "img/2:1", 0, NULL, &err), 0);
  pull_locks_stats st;
  pull_locks_stats_get(pl, &st);
  assert_int_equal(st.fallbacks, 2);
  assert_int_equal(log_count(f, "\"level\":\"warn\""), 1);
  assert_int_equal(log_count(f, "serialised in this process only"), 1);
  assert_int_equal(redis_int(f->redis, "EXISTS", key2), 0);

  /* Back: the refresh gives the image held in-process its key. */
  proxy_send(&p, 'u');
  usleep(600 * 1000); /* past the fail-fast window after a refused connection */
  pull_locks_refresh(pl);
  assert_int_equal(log_count(f, "reachable again"), 1);
  assert_int_equal(redis_int(f->redis, "EXISTS", key2), 1);
  pull_locks_release(pl, "img/2:1");
  assert_int_equal(redis_int(f->redis, "EXISTS", key2), 0);
  assert_int_equal(pull_locks_acquire(pl, "img/3:1", 0, NULL, &err), 0);
  assert_int_equal(redis_int(f->redis, "EXISTS", key3), 1);
  pull_locks_release(pl, "img/3:1");
  pull_locks_stats_get(pl, &st);
  assert_int_equal(st.fallbacks, 2);
  assert_int_equal(st.acquisitions, 4);
  assert_int_equal(log_count(f, "\"level\":\"warn\""), 1);

  pull_locks_free(pl);
  proxy_send(&p, 'q');
  pthread_join(p.thread, NULL);
  close(p.cmd[0]);
  close(p.cmd[1]);
  close(p.ack[0]);
  close(p.ack[1]);
  bw_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(threads_of_one_process_never_overlap, setup, teardown),
      cmocka_unit_test_setup_teardown(separate_objects_never_overlap, setup, teardown),
      cmocka_unit_test_setup_teardown(threads_of_two_objects_never_overlap, setup, teardown),
      cmocka_unit_test_setup_teardown(release_by_a_non_owner_does_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(other_images_do_not_wait, setup, teardown),
      cmocka_unit_test_setup_teardown(refresh_extends_the_ttl, setup, teardown),
      cmocka_unit_test_setup_teardown(redis_outage_falls_back_and_recovers, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

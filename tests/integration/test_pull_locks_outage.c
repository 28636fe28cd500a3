/* shared/service/pull_locks.h when Redis goes away: a TCP proxy in front of
 * the stack's redis-server goes down; the locks fall back in-process, and
 * recover when it is back. */
#include "pull_locks_fixture.h"

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
      cmocka_unit_test_setup_teardown(redis_outage_falls_back_and_recovers, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

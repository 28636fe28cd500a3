/* Test support: a tiny scripted HTTP server on 127.0.0.1 for the unit tests
 * of the HTTP clients (inputs, artifact store). Header-only, since each unit
 * test is built from one source file. */
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- a tiny scripted HTTP server on 127.0.0.1 (one thread, plain sockets) ----------------
 * Answers one connection per scripted reply, in order, then stops. Each
 * request's method, target, head and body are kept for the test to check. */

#define STUB_MAX 8

typedef struct stub_reply {
  int status; /* 0 with drop: close without answering */
  bool drop;
  bool no_length;      /* no Content-Length: the body ends when the connection closes */
  const char *headers; /* extra header lines, each ending "\r\n", or NULL */
  const char *body;    /* or NULL */
} stub_reply;

typedef struct stub_request {
  char method[16];
  char target[1024];
  char *head; /* the whole request head */
  char *body;
  size_t body_len;
} stub_request;

typedef struct http_stub {
  int listen_fd;
  int port;
  pthread_t thread;
  const stub_reply *replies;
  size_t n_replies;
  stub_request requests[STUB_MAX];
  atomic_size_t n_requests;
  atomic_int stop;
} http_stub;

static inline bool stub_wait_readable(http_stub *s, int fd) {
  for (int waited = 0; waited < 10000 && !atomic_load(&s->stop); waited += 50) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 50) > 0)
      return true;
  }
  return false;
}

/* Reads the head (up to the blank line) and a Content-Length body. */
static inline void stub_read_request(http_stub *s, int fd, stub_request *req) {
  size_t cap = 65536, len = 0;
  char *buf = calloc(1, cap + 1);
  char *end = NULL;
  while (!end && len < cap && stub_wait_readable(s, fd)) {
    ssize_t n = recv(fd, buf + len, cap - len, 0);
    if (n <= 0)
      break;
    len += (size_t)n;
    buf[len] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  if (!end) {
    free(buf);
    return;
  }
  size_t head_len = (size_t)(end - buf) + 4;
  req->head = strndup(buf, head_len);
  sscanf(buf, "%15s %1023s", req->method, req->target);
  size_t want = 0;
  for (char *line = strstr(req->head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n"))
    if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
      want = strtoul(line + 17, NULL, 10);
  req->body = calloc(1, want + 1);
  size_t have = len - head_len < want ? len - head_len : want;
  memcpy(req->body, buf + head_len, have);
  while (have < want && stub_wait_readable(s, fd)) {
    ssize_t n = recv(fd, req->body + have, want - have, 0);
    if (n <= 0)
      break;
    have += (size_t)n;
  }
  req->body_len = have;
  free(buf);
}

static inline void *stub_main(void *arg) {
  http_stub *s = arg;
  for (size_t i = 0; i < s->n_replies && i < STUB_MAX; i++) {
    if (!stub_wait_readable(s, s->listen_fd))
      return NULL;
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0)
      return NULL;
    stub_read_request(s, fd, &s->requests[i]);
    atomic_store(&s->n_requests, i + 1);
    const stub_reply *r = &s->replies[i];
    if (!r->drop) {
      const char *body = r->body ? r->body : "";
      char *length =
          r->no_length ? bw_strdup("") : bw_strdup_printf("Content-Length: %zu\r\n", strlen(body));
      char *answer = bw_strdup_printf("HTTP/1.1 %d Stub\r\n%sConnection: close\r\n%s\r\n%s",
                                      r->status, length, r->headers ? r->headers : "", body);
      free(length);
      ssize_t ignored = send(fd, answer, strlen(answer), MSG_NOSIGNAL);
      (void)ignored;
      free(answer);
    }
    close(fd);
  }
  return NULL;
}

static inline void stub_start(http_stub *s, const stub_reply *replies, size_t n) {
  memset(s, 0, sizeof(*s));
  s->replies = replies;
  s->n_replies = n;
  s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(s->listen_fd >= 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  assert_int_equal(listen(s->listen_fd, 8), 0);
  socklen_t alen = sizeof(addr);
  assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *)&addr, &alen), 0);
  s->port = ntohs(addr.sin_port);
  assert_int_equal(pthread_create(&s->thread, NULL, stub_main, s), 0);
}

/* Stops the server (also when fewer requests came than scripted). */
static inline void stub_stop(http_stub *s) {
  atomic_store(&s->stop, 1);
  pthread_join(s->thread, NULL);
  close(s->listen_fd);
}

static inline void stub_free(http_stub *s) {
  for (size_t i = 0; i < STUB_MAX; i++) {
    free(s->requests[i].head);
    free(s->requests[i].body);
  }
}

/* The value of header `name` in a request head, or NULL; free() it. */
static inline char *stub_header(const stub_request *req, const char *name) {
  size_t n = strlen(name);
  for (char *line = strstr(req->head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
    if (strncasecmp(line + 2, name, n) == 0 && line[2 + n] == ':') {
      const char *v = line + 3 + n;
      while (*v == ' ')
        v++;
      return strndup(v, strcspn(v, "\r"));
    }
  }
  return NULL;
}

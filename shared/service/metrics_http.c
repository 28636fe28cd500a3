#include "service/metrics_http.h"

#include "core/thread.h"

#include "core/cleanup.h"
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECTION_LIMIT 16     /* scrapers and probes, not the public */
#define CONNECTION_TIMEOUT_S 10 /* an idle or slow client is dropped */

/* libmicrohttpd 0.9.71 turned the handler's int into enum MHD_Result. */
#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

struct metrics_server {
  struct MHD_Daemon *daemon;
  metrics_registry *reg;
  metrics_ready_fn ready;
  void *ready_ctx;
  const bw_logger *log;
  int port;
};

static mhd_result respond(struct MHD_Connection *conn, unsigned int status, const char *type,
                          char *body, size_t len, bool owned) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (!resp) {
    if (owned)
      free(body);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  mhd_result rc = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  return rc;
}

static mhd_result respond_text(struct MHD_Connection *conn, unsigned int status, const char *text) {
  return respond(conn, status, "text/plain; charset=utf-8", (char *)text, strlen(text), false);
}

static mhd_result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **req_cls) {
  metrics_server *s = cls;
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
  if (strcmp(url, "/metrics") == 0) {
    size_t len = 0;
    char *text = metrics_render(s->reg, &len);
    return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len, true);
  }
  if (strcmp(url, "/healthz") == 0)
    return respond_text(conn, MHD_HTTP_OK, "ok\n");
  if (strcmp(url, "/readyz") == 0) {
    char reason[256] = "";
    if (!s->ready || s->ready(s->ready_ctx, reason, sizeof(reason) - 1))
      return respond_text(conn, MHD_HTTP_OK, "ready\n");
    strcat(reason, "\n");
    char *body = bw_strdup(reason);
    return respond(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", body,
                   strlen(body), true);
  }
  return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz or /readyz\n");
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
                                                             va_list ap) {
  metrics_server *s = cls;
  cleanup_free char *msg = bw_strdup_vprintf(fmt, ap);
  size_t n = strlen(msg);
  while (n > 0 && msg[n - 1] == '\n')
    msg[--n] = '\0';
  bw_log_warn(s->log, "metrics server: %s", msg);
}

/* One address: a listening socket, or -1 with errno set. */
static int try_listen(const struct addrinfo *ai, bool wildcard) {
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ai->ai_family == AF_INET6 && wildcard) /* dual stack: IPv4 clients too */
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* The listening socket is ours, so that a failed bind says why. Every
 * address (":PORT"): the IPv6 wildcard first, IPv4 where IPv6 is off. */
static int listen_socket(const char *key, const char *addr, int *port_out, bw_error_t *err) {
  cleanup_free char *host = NULL;
  int port = 0;
  if (bw_config_listen_parse(addr, &host, &port) <= 0)
    return bw_error_set(err, BW_ERR_INVALID, "%s: '%s' is not HOST:PORT", key, addr);
  char service[8];
  snprintf(service, sizeof(service), "%d", port);
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *found = NULL;
  int gai = getaddrinfo(*host ? host : NULL, service, &hints, &found);
  if (gai != 0)
    return bw_error_set(err, BW_ERR_INVALID, "%s: %s: %s", key, addr, gai_strerror(gai));
  bool wildcard = !*host;
  int fd = -1, first_errno = 0;
  for (int pass = 0; pass < 2 && fd < 0; pass++) {
    for (const struct addrinfo *ai = found; ai && fd < 0; ai = ai->ai_next) {
      /* Every address: IPv6 in the first pass, the rest in the second; a
       * host: its addresses in order, in the first pass. */
      if (wildcard ? (ai->ai_family == AF_INET6) != (pass == 0) : pass == 1)
        continue;
      fd = try_listen(ai, wildcard);
      if (fd < 0 && !first_errno)
        first_errno = errno;
    }
  }
  freeaddrinfo(found);
  if (fd < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, first_errno, "%s: cannot listen on %s", key,
                              addr);
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof(bound);
  getsockname(fd, (struct sockaddr *)&bound, &bound_len);
  *port_out = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
  return fd;
}

typedef struct start_args {
  metrics_server *s;
  int fd;
} start_args;

static void start_daemon(void *arg) {
  start_args *a = arg;
  a->s->daemon = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, a->s,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, a->s, MHD_OPTION_LISTEN_SOCKET, a->fd,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned int)CONNECTION_TIMEOUT_S, MHD_OPTION_END);
}

int metrics_server_start(const char *key, const char *addr, metrics_registry *reg,
                         metrics_ready_fn ready, void *ready_ctx, const bw_logger *log,
                         metrics_server **out, bw_error_t *err) {
  *out = NULL;
  metrics_server *s = bw_xcalloc(1, sizeof(*s));
  *s = (metrics_server){.reg = reg, .ready = ready, .ready_ctx = ready_ctx, .log = log};
  int fd = listen_socket(key, addr, &s->port, err);
  if (fd < 0) {
    free(s);
    return -1;
  }
  start_args a = {.s = s, .fd = fd};
  bw_with_signals_blocked(start_daemon, &a); /* its thread must not take our signals */
  if (!s->daemon) {
    if (fcntl(fd, F_GETFD) != -1) /* libmicrohttpd may or may not have closed it */
      close(fd);
    free(s);
    return bw_error_set(err, BW_ERR_INTERNAL, "%s: %s: libmicrohttpd did not start", key, addr);
  }
  *out = s;
  return 0;
}

int metrics_server_port(const metrics_server *s) {
  return s ? s->port : 0;
}

void metrics_server_stop(metrics_server *s) {
  if (!s)
    return;
  MHD_stop_daemon(s->daemon);
  free(s);
}

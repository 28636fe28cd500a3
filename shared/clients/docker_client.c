#include "clients/docker_client.h"

#include "core/cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Responses of short calls are small JSON documents; a cap keeps a confused
 * engine (or a hostile socket) from growing the worker without bound. */
#define DOCKER_RESPONSE_CAP (16u * 1024u * 1024u)

int docker_client_new(docker_client **out, const char *socket_path, long timeout_ms,
                      bw_error_t *err) {
  struct stat st;
  if (stat(socket_path, &st) < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "docker socket %s", socket_path);
  if (!S_ISSOCK(st.st_mode))
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "docker socket %s: not a unix socket",
                        socket_path);
  docker_client *c = bw_xcalloc(1, sizeof(*c));
  c->curl = curl_easy_init();
  if (!c->curl)
    abort();
  c->socket_path = bw_strdup(socket_path);
  c->timeout_ms = timeout_ms;
  *out = c;
  return 0;
}

void docker_client_free(docker_client *c) {
  if (!c)
    return;
  if (c->curl)
    curl_easy_cleanup(c->curl);
  free(c->socket_path);
  free(c);
}

void docker_response_free(docker_response *resp) {
  if (!resp)
    return;
  bw_buffer_free(&resp->body);
  json_decref(resp->json);
  resp->json = NULL;
}

char *docker_escape(docker_client *c, const char *value) {
  char *escaped = curl_easy_escape(c->curl, value, 0);
  if (!escaped)
    abort();
  char *out = bw_strdup(escaped);
  curl_free(escaped);
  return out;
}

const char *docker_response_message(const docker_response *resp) {
  const char *msg = json_string_value(json_object_get(resp->json, "message"));
  if (msg)
    return msg;
  return resp->body.data ? resp->body.data : "";
}

/* "http://docker/v1.41/containers/create" — the host part is ignored over a unix socket. */
static char *request_url(const docker_client *c, const char *path) {
  if (c->api_version[0])
    return bw_strdup_printf("http://docker/v%s%s", c->api_version, path);
  return bw_strdup_printf("http://docker%s", path);
}

static int cancel_check(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                        curl_off_t ulnow) {
  const docker_client *c = userdata;
  return (bw_cancel_level(c->cancel)) ? 1 : 0;
}

static void prepare_handle(docker_client *c, const char *method, const char *url) {
  CURL *h = c->curl;
  curl_easy_reset(h); /* keeps the open connection */
  curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cancel_check);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
}

static int transport_error(docker_client *c, CURLcode rc, const char *method, const char *path,
                           bw_error_t *err) {
  if (rc == CURLE_ABORTED_BY_CALLBACK && bw_cancel_level(c->cancel))
    return bw_error_set(err, BW_ERR_CANCELLED, "docker %s %s: cancelled", method, path);
  if (rc == CURLE_OPERATION_TIMEDOUT)
    return bw_error_set(err, BW_ERR_TIMEOUT, "docker %s %s: %s", method, path,
                        curl_easy_strerror(rc));
  return bw_error_set(err, BW_ERR_UNAVAILABLE, "docker %s %s (socket %s): %s", method, path,
                      c->socket_path, curl_easy_strerror(rc));
}

static size_t call_header(char *line, size_t size, size_t nmemb, void *userdata) {
  docker_response *resp = userdata;
  size_t len = size * nmemb;
  static const char name[] = "api-version:";
  if (len > sizeof(name) && strncasecmp(line, name, sizeof(name) - 1) == 0) {
    const char *v = line + sizeof(name) - 1;
    while (*v == ' ')
      v++;
    size_t n = strcspn(v, "\r\n");
    if (n < sizeof(resp->api_version)) {
      memcpy(resp->api_version, v, n);
      resp->api_version[n] = '\0';
    }
  }
  return len;
}

int docker_call(docker_client *c, const char *method, const char *path, const json_t *body,
                docker_response *resp, bw_error_t *err) {
  memset(resp, 0, sizeof(*resp));
  bw_buffer_init(&resp->body, DOCKER_RESPONSE_CAP);
  cleanup_free char *url = request_url(c, path);
  cleanup_free char *body_text = NULL;
  cleanup_slist struct curl_slist *headers = NULL;
  prepare_handle(c, method, url);
  CURL *h = c->curl;
  if (body) {
    body_text = json_dumps(body, JSON_COMPACT);
    if (!body_text)
      return bw_error_set(err, BW_ERR_INTERNAL, "docker %s %s: cannot encode body", method, path);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body_text);
  } else if (strcmp(method, "POST") == 0) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bw_buffer_curl_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp->body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, call_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_WRITE_ERROR && resp->body.overflowed)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "docker %s %s: response larger than %u bytes",
                        method, path, DOCKER_RESPONSE_CAP);
  if (rc != CURLE_OK)
    return transport_error(c, rc, method, path, err);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
  if (resp->body.len > 0 && (resp->body.data[0] == '{' || resp->body.data[0] == '['))
    resp->json = json_loadb(resp->body.data, resp->body.len, 0, NULL);
  return 0;
}

int docker_call_ok(docker_client *c, const char *method, const char *path, const json_t *body,
                   docker_response *resp, bw_error_t *err) {
  if (docker_call(c, method, path, body, resp, err) < 0)
    return -1;
  if (resp->status >= 400) {
    bw_error_kind kind = resp->status >= 500 ? BW_ERR_UNAVAILABLE : BW_ERR_INVALID;
    return bw_error_set(err, kind, "docker %s %s: %ld: %s", method, path, resp->status,
                        docker_response_message(resp));
  }
  return 0;
}

typedef struct stream_state {
  const docker_stream_opts *opts;
  CURL *curl;
  bool aborted_by_sink;
} stream_state;

static size_t stream_header(char *line, size_t size, size_t nmemb, void *userdata) {
  stream_state *st = userdata;
  size_t len = size * nmemb;
  if (st->opts->on_headers && len <= 2 && (len == 0 || line[0] == '\r' || line[0] == '\n')) {
    long status = 0;
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200)
      st->opts->on_headers(st->opts->ctx, status);
  }
  return len;
}

static size_t stream_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  stream_state *st = userdata;
  size_t len = size * nmemb;
  if (st->opts->on_data && st->opts->on_data(st->opts->ctx, ptr, len) < 0) {
    st->aborted_by_sink = true;
    return 0;
  }
  return len;
}

long docker_stream(docker_client *c, const docker_stream_opts *opts, bw_error_t *err) {
  cleanup_free char *url = request_url(c, opts->path);
  cleanup_slist struct curl_slist *headers = NULL;
  prepare_handle(c, opts->method, url);
  CURL *h = c->curl;
  if (opts->header)
    headers = curl_slist_append(headers, opts->header);
  if (opts->body) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, opts->body);
  } else if (strcmp(opts->method, "POST") == 0) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  if (opts->total_timeout_ms > 0)
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, opts->total_timeout_ms);
  if (opts->inactivity_timeout_s > 0) {
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, opts->inactivity_timeout_s);
  }
  stream_state st = {.opts = opts, .curl = h};
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stream_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, stream_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &st);
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_WRITE_ERROR && st.aborted_by_sink)
    return bw_error_set(err, BW_ERR_INTERNAL, "docker %s %s: stopped by the reader", opts->method,
                        opts->path);
  if (rc != CURLE_OK)
    return transport_error(c, rc, opts->method, opts->path, err);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

/* "1.41" -> 1041, for comparisons. */
static int api_version_number(const char *v) {
  int major = 0, minor = 0;
  if (!v || sscanf(v, "%d.%d", &major, &minor) != 2)
    return -1;
  return major * 1000 + minor;
}

int docker_client_negotiate(docker_client *c, json_t **version_out, bw_error_t *err) {
  c->api_version[0] = '\0';
  cleanup_docker_response docker_response ping;
  if (docker_call_ok(c, "GET", "/_ping", NULL, &ping, err) < 0)
    return -1;
  const char *server_api = ping.api_version;
  int server = api_version_number(server_api);
  if (server < 0)
    return bw_error_set(err, BW_ERR_UNAVAILABLE,
                        "docker GET /_ping: no Api-Version header: is this a Docker Engine?");
  if (server < api_version_number(BW_DOCKER_API_MIN))
    return bw_error_set(err, BW_ERR_UNAVAILABLE,
                        "docker engine speaks API %s; bundle-worker needs at least %s", server_api,
                        BW_DOCKER_API_MIN);
  const char *chosen =
      server < api_version_number(BW_DOCKER_API_MAX) ? server_api : BW_DOCKER_API_MAX;
  if (version_out) {
    cleanup_docker_response docker_response resp;
    if (docker_call_ok(c, "GET", "/version", NULL, &resp, err) < 0)
      return -1;
    *version_out = json_incref(resp.json);
  }
  snprintf(c->api_version, sizeof(c->api_version), "%s", chosen);
  return 0;
}

int docker_client_open(docker_client **out, const char *socket_path, long timeout_ms,
                       bw_error_t *err) {
  *out = NULL;
  docker_client *c = NULL;
  if (docker_client_new(&c, socket_path, timeout_ms, err) < 0 ||
      docker_client_negotiate(c, NULL, err) < 0) {
    docker_client_free(c);
    return -1;
  }
  *out = c;
  return 0;
}

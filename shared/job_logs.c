#include "job_logs.h"

#include "cleanup.h"
#include "timeutil.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Lines longer than this become several events marked "cut". */
#define JOB_LOGS_MAX_LINE (16 * 1024)

static void remember_tail(job_logs *jl, const char *line, size_t len) {
  /* Keep whole recent lines, newest last, within the tail buffer. */
  if (len + 1 > sizeof(jl->tail)) {
    line += len - (sizeof(jl->tail) - 1);
    len = sizeof(jl->tail) - 1;
  }
  size_t need = len + (jl->tail_len ? 1 : 0);
  if (jl->tail_len + need >= sizeof(jl->tail)) {
    size_t drop = jl->tail_len + need - (sizeof(jl->tail) - 1);
    const char *nl = memchr(jl->tail + drop, '\n', jl->tail_len - drop);
    drop = nl ? (size_t)(nl - jl->tail) + 1 : jl->tail_len;
    memmove(jl->tail, jl->tail + drop, jl->tail_len - drop);
    jl->tail_len -= drop;
    need = len + (jl->tail_len ? 1 : 0);
  }
  if (jl->tail_len)
    jl->tail[jl->tail_len++] = '\n';
  memcpy(jl->tail + jl->tail_len, line, len);
  jl->tail_len += len;
  jl->tail[jl->tail_len] = '\0';
}

/* After the budget: one job.log event per (piece of a) line. */
static void emit_line(void *ctx, int stream, const char *line, size_t len, bool cut) {
  job_logs *jl = ctx;
  json_t *ev = event_new(jl->events, "job.log");
  json_object_set_new(ev, "stream", json_string(stream == 2 ? "stderr" : "stdout"));
  json_t *text = json_stringn(line, len);
  /* Output that is not UTF-8 is still shown, with bad bytes replaced. */
  if (!text) {
    cleanup_free char *copy = bw_strdup_bytes(line, len);
    for (char *p = copy; p && *p; p++)
      if ((unsigned char)*p >= 0x80)
        *p = '?';
    text = json_string(copy ? copy : "");
  }
  json_object_set_new(ev, "line", text);
  if (cut)
    json_object_set_new(ev, "cut", json_true());
  event_emit(jl->events, ev);
}

static void emit_trimmed(void *ctx, uint64_t bytes_dropped, uint64_t lines_dropped) {
  job_logs *jl = ctx;
  json_t *ev = event_new(jl->events, "job.log.trimmed");
  json_object_set_new(ev, "bytes_dropped", json_integer((json_int_t)bytes_dropped));
  json_object_set_new(ev, "lines_dropped", json_integer((json_int_t)lines_dropped));
  json_object_set_new(ev, "message",
                      json_string("[trimmed] the middle of the output was dropped: the job "
                                  "printed more than its log budget (jobs.log.max.bytes)"));
  event_emit(jl->events, ev);
}

/* Every assembled, masked line: remembered for messages, then budgeted. */
static void on_line(void *ctx, int stream, const char *line, size_t len, bool cut) {
  job_logs *jl = ctx;
  remember_tail(jl, line, len);
  log_budget_line(&jl->budget, stream, line, len, cut);
}

static int on_bytes(void *ctx, const char *data, size_t len) {
  job_logs *jl = ctx;
  if (log_stream_feed(&jl->stream, data, len, &jl->err) < 0)
    return -1;
  return 0;
}

static void set_attach_status(job_logs *jl, long status) {
  pthread_mutex_lock(&jl->lock);
  if (jl->attach_status == 0)
    jl->attach_status = status;
  pthread_cond_broadcast(&jl->attached);
  pthread_mutex_unlock(&jl->lock);
}

static void on_headers(void *ctx, long status) {
  set_attach_status(ctx, status);
}

static void *follow(void *arg) {
  job_logs *jl = arg;
  cleanup_free char *path =
      bw_strdup_printf("/containers/%s/attach?stream=1&stdout=1&stderr=1", jl->container_id);
  docker_stream_opts so = {
      .method = "POST", .path = path, .on_data = on_bytes, .on_headers = on_headers, .ctx = jl};
  bw_error_t err = NULL;
  long status = docker_stream(jl->dc, &so, &err);
  if (status >= 0 && status != 200 && !jl->err)
    bw_error_set(&jl->err, BW_ERR_UNAVAILABLE, "attach: engine answered %ld", status);
  else if (status < 0 && !jl->err && !jl->stop)
    jl->err = steal_pointer(&err);
  bw_error_release(&err);
  set_attach_status(jl, status > 0 ? status : -1); /* wakes a waiter if headers never came */
  log_stream_finish(&jl->stream);
  atomic_store(&jl->done, true);
  return NULL;
}

/* Waits until the attach is connected (or failed), at most timeout_ms. */
static long wait_attached(job_logs *jl, long timeout_ms) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  pthread_mutex_lock(&jl->lock);
  while (jl->attach_status == 0)
    if (pthread_cond_timedwait(&jl->attached, &jl->lock, &deadline) != 0)
      break;
  long status = jl->attach_status;
  pthread_mutex_unlock(&jl->lock);
  return status;
}

int job_logs_start(job_logs *jl, const docker_client *main_client, const char *container_id,
                   bool tty, size_t max_bytes, const masker *mask, const job_events *events,
                   bw_error_t *err) {
  memset(jl, 0, sizeof(*jl));
  /* A connection of its own (the stream blocks), speaking the version the
   * main client already negotiated. */
  if (docker_client_new(&jl->dc, main_client->socket_path, main_client->timeout_ms, err) < 0)
    return bw_error_prefix(err, "follow logs");
  memcpy(jl->dc->api_version, main_client->api_version, sizeof(jl->dc->api_version));
  jl->dc->cancel = &jl->stop;
  jl->container_id = bw_strdup(container_id);
  jl->events = events;
  pthread_mutex_init(&jl->lock, NULL);
  pthread_cond_init(&jl->attached, NULL);
  log_stream_init(&jl->stream, tty, JOB_LOGS_MAX_LINE, mask, on_line, jl);
  log_budget_init(&jl->budget, max_bytes, emit_line, emit_trimmed, jl);
  if (pthread_create(&jl->thread, NULL, follow, jl) != 0) {
    log_stream_free(&jl->stream);
    log_budget_free(&jl->budget);
    return bw_error_set(err, BW_ERR_INTERNAL, "follow logs: cannot start a thread");
  }
  jl->started = true;
  long status = wait_attached(jl, 30000);
  if (status != 200)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "attach to container %s: %s", container_id,
                        status == 0 ? "no answer in 30 s"
                        : jl->err   ? jl->err->msg
                                    : "failed");
  return 0;
}

void job_logs_finish(job_logs *jl, long wait_ms) {
  if (!jl->started)
    return;
  int64_t deadline = bw_time_monotonic_ms() + wait_ms;
  while (!atomic_load(&jl->done) && bw_time_monotonic_ms() < deadline)
    bw_time_sleep_ms(10, NULL);
  jl->stop = 1; /* the transfer's progress callback sees this within a second */
  pthread_join(jl->thread, NULL);
  jl->started = false;
  log_budget_finish(&jl->budget);
}

void job_logs_free(job_logs *jl) {
  if (!jl)
    return;
  if (jl->started)
    job_logs_finish(jl, 0);
  if (jl->dc) {
    log_stream_free(&jl->stream);
    log_budget_free(&jl->budget);
    pthread_mutex_destroy(&jl->lock);
    pthread_cond_destroy(&jl->attached);
  }
  docker_client_free(jl->dc);
  free(jl->container_id);
  bw_error_release(&jl->err);
  memset(jl, 0, sizeof(*jl));
}

const char *job_logs_tail(const job_logs *jl) {
  return jl->tail;
}

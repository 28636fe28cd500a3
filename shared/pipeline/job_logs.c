#include "pipeline/job_logs.h"

#include "core/cleanup.h"
#include "core/thread.h"
#include "core/timeutil.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int on_bytes(void *ctx, const char *data, size_t len) {
  job_logs *jl = ctx;
  if (job_output_feed(&jl->output, data, len, &jl->err) < 0)
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
  else if (status < 0 && !jl->err && !bw_cancel_level(&jl->stop))
    jl->err = steal_pointer(&err);
  bw_error_release(&err);
  set_attach_status(jl, status > 0 ? status : -1); /* wakes a waiter if headers never came */
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
  pthread_mutex_init(&jl->lock, NULL);
  pthread_cond_init(&jl->attached, NULL);
  job_output_init(&jl->output, tty, 0, max_bytes, mask, events);
  if (bw_thread_start(&jl->thread, follow, jl) != 0) {
    job_output_free(&jl->output);
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
  bw_cancel_raise(&jl->stop, 1); /* the transfer's progress callback sees this within a second */
  pthread_join(jl->thread, NULL);
  jl->started = false;
  job_output_finish(&jl->output); /* the thread is gone: the output is ours now */
}

void job_logs_free(job_logs *jl) {
  if (!jl)
    return;
  if (jl->started)
    job_logs_finish(jl, 0);
  if (jl->dc) {
    job_output_free(&jl->output);
    pthread_mutex_destroy(&jl->lock);
    pthread_cond_destroy(&jl->attached);
  }
  docker_client_free(jl->dc);
  free(jl->container_id);
  bw_error_release(&jl->err);
  memset(jl, 0, sizeof(*jl));
}

char *job_logs_tail(const job_logs *jl) {
  return job_output_tail_text(&jl->output);
}

#include "pipeline/disk_watch.h"

#include "core/cleanup.h"
#include "clients/container.h"
#include "job/job_limits.h"
#include "core/thread.h"
#include "core/timeutil.h"

#include <stdlib.h>
#include <string.h>

static void *watch_main(void *arg) {
  disk_watch *w = arg;
  for (long round = 1; !bw_cancel_level(&w->stop); round++) {
    bw_time_sleep_ms(w->interval_ms, &w->stop);
    if (bw_cancel_level(&w->stop))
      break;
    disk_usage u;
    bw_error_t err = NULL;
    if (disk_usage_measure(w->dir, w->limit, &u, &err) < 0) {
      bw_error_release(&err); /* the folder went away: the job is ending */
      continue;
    }
    if (round % DISK_WATCH_LAYER_EVERY == 0 &&
        container_size_rw(w->dc, w->container_id, &w->layer_bytes, &err) < 0)
      bw_error_release(&err); /* the engine is busy or the container gone: next time */
    int64_t total = u.bytes + w->layer_bytes;
    if (total > w->peak_bytes)
      w->peak_bytes = total;
    if (u.unmeasurable || total > w->limit) {
      w->usage = u;
      container_kill(w->dc, w->container_id, &err);
      bw_error_release(&err);
      atomic_store(&w->exceeded, true);
      break;
    }
  }
  return NULL;
}

int disk_watch_start(disk_watch *w, const docker_client *main_client, const char *container_id,
                     const char *dir, int64_t limit, long interval_ms, bw_error_t *err) {
  memset(w, 0, sizeof(*w));
  if (limit <= 0)
    return 0;
  if (docker_client_new(&w->dc, main_client->socket_path, main_client->timeout_ms, err) < 0)
    return bw_error_prefix(err, "disk watch");
  memcpy(w->dc->api_version, main_client->api_version, sizeof(w->dc->api_version));
  w->dir = bw_strdup(dir);
  w->container_id = bw_strdup(container_id);
  w->limit = limit;
  w->interval_ms = interval_ms > 0 ? interval_ms : 1000;
  if (bw_thread_start(&w->thread, watch_main, w) != 0)
    return bw_error_set(err, BW_ERR_INTERNAL, "disk watch: cannot start a thread");
  w->started = true;
  return 0;
}

bool disk_watch_stop(disk_watch *w) {
  if (w->started) {
    bw_cancel_raise(&w->stop, 1);
    pthread_join(w->thread, NULL);
    w->started = false;
  }
  return atomic_load(&w->exceeded);
}

void disk_watch_free(disk_watch *w) {
  if (!w)
    return;
  disk_watch_stop(w);
  docker_client_free(w->dc);
  free(w->dir);
  free(w->container_id);
  memset(w, 0, sizeof(*w));
}

char *disk_watch_message(const disk_usage *u, int64_t layer_bytes, int64_t limit) {
  char lim[32];
  job_limits_format_bytes(limit, lim, sizeof(lim));
  if (u->unmeasurable)
    return bw_strdup_printf("disk limit: the job's data folder cannot be measured (%s at "
                            "/data/%s), so it was stopped: limits.disk is %s",
                            u->unmeasurable, u->where, lim);
  if (layer_bytes > 0)
    return bw_strdup_printf("disk limit: the job wrote more than its limit of %s (%lld bytes "
                            "measured: %lld in /data, %lld in the container's own files) and "
                            "was stopped; nothing was uploaded",
                            lim, (long long)(u->bytes + layer_bytes), (long long)u->bytes,
                            (long long)layer_bytes);
  return bw_strdup_printf("disk limit: the job wrote more than its limit of %s (%lld bytes "
                          "measured in /data) and was stopped; nothing was uploaded",
                          lim, (long long)u->bytes);
}

/* What a worker removes when it sweeps its host: containers and data
 * folders left by jobs whose worker died (a SIGKILL, a crash, a lost host
 * process), never one that is in use.
 *
 * Every container and data folder of `serve` says whose run it is: the
 * fleet (the Redis prefix), host and worker, the job and the token of the
 * lease it runs under (labels; the folder's owner file). The rule, the same
 * for both, decided by orphan_decide() from what the sweep read:
 *   - another fleet's, another host's, or no fleet's (`bundle-worker run`,
 *     which holds no lease): keep;
 *   - its token is one of this worker's running slots: keep;
 *   - this worker's own, but no slot runs it: left by this worker's previous
 *     process (a restart with the same worker.id): remove, and give up its
 *     lease so that the job can be claimed again at once (as a crash: the
 *     record still says running, which counts against jobs.max.deliveries);
 *   - the job's lease is alive and holds this very token: keep (a live
 *     worker of this host runs it);
 *   - a live worker's heartbeat lists the token: keep (its job runs, its
 *     lease lapsed in a Redis outage);
 *   - anything else: remove. An older attempt of a job whose lease now
 *     belongs to a newer attempt is removed too: never two containers of one
 *     job at once on one host.
 * Without Redis nobody can tell whether another worker's run is alive: the
 * sweep then keeps everything that is not this worker's own. */
#pragma once

#include "clients/docker_client.h"
#include "core/error.h"
#include "clients/job_store.h"
#include "core/log.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum orphan_verdict {
  ORPHAN_KEEP,
  ORPHAN_REMOVE,
  ORPHAN_REMOVE_AND_ABANDON, /* remove, and delete the lease if it still holds the token */
} orphan_verdict;

/* What a container's labels or a folder's owner file say. Any may be NULL. */
typedef struct orphan_item {
  const char *fleet;
  const char *host;
  const char *worker;
  const char *job_id;
  const char *token;
} orphan_item;

/* The sweeping worker and what it knows. */
typedef struct orphan_view {
  const char *fleet;
  const char *host;
  const char *worker;
  /* Does one of this worker's slots run under this token now? Asked at the
   * moment of deciding, after the containers and folders were listed: a job
   * that starts meanwhile is either not listed or seen running. */
  bool (*runs_here)(void *ctx, const char *token);
  void *runs_here_ctx;
  const char *const *live_tokens; /* the tokens live heartbeats list */
  size_t live_count;
  bool redis_known; /* leases and heartbeats were read: false means Redis is out */
} orphan_view;

/* lease_value: the job's lease now (NULL: none). *why gets a static reason. */
orphan_verdict orphan_decide(const orphan_view *v, const orphan_item *it, const char *lease_value,
                             const char **why);

/* What a sweep needs; all borrowed. */
typedef struct orphan_sweep_env {
  docker_client *docker; /* NULL: no containers are swept */
  job_store *store;
  const bw_logger *log;
  const char *data_root; /* NULL: no folders are swept */
  orphan_view view;      /* live_tokens and redis_known are filled in by the sweep */
} orphan_sweep_env;

typedef struct orphan_sweep_counts {
  size_t containers;
  size_t folders;
} orphan_sweep_counts;

/* One sweep of this host's containers and data folders. */
void orphan_sweep(orphan_sweep_env *env, orphan_sweep_counts *removed);

/* Before a job's container is made: any other container of the job on this
 * host and fleet (token not `token`) is stopped and removed. */
void orphan_sweep_job(docker_client *dc, const bw_logger *log, const char *fleet, const char *host,
                      const char *job_id, const char *token);

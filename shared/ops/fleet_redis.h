/* The workers' heartbeats as `bundle-worker watch` reads them: the ids of
 * PREFIX "workers" (a sorted set scored by the last heartbeat, epoch ms) and
 * their PREFIX "worker:" ID info, as written by job_store_heartbeat(). A
 * worker whose info key has expired is gone and left out. */
#pragma once

#include "core/error.h"
#include "ops/fleet_view.h"
#include "clients/redis_store.h"

#include <stddef.h>

/* A new array in *out (fleet_workers_free), *n entries, oldest heartbeat
 * first. BW_ERR_UNAVAILABLE when Redis cannot be read. */
int fleet_redis_workers(redis_store_conn *conn, const char *prefix, fleet_worker **out, size_t *n,
                        bw_error_t *err);

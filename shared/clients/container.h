/* Containers through the Engine API: create with limits and hardening,
 * start, wait, stop, inspect, remove, and listing by label. */
#pragma once

#include "clients/docker_client.h"
#include "core/error.h"

#include <stdbool.h>
#include <stdint.h>

#define CONTAINER_LABEL_PREFIX "io.bundle-worker."
#define CONTAINER_LABEL_JOB CONTAINER_LABEL_PREFIX "job-id"
#define CONTAINER_LABEL_ATTEMPT CONTAINER_LABEL_PREFIX "attempt"
#define CONTAINER_LABEL_WORKER CONTAINER_LABEL_PREFIX "worker"
#define CONTAINER_LABEL_HOST CONTAINER_LABEL_PREFIX "host"
#define CONTAINER_LABEL_COMPONENT CONTAINER_LABEL_PREFIX "component"
#define CONTAINER_LABEL_PROJECT CONTAINER_LABEL_PREFIX "project-id"
/* The Redis prefix whose leases guard the container: workers of two fleets
 * (say staging and production) on one host must not sweep each other's. */
#define CONTAINER_LABEL_FLEET CONTAINER_LABEL_PREFIX "fleet"
/* The token of the lease the container runs under (serve): a sweep keeps it
 * only while that very lease (or a live worker) holds it. */
#define CONTAINER_LABEL_LEASE CONTAINER_LABEL_PREFIX "lease"

typedef struct container_spec {
  const char *name;          /* deterministic: a retry meets 409 and recovers */
  const char *image;         /* "repo:tag" or "repo@digest" */
  const char *const *env;    /* "NAME=value", NULL-terminated */
  const char *const *labels; /* "key=value", NULL-terminated */
  const char *user;          /* "uid:gid", NULL: the image's (root components) */
  const char *data_dir;      /* bind-mounted at /data */
  const char *network;       /* "none", "bridge", ... */
  int64_t memory_bytes;      /* swap is set equal: no swap */
  double cpus;
  long pids;
  bool read_only_rootfs; /* with a tmpfs /tmp */
  bool tty;
  /* The writable layer's cap (HostConfig.StorageOpt size), 0: none. Only
   * some storage drivers can (overlay2 on xfs with pquota, btrfs, zfs...):
   * when the engine refuses it, the container is made without it and the
   * client remembers (docker_client.storage_opt). */
  int64_t storage_bytes;
} container_spec;

typedef struct container_state {
  bool running;
  bool oom_killed;
  long exit_code;
  char *error; /* State.Error, may be NULL */
  char *finished_at;
} container_state;

/* Creates the container; when the name is taken by a leftover of the same
 * job (409), removes it and creates again. *id_out is the container id. */
int container_create(docker_client *dc, const container_spec *spec, char **id_out, bw_error_t *err);
int container_start(docker_client *dc, const char *id, bw_error_t *err);
/* Waits for the container to stop, at most timeout_ms (0: no limit).
 * Returns 0 when it stopped, 1 on timeout, -1 on failure or cancel. */
int container_wait(docker_client *dc, const char *id, long timeout_ms, long *exit_code,
                   bw_error_t *err);
/* SIGTERM, then SIGKILL after grace_s (the engine's stop does both). */
int container_stop(docker_client *dc, const char *id, long grace_s, bw_error_t *err);
int container_inspect_state(docker_client *dc, const char *id, container_state *out,
                            bw_error_t *err);
void container_state_free(container_state *st);
/* SIGKILL now; a container that is not running (or gone) is not an error. */
int container_kill(docker_client *dc, const char *id, bw_error_t *err);
/* The size of the container's writable layer (SizeRw; the engine walks it,
 * so this costs more than a plain inspect). */
int container_size_rw(docker_client *dc, const char *id, int64_t *bytes, bw_error_t *err);
/* Forced removal with its volumes; a missing container is not an error. */
int container_remove(docker_client *dc, const char *id, bw_error_t *err);
/* Ids (and their label value `label_key`) of containers with `label_filter`
 * ("key" or "key=value"), running or not. */
int container_list_by_label(docker_client *dc, const char *label_filter, json_t **out,
                            bw_error_t *err);

/* The job's data folder, bind-mounted at /data (the reference layout):
 *   config.json, in/state.json, in/tables/, in/files/, out/tables/, out/files/
 * One folder per job attempt under the configured root. */
#pragma once

#include "core/error.h"

#include <jansson.h>
#include <sys/types.h>

typedef struct data_dir {
  char *path;       /* ROOT/JOB_ID/ATTEMPT */
  char *in_dir;     /* PATH/in */
  char *out_dir;    /* PATH/out */
  char *owner_path; /* PATH.owner: whose folder it is (serve), beside it, not in /data */
} data_dir;

/* Creates the folder afresh (a leftover of an earlier try is removed), writes
 * config.json and in/state.json, and hands the folders to uid:gid (when the
 * worker may) so the container's unprivileged user can write its outputs.
 * owner (may be NULL: `run`) is written first to PATH.owner: the fleet,
 * worker, host and lease token of the run, so that a sweep can tell the
 * folder of a killed worker's job from one in use (orphan_sweep.h). A job id
 * that is not valid (job_id_valid: "..", a '/', ...) is refused with
 * BW_ERR_INVALID before anything is made. */
int data_dir_create(const char *root, const char *job_id, long attempt, const json_t *config,
                    const json_t *state, uid_t uid, gid_t gid, const json_t *owner, data_dir *out,
                    bw_error_t *err);
/* Removes the folder and everything in it, never following symlinks, and
 * its owner file. */
int data_dir_remove(data_dir *dd, bw_error_t *err);
/* Removes the owner file only: a folder kept on purpose (jobs.keep.failed.data)
 * is the operator's, never swept. */
void data_dir_disown(data_dir *dd);
/* Calls fn for every ROOT/JOB/ATTEMPT.owner that holds a JSON object, with
 * the folder it names; removes job folders left empty. */
typedef void (*data_dir_owned_fn)(void *ctx, const char *folder, const char *owner_path,
                                  const json_t *owner);
int data_dir_each_owned(const char *root, data_dir_owned_fn fn, void *ctx, bw_error_t *err);
void data_dir_free(data_dir *dd);

/* rm -rf that does not follow symlinks: used for leftovers too. Any depth,
 * with a few fds; folders the job made read-only or closed are made u+rwx
 * (through their fd) to be emptied; a job still running may move folders
 * meanwhile without leading it out of the tree. Gives up (BW_ERR_UNAVAILABLE,
 * "it keeps changing") on a tree that changes under it again and again. */
int data_dir_remove_tree(const char *path, bw_error_t *err);

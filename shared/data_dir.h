/* The job's data folder, bind-mounted at /data (the reference layout):
 *   config.json, in/state.json, in/tables/, in/files/, out/tables/, out/files/
 * One folder per job attempt under the configured root. */
#pragma once

#include "error.h"

#include <jansson.h>
#include <sys/types.h>

typedef struct data_dir {
  char *path;    /* ROOT/JOB_ID/ATTEMPT */
  char *in_dir;  /* PATH/in */
  char *out_dir; /* PATH/out */
} data_dir;

/* Creates the folder afresh (a leftover of an earlier try is removed), writes
 * config.json and in/state.json, and hands the folders to uid:gid (when the
 * worker may) so the container's unprivileged user can write its outputs. */
int data_dir_create(const char *root, const char *job_id, long attempt, const json_t *config,
                    const json_t *state, uid_t uid, gid_t gid, data_dir *out, bw_error_t *err);
/* Removes the folder and everything in it, never following symlinks. */
int data_dir_remove(data_dir *dd, bw_error_t *err);
void data_dir_free(data_dir *dd);

/* rm -rf that does not follow symlinks: used for leftovers too. */
int data_dir_remove_tree(const char *path, bw_error_t *err);

/* A job's outputs, taken out of DATA/out/ after its container ended.
 *
 * outputs_collect walks out/tables and out/files recursively from directory
 * fds (openat/fstatat with AT_SYMLINK_NOFOLLOW, O_NOFOLLOW|O_DIRECTORY), so
 * nothing the container left can make the worker read outside out/. Each
 * regular file becomes an artifact: hashed, stored under
 * "JOBID/ATTEMPT/<path relative to out/>", then reported to on_artifact as
 *   {"path": "tables/x.csv", "size": N, "sha256": "<hex>",
 *    "location": "<store URL>", "manifest": {...} or null}
 * A sliced table (a folder tables/NAME.csv/) is walked like any folder: each
 * slice is an artifact under its own path ("tables/NAME.csv/part-1").
 *
 * Manifests: X.manifest next to X is X's sidecar, not an artifact. It must be
 * a regular file holding one JSON object of at most 1 MiB; otherwise X is
 * still stored (with "manifest": null) and the manifest is reported to
 * on_refused with the reason, since losing the data over a bad manifest would
 * be worse than storing it without one. A folder's sidecar (the
 * "tables/NAME.csv.manifest" of a sliced table) is given to every file below
 * that folder that has no sidecar of its own. A .manifest with no X beside it
 * is reported, not stored.
 *
 * Refused, never followed or read, each reported to on_refused with a
 * reason: symlinks, fifos, sockets, devices, files with more than one hard
 * link (a second name may be in/ or config.json, which must not be published
 * as output), names that are not printable UTF-8, folders deeper than
 * OUTPUTS_MAX_DEPTH. Refusals are reported while walking, before any upload.
 *
 * Limits fail the whole collection, before anything is uploaded: more than
 * max_files entries (every file, folder and refused entry counts), or more
 * than max_total_bytes in the artifacts together. Both are BW_ERR_USER.
 * Store failures are BW_ERR_UNAVAILABLE (or BW_ERR_CANCELLED). */
#pragma once

#include "clients/artifact_store.h"
#include "core/error.h"
#include "job/masker.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define OUTPUTS_MAX_FILES_DEFAULT 10000
#define OUTPUTS_MAX_DEPTH 32
#define OUTPUTS_MANIFEST_MAX_BYTES (1024 * 1024)
#define OUTPUTS_STATE_MAX_BYTES (16 * 1024 * 1024)
#define OUTPUTS_PARALLEL_MAX 64

typedef void (*outputs_artifact_fn)(void *ctx, const json_t *artifact);
typedef void (*outputs_refused_fn)(void *ctx, const char *path, const char *reason);

typedef struct outputs_opts {
  const char *job_id;              /* one key component: [A-Za-z0-9._-], not "." or ".." */
  int attempt;                     /* >= 0 */
  size_t max_files;                /* 0: OUTPUTS_MAX_FILES_DEFAULT */
  int64_t max_total_bytes;         /* 0: no bound */
  outputs_artifact_fn on_artifact; /* may be NULL */
  outputs_refused_fn on_refused;   /* may be NULL; path is relative to out/ */
  void *ctx;
  /* The job's secrets: a file holding one of them in any form is refused
   * (reported to on_refused, not stored), found while the file is hashed.
   * NULL: nothing is scanned (artifacts.secrets = store). */
  const masker *refuse_secrets;
  /* Files uploaded at once (artifacts.upload.parallel); 0 or 1: one by one.
   * With more, on_artifact and on_refused are still called one at a time
   * (under the collection's lock), in the order the uploads end; the first
   * failure stops taking new files and is the one returned. */
  int parallel;
} outputs_opts;

/* out_dir is DATA/out; a missing out_dir (or out/tables, out/files) has
 * nothing to collect. An out_dir that is a symlink is BW_ERR_USER. */
int outputs_collect(const char *out_dir, artifact_store *store, const outputs_opts *opts,
                    bw_error_t *err);

/* Reads out/state.json: *state is NULL (and 0 returned) when there is none.
 * It must be a regular file (a symlink is not followed), at most
 * OUTPUTS_STATE_MAX_BYTES, holding a JSON object; anything else is a
 * BW_ERR_USER error naming the problem ("out/state.json: must be a JSON
 * object"). */
int outputs_read_state(const char *out_dir, json_t **state, bw_error_t *err);

/* Does the state show a secret of m where it is not marked as one: in a
 * value or key outside the '#' keys (whose values are the state's own
 * secrets, carried back on purpose)? *where gets the JSON path of the first
 * (free() it). */
bool outputs_state_leaks(const json_t *state, const masker *m, char **where);

/* Parses a manifest's bytes: one JSON object, no NUL byte. BW_ERR_USER with
 * the reason ("invalid JSON at line 1, column 2: ...") otherwise. Exposed for
 * the fuzz target. */
int outputs_manifest_parse(const char *data, size_t len, json_t **out, bw_error_t *err);

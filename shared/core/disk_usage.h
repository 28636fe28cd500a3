/* How much a job's data folder holds, measured the way a container cannot
 * fool: walked from a directory fd with openat/fstatat and O_NOFOLLOW (a
 * symlink is counted as itself, never followed), each file counted at
 * max(st_size, st_blocks * 512), so a sparse file counts at the size it
 * would have when uploaded, and a file written in small blocks at what it
 * takes on disk. A hard-linked file counts once per name (an upper bound).
 *
 * The walk is bounded: at most DISK_USAGE_MAX_ENTRIES entries and
 * DISK_USAGE_MAX_DEPTH nested folders (one fd each while below them), and it
 * stops as soon as the total passes stop_above. A tree beyond a bound, or a
 * folder the worker cannot open, cannot be measured: it is reported as over
 * any limit, with the reason, since the worker cannot prove it is not. */
#pragma once

#include "core/error.h"

#include <stdbool.h>
#include <stdint.h>

#define DISK_USAGE_MAX_ENTRIES 1000000
#define DISK_USAGE_MAX_DEPTH 64

typedef struct disk_usage {
  int64_t bytes;
  int64_t entries;
  /* Why the tree could not be measured (a static string), or NULL. */
  const char *unmeasurable;
  char where[256]; /* the path (relative to the folder) it is about */
} disk_usage;

/* Measures the folder at path (not followed when it is a symlink).
 * stop_above <= 0: walk everything. Returns -1 only when path itself cannot
 * be opened; a folder below that cannot be read sets out->unmeasurable. */
int disk_usage_measure(const char *path, int64_t stop_above, disk_usage *out, bw_error_t *err);

/* Over the limit, or not measurable (both mean: stop the job). */
bool disk_usage_over(const disk_usage *u, int64_t limit);

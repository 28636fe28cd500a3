/* The walk of out/ (outputs.h), shared by outputs.c and outputs_walk.c;
 * only they include this header. outputs_walk.c lists, checks and plans
 * what may be uploaded (no upload); outputs.c uploads the plan, reads the
 * state and looks for secrets in it. */
#pragma once

#include "core/error.h"
#include "pipeline/outputs.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* A path under out/ this long no longer fits a store key with its prefix. */
#define OUTPUTS_REL_MAX 800
#define JOB_ID_MAX 128
#define MANIFEST_SUFFIX ".manifest"
#define MANIFEST_SUFFIX_LEN (sizeof(MANIFEST_SUFFIX) - 1)

typedef struct dir_entry {
  char *name;
  struct stat st;
  int stat_errno; /* 0 when st is valid */
} dir_entry;

/* A file that passed the walk and waits for its upload. */
typedef struct planned {
  char *rel; /* relative to out/: "tables/x.csv" */
  int64_t size;
  dev_t dev;
  ino_t ino;
  json_t *manifest; /* a reference of ours, or NULL */
} planned;

typedef struct walk {
  const outputs_opts *opts;
  size_t max_files;
  size_t entries;
  int64_t total_bytes;
  planned *items;
  size_t count;
  size_t cap;
} walk;

void outputs_free_planned(planned *items, size_t n);
int outputs_read_small_file(int dirfd, const char *name, size_t cap, char **data, size_t *len,
                            bw_error_t *err);
int outputs_parse_object(const char *data, size_t len, json_t **out, bw_error_t *err);
int outputs_walk_root(walk *w, int out_fd, const char *name, bw_error_t *err);

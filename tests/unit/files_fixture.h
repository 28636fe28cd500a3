/* File helpers of the unit tests that work in a temporary folder
 * (inputs_fixture.h, outputs_fixture.h, test_artifact_store.c); after
 * <cmocka.h>. */
#pragma once

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  return remove(path);
}

/* rm -rf root, links not followed. */
static inline void remove_tree(const char *root) {
  nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes text to path (created or truncated); fails the test when it cannot. */
static inline void write_text(const char *path, const char *text) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

/* A file of at most 64 KiB as a string, or NULL; the caller frees. */
static inline char *read_text(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return NULL;
  char *buf = calloc(1, 65536);
  size_t n = fread(buf, 1, 65535, fp);
  buf[n] = '\0';
  fclose(fp);
  return buf;
}

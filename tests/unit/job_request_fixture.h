/* What the run request's unit tests share (test_job_request.c,
 * test_job_request_errors.c, test_job_plan.c): the messages they expect and
 * parsing helpers that fail the test. */
#pragma once

#include "job/job_request.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MIB (1024LL * 1024)
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID_ERROR "expected 1 to 128 characters of [A-Za-z0-9._-] (not . or ..), got "
#define ENV_NAME_ERROR                                                                             \
  "expected a name of [A-Za-z0-9_] not starting with a digit, and not a reserved KBC_ or "         \
  "BUNDLE_ name"
#define ENV_VALUE_ERROR "expected a string of at most 32768 bytes without NUL"

/* A request for the component "app", with more keys: REQ(", \"tag\": \"1\"") */
#define REQ(rest) "{\"job_id\": \"j1\", \"component\": \"app\"" rest "}"

/* Parses a request given as C text; fails the test on a parse error. The
 * caller frees with job_request_free. */
static inline void parse_ok(const char *text, job_request *req) {
  bw_error_t err = NULL;
  if (job_request_parse(text, strlen(text), req, &err) < 0)
    fail_msg("%s\n  rejected: %s", text, bw_error_msg(&err));
  assert_null(err);
}

/* Parses a request that must be rejected; returns the message (caller frees)
 * and leaves whatever was read in *req (caller frees). */
static inline char *parse_error(const char *text, size_t len, job_request *req) {
  bw_error_t err = NULL;
  if (job_request_parse(text, len, req, &err) == 0)
    fail_msg("%s\n  accepted", text);
  assert_non_null(err);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  char *msg = bw_strdup(err->msg);
  bw_error_release(&err);
  return msg;
}

/* A file from tests/data/requests/; the caller frees. */
static inline char *read_fixture(const char *name, size_t *len) {
  const char *root = getenv("BW_TEST_DATA");
  if (!root)
    fail_msg("BW_TEST_DATA is not set (ctest sets it)");
  char *path = bw_strdup_printf("%s/requests/%s", root, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    fail_msg("cannot open %s", path);
  free(path);
  char *buf = malloc(65536);
  assert_non_null(buf);
  *len = fread(buf, 1, 65535, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

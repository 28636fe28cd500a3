/* What the components' unit tests share (test_components.c,
 * test_registry_credentials.c): the good fixture file loaded per test, and
 * loading a registry from text. */
#pragma once

#include "job/components.h"
#include "clients/registry_credentials.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MIB (1024LL * 1024)
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* tests/data/components/NAME; the caller frees. */
static inline char *fixture_path(const char *name) {
  const char *root = getenv("BW_TEST_DATA");
  if (!root)
    fail_msg("BW_TEST_DATA is not set (ctest sets it)");
  return bw_strdup_printf("%s/components/%s", root, name);
}

static inline int setup_good(void **state) {
  component_registry *reg = calloc(1, sizeof(*reg));
  char *path = fixture_path("good.json");
  bw_error_t err = NULL;
  int rc = components_load_file(path, reg, &err);
  if (rc < 0)
    print_error("%s\n", bw_error_msg(&err));
  bw_error_release(&err);
  free(path);
  *state = reg;
  return rc < 0 ? -1 : 0;
}

static inline int teardown_good(void **state) {
  components_free(*state);
  free(*state);
  return 0;
}

static inline const component *find(void **state, const char *id) {
  const component *c = components_find(*state, id);
  if (!c)
    fail_msg("component %s not in good.json", id);
  return c;
}

/* Loads one component {"components": {"x": OBJ}} from JSON text. */
static inline int load_text(const char *text, component_registry *reg, bw_error_t *err) {
  json_error_t jerr;
  json_t *root = json_loads(text, 0, &jerr);
  if (!root)
    fail_msg("test JSON %s: %s", text, jerr.text);
  int rc = components_load_json(root, "test.json", reg, err);
  json_decref(root);
  return rc;
}

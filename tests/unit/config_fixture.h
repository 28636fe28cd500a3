/* What the configuration's unit tests share (test_config.c,
 * test_config_io.c). */
#pragma once

#include "core/config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define WITH_CONFIG(t) cmocka_unit_test_setup_teardown(t, setup_config, teardown_config)

static inline int setup_config(void **state) {
  bw_config *cfg = malloc(sizeof(*cfg));
  if (!cfg)
    return -1;
  bw_config_init(cfg);
  *state = cfg;
  return 0;
}

static inline int teardown_config(void **state) {
  bw_config_free(*state);
  free(*state);
  return 0;
}

static inline int load(bw_config *cfg, const char *text, bw_error_t *err) {
  return bw_config_load_string(cfg, "t.conf", text, strlen(text), err);
}

/* What bw_config_print writes; the caller frees. */
static inline char *printed(const bw_config *cfg) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  bw_config_print(cfg, f);
  fclose(f);
  return text;
}

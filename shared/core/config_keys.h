/* The worker configuration's key table (config.h), shared by config.c (the
 * table, storing a value) and config_io.c (files, the environment,
 * printing); only they include this header. */
#pragma once

#include "core/config.h"

#include <stddef.h>

typedef enum key_type {
  KEY_STRING,
  KEY_PATH, /* a relative path in a file is taken from the file's folder */
  KEY_SECRET,
  KEY_INT,
  KEY_BOOL,
  KEY_LOG_LEVEL,
  KEY_ID,
  KEY_LISTEN,   /* HOST:PORT, or empty / off (bw_config_listen_parse) */
  KEY_CHOICE,   /* one of the words of `choices` ("refuse|store") */
  KEY_NET_ALLOW /* CIDRs and host names (net_policy_parse) */
} key_type;

typedef struct key_spec {
  const char *name;
  key_type type;
  size_t offset;
  long min, max;             /* KEY_INT only */
  const char *default_value; /* NULL: computed (worker.id) or empty */
  const char *doc;
} key_spec;

/* Every key, in the order `bundle-worker config keys` prints them. */
extern const key_spec bw_config_keys[];
extern const size_t bw_config_key_count;

/* The key named `name`, or NULL; *index (may be NULL) is its place. */
const key_spec *bw_config_key_find(const char *name, size_t *index);
/* A decimal integer, the whole text; 0, or -1 when it is not one. */
int bw_config_parse_long(const char *text, long *out);

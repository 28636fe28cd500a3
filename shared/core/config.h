/* The worker's configuration: defaults, then a `key = value` file, then
 * BUNDLE_WORKER_* environment variables, then --set KEY=VALUE flags
 * (docs/configuration.md lists every key). Unknown keys and bad values are
 * errors that name the key and where it came from ("worker.conf:7: ..."). */
#pragma once

#include "core/error.h"
#include "core/log.h"

#include <stdbool.h>
#include <stdio.h>

#define BW_CONFIG_ENV_PREFIX "BUNDLE_WORKER_"
#define BW_CONFIG_ENV_FILE "BUNDLE_WORKER_CONFIG"

typedef struct bw_config_pair {
  char *key; /* without the "kafka." prefix: what librdkafka calls it */
  char *value;
} bw_config_pair;

typedef struct bw_config {
  char *worker_id;
  char *worker_host; /* the Docker host's name: labels, sweeps, pull locks */
  long worker_slots;
  long worker_prefetch;
  long worker_drain_timeout_s;
  long worker_heartbeat_interval_ms;
  bool worker_static_membership;
  bw_log_level log_level;

  char *topic_runs;
  char *topic_events;
  char *topic_uploads;
  char *topic_dlq;

  char *redis_host;
  long redis_port;
  char *redis_password;
  long redis_db;
  long redis_timeout_ms;

  char *docker_socket;
  long docker_timeout_ms;

  char *components_file;
  char *data_root;
  char *artifacts_url;
  bool keep_failed_data;
  long log_max_bytes;
  long stop_grace_s;
  long inputs_max_bytes;
  long pull_timeout_s;
  long pull_inactivity_s;
  char *inputs_file_root;
  char *metrics_listen; /* serve's HTTP endpoints; "" or "off": none */
  long request_max_bytes;
  long max_deliveries;
  char *inputs_allow; /* CIDRs and host names, comma-separated (net_policy) */
  long disk_check_interval_ms;
  char *artifacts_secrets; /* "refuse" or "store" */
  /* s3:// artifact stores and inputs (clients/s3_client.h). The credentials
   * are named, never given: the variables' names, or an AWS credentials file. */
  char *s3_endpoint; /* "": https://s3.REGION.amazonaws.com */
  char *s3_region;
  char *s3_addressing; /* "auto", "path" or "virtual" */
  char *s3_access_key_env;
  char *s3_secret_key_env;
  char *s3_session_token_env;
  char *s3_credentials_file;
  char *s3_profile;
  long s3_part_size;    /* bytes; larger files go up in parts */
  long upload_parallel; /* files of one job uploaded at once */

  /* kafka.* keys, passed to librdkafka unchanged and in order. */
  bw_config_pair *kafka;
  size_t kafka_count;

  /* Where each key was last set, for error messages; parallel to the key table. */
  char **origins;
} bw_config;

/* Fills in the defaults. Always succeeds (the defaults are valid). */
void bw_config_init(bw_config *cfg);
void bw_config_free(bw_config *cfg);

int bw_config_load_file(bw_config *cfg, const char *path, bw_error_t *err);
/* Parses `text` as if it were the file `name` (tests and fuzzing). */
int bw_config_load_string(bw_config *cfg, const char *name, const char *text, size_t len,
                          bw_error_t *err);
/* Applies BUNDLE_WORKER_* variables from envp (NULL-terminated, like environ). */
int bw_config_apply_env(bw_config *cfg, char *const *envp, bw_error_t *err);
/* Sets one key; `origin` names where it came from for error messages. */
int bw_config_set(bw_config *cfg, const char *key, const char *value, const char *origin,
                  bw_error_t *err);

/* Writes the effective configuration as `key = value` lines, secrets hidden. */
void bw_config_print(const bw_config *cfg, FILE *out);
/* Writes the table of keys with their defaults and descriptions. */
void bw_config_print_keys(FILE *out);
/* A listen address such as metrics.listen: "HOST:PORT", "[IPV6]:PORT", or
 * ":PORT" for every address (port 0: any free one). Returns 1 with *host
 * (malloc'd; "" for every address) and *port set; 0 when the value turns
 * the listener off ("" or "off"); -1 when it is malformed. */
int bw_config_listen_parse(const char *value, char **host, int *port);

/* The value librdkafka gets for `name`, or NULL when not configured. */
const char *bw_config_kafka_get(const bw_config *cfg, const char *name);

#include "core/config.h"

#include "core/cleanup.h"
#include "core/config_keys.h"
#include "core/ident.h"
#include "core/net_policy.h"

#include <ctype.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The words a KEY_CHOICE key takes, '|'-separated. */
static const struct {
  const char *key;
  const char *choices;
} choice_table[] = {
    {"artifacts.secrets", "refuse|store"},
    {"artifacts.s3.addressing", "auto|path|virtual"},
};

#define FIELD(f) offsetof(bw_config, f)

const key_spec bw_config_keys[] = {
    {"worker.id", KEY_ID, FIELD(worker_id), 0, 0, NULL,
     "this worker's id in labels, events and Redis (default: host name)"},
    {"worker.host", KEY_ID, FIELD(worker_host), 0, 0, NULL,
     "the Docker host this worker runs containers on, in labels, sweeps and pull locks "
     "(default: host name; in Kubernetes the node's name)"},
    {"worker.slots", KEY_INT, FIELD(worker_slots), 1, 256, "2", "jobs run at once by one worker"},
    {"worker.prefetch", KEY_INT, FIELD(worker_prefetch), 0, 256, "16",
     "requests taken ahead while every slot is busy (hides the consumer's resume latency)"},
    {"worker.drain.timeout.seconds", KEY_INT, FIELD(worker_drain_timeout_s), 0, 86400, "300",
     "on SIGTERM, how long running jobs may go on before they are stopped"},
    {"worker.static.membership", KEY_BOOL, FIELD(worker_static_membership), 0, 0, "true",
     "serve: join the group as a static member (kafka group.instance.id = worker.id unless "
     "set): a worker restarted within the session timeout gets its partitions back at once"},
    {"worker.heartbeat.interval.ms", KEY_INT, FIELD(worker_heartbeat_interval_ms), 100, 600000,
     "3000", "how often a worker refreshes its heartbeat and leases"},
    {"log.level", KEY_LOG_LEVEL, FIELD(log_level), 0, 0, "info", "debug | info | warn | error"},
    {"topic.runs", KEY_STRING, FIELD(topic_runs), 0, 0, "bundle.runs", "run requests"},
    {"topic.events", KEY_STRING, FIELD(topic_events), 0, 0, "bundle.events", "pipeline events"},
    {"topic.uploads", KEY_STRING, FIELD(topic_uploads), 0, 0, "bundle.uploads",
     "artifact.uploaded events"},
    {"topic.dlq", KEY_STRING, FIELD(topic_dlq), 0, 0, "bundle.runs.dlq",
     "requests that cannot run"},
    {"redis.host", KEY_STRING, FIELD(redis_host), 0, 0, "127.0.0.1", "Redis host"},
    {"redis.port", KEY_INT, FIELD(redis_port), 1, 65535, "6379", "Redis port"},
    {"redis.password", KEY_SECRET, FIELD(redis_password), 0, 0, "", "Redis AUTH password"},
    {"redis.db", KEY_INT, FIELD(redis_db), 0, 1023, "0", "Redis database number"},
    {"redis.timeout.ms", KEY_INT, FIELD(redis_timeout_ms), 10, 600000, "2000",
     "Redis connect and command timeout"},
    {"docker.socket", KEY_PATH, FIELD(docker_socket), 0, 0, "/var/run/docker.sock",
     "the Docker Engine API unix socket"},
    {"docker.timeout.ms", KEY_INT, FIELD(docker_timeout_ms), 100, 3600000, "30000",
     "timeout of one short Engine API call (pulls and waits have their own)"},
    {"pull.timeout.seconds", KEY_INT, FIELD(pull_timeout_s), 1, 86400, "1800",
     "one image pull may take this long (per attempt)"},
    {"pull.inactivity.seconds", KEY_INT, FIELD(pull_inactivity_s), 1, 3600, "120",
     "a pull that makes no progress this long is abandoned (and retried)"},
    {"components.file", KEY_PATH, FIELD(components_file), 0, 0, "",
     "JSON file of registered components"},
    {"data.root", KEY_PATH, FIELD(data_root), 0, 0, "/var/tmp/bundle-worker/jobs",
     "folder that holds one data folder per running job"},
    {"artifacts.url", KEY_STRING, FIELD(artifacts_url), 0, 0,
     "file:///var/tmp/bundle-worker/artifacts",
     "artifact store: file://DIR, http(s)://URL or s3://BUCKET/PREFIX"},
    {"artifacts.s3.endpoint", KEY_STRING, FIELD(s3_endpoint), 0, 0, "",
     "S3 endpoint (http(s)://HOST[:PORT]) for s3:// stores and inputs; empty: AWS's for the "
     "region"},
    {"artifacts.s3.region", KEY_STRING, FIELD(s3_region), 0, 0, "us-east-1",
     "S3 region, part of every signature"},
    {"artifacts.s3.addressing", KEY_CHOICE, FIELD(s3_addressing), 0, 0, "auto",
     "path (ENDPOINT/BUCKET/KEY), virtual (BUCKET.HOST/KEY) or auto (virtual on AWS, path "
     "elsewhere)"},
    {"artifacts.s3.access.key.env", KEY_STRING, FIELD(s3_access_key_env), 0, 0, "AWS_ACCESS_KEY_ID",
     "the environment variable that holds the S3 access key id"},
    {"artifacts.s3.secret.key.env", KEY_STRING, FIELD(s3_secret_key_env), 0, 0,
     "AWS_SECRET_ACCESS_KEY", "the environment variable that holds the S3 secret key"},
    {"artifacts.s3.session.token.env", KEY_STRING, FIELD(s3_session_token_env), 0, 0,
     "AWS_SESSION_TOKEN", "the environment variable that holds an S3 session token (optional)"},
    {"artifacts.s3.credentials.file", KEY_PATH, FIELD(s3_credentials_file), 0, 0, "",
     "an AWS credentials file, read when the variables are not set"},
    {"artifacts.s3.profile", KEY_STRING, FIELD(s3_profile), 0, 0, "default",
     "the profile of artifacts.s3.credentials.file"},
    {"artifacts.s3.part.size", KEY_INT, FIELD(s3_part_size), 5L << 20, 5L << 30, "67108864",
     "files larger than this go up to S3 in parts of this size (5 MiB to 5 GiB)"},
    {"artifacts.upload.parallel", KEY_INT, FIELD(upload_parallel), 1, 64, "4",
     "how many of a job's output files are uploaded at once"},
    {"jobs.keep.failed.data", KEY_BOOL, FIELD(keep_failed_data), 0, 0, "false",
     "keep the data folder of a failed job, for debugging"},
    {"jobs.stop.grace.seconds", KEY_INT, FIELD(stop_grace_s), 0, 3600, "10",
     "at a timeout or cancel: SIGTERM, then SIGKILL this many seconds later"},
    {"jobs.inputs.max.bytes", KEY_INT, FIELD(inputs_max_bytes), 1, LONG_MAX, "4294967296",
     "largest input a job may fetch, unless the request gives a smaller max_bytes"},
    {"jobs.inputs.file.root", KEY_PATH, FIELD(inputs_file_root), 0, 0, "",
     "file:// inputs must lie under this folder; empty: file:// inputs are refused"},
    {"metrics.listen", KEY_LISTEN, FIELD(metrics_listen), 0, 0, "127.0.0.1:9464",
     "serve: address of /metrics, /healthz, /readyz (HOST:PORT, :PORT for every address; "
     "off to disable)"},
    {"jobs.log.max.bytes", KEY_INT, FIELD(log_max_bytes), 1024, LONG_MAX, "10485760",
     "log bytes kept per job (first and last part)"},
    {"jobs.request.max.bytes", KEY_INT, FIELD(request_max_bytes), 1024, 64L << 20, "1048576",
     "a run request larger than this is rejected before it is parsed"},
    {"jobs.max.deliveries", KEY_INT, FIELD(max_deliveries), 1, 100, "3",
     "serve: a request whose worker died this many times (crash, kill) goes to the DLQ at its "
     "next delivery"},
    {"jobs.inputs.allow", KEY_NET_ALLOW, FIELD(inputs_allow), 0, 0, "",
     "http(s) inputs may reach these private, loopback or link-local CIDRs and host names "
     "(comma-separated); public addresses are always allowed"},
    {"jobs.disk.check.interval.ms", KEY_INT, FIELD(disk_check_interval_ms), 100, 3600000, "1000",
     "how often a running job's data folder is measured against limits.disk"},
    {"artifacts.secrets", KEY_CHOICE, FIELD(artifacts_secrets), 0, 0, "refuse",
     "an output file or out/state.json holding one of the job's secrets: refuse (not stored, "
     "artifact.refused) or store"},
};

const size_t bw_config_key_count = sizeof(bw_config_keys) / sizeof(bw_config_keys[0]);
#define KEY_COUNT bw_config_key_count

static void *field_ptr(bw_config *cfg, const key_spec *spec) {
  return (char *)cfg + spec->offset;
}

const key_spec *bw_config_key_find(const char *name, size_t *index) {
  for (size_t i = 0; i < KEY_COUNT; i++) {
    if (strcmp(bw_config_keys[i].name, name) == 0) {
      if (index)
        *index = i;
      return &bw_config_keys[i];
    }
  }
  return NULL;
}

int bw_config_parse_long(const char *text, long *out) {
  if (!*text)
    return -1;
  errno = 0;
  char *end = NULL;
  long v = strtol(text, &end, 10);
  if (errno || *end || end == text)
    return -1;
  *out = v;
  return 0;
}

static const char *key_choices(const key_spec *spec) {
  for (size_t i = 0; i < sizeof(choice_table) / sizeof(choice_table[0]); i++)
    if (strcmp(choice_table[i].key, spec->name) == 0)
      return choice_table[i].choices;
  return NULL;
}

/* Converts and stores one value; origin is "FILE:LINE", "environment VAR" or "--set". */
static int key_store(bw_config *cfg, const key_spec *spec, const char *value, const char *origin,
                     bw_error_t *err) {
  void *dst = field_ptr(cfg, spec);
  switch (spec->type) {
  case KEY_STRING:
  case KEY_PATH:
  case KEY_SECRET:
    free(*(char **)dst);
    *(char **)dst = bw_strdup(value);
    return 0;
  case KEY_ID:
    if (!bw_id_valid(value, 64))
      return bw_error_set(err, BW_ERR_INVALID,
                          "%s: %s: expected 1 to 64 characters of [A-Za-z0-9._-], got '%s'", origin,
                          spec->name, value);
    free(*(char **)dst);
    *(char **)dst = bw_strdup(value);
    return 0;
  case KEY_CHOICE: {
    size_t n = strlen(value);
    const char *choices = key_choices(spec);
    for (const char *c = choices; *value && c && *c;) {
      const char *bar = strchr(c, '|');
      size_t len = bar ? (size_t)(bar - c) : strlen(c);
      if (len == n && strncmp(c, value, n) == 0) {
        free(*(char **)dst);
        *(char **)dst = bw_strdup(value);
        return 0;
      }
      c = bar ? bar + 1 : NULL;
    }
    return bw_error_set(err, BW_ERR_INVALID, "%s: %s: expected one of %s, got '%s'", origin,
                        spec->name, choices ? choices : "?", value);
  }
  case KEY_LISTEN: {
    cleanup_free char *host = NULL;
    int port;
    if (bw_config_listen_parse(value, &host, &port) < 0)
      return bw_error_set(err, BW_ERR_INVALID,
                          "%s: %s: expected HOST:PORT, [IPV6]:PORT or :PORT (port 0 to 65535), "
                          "or off, got '%s'",
                          origin, spec->name, value);
    free(*(char **)dst);
    *(char **)dst = bw_strdup(value);
    return 0;
  }
  case KEY_NET_ALLOW: {
    net_policy policy;
    cleanup_error bw_error_t bad = NULL;
    if (net_policy_parse(value, &policy, &bad) < 0)
      return bw_error_set(err, BW_ERR_INVALID, "%s: %s: %s", origin, spec->name, bad->msg);
    net_policy_free(&policy);
    free(*(char **)dst);
    *(char **)dst = bw_strdup(value);
    return 0;
  }
  case KEY_INT: {
    long v;
    if (bw_config_parse_long(value, &v) < 0 || v < spec->min || v > spec->max)
      return bw_error_set(err, BW_ERR_INVALID,
                          "%s: %s: expected an integer from %ld to %ld, got '%s'", origin,
                          spec->name, spec->min, spec->max, value);
    *(long *)dst = v;
    return 0;
  }
  case KEY_BOOL:
    if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0)
      *(bool *)dst = true;
    else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
      *(bool *)dst = false;
    else
      return bw_error_set(err, BW_ERR_INVALID, "%s: %s: expected true or false, got '%s'", origin,
                          spec->name, value);
    return 0;
  case KEY_LOG_LEVEL:
    if (bw_log_level_parse(value, (bw_log_level *)dst) < 0)
      return bw_error_set(err, BW_ERR_INVALID,
                          "%s: %s: expected debug, info, warn or error, got '%s'", origin,
                          spec->name, value);
    return 0;
  }
  return bw_error_set(err, BW_ERR_INTERNAL, "%s: %s: unhandled key type", origin, spec->name);
}

/* librdkafka is the authority on its own keys: ask it, on a scratch conf. */
static int kafka_key_check(const char *name, const char *value, const char *origin,
                           bw_error_t *err) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char errstr[512] = "";
  rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr));
  rd_kafka_conf_destroy(conf);
  if (res == RD_KAFKA_CONF_OK)
    return 0;
  if (res == RD_KAFKA_CONF_UNKNOWN)
    return bw_error_set(err, BW_ERR_INVALID, "%s: kafka.%s: librdkafka has no such property",
                        origin, name);
  return bw_error_set(err, BW_ERR_INVALID, "%s: kafka.%s: %s", origin, name, errstr);
}

static int kafka_store(bw_config *cfg, const char *name, const char *value, const char *origin,
                       bw_error_t *err) {
  if (!*name)
    return bw_error_set(err, BW_ERR_INVALID, "%s: 'kafka.' needs a librdkafka property name",
                        origin);
  if (kafka_key_check(name, value, origin, err) < 0)
    return -1;
  for (size_t i = 0; i < cfg->kafka_count; i++) {
    if (strcmp(cfg->kafka[i].key, name) == 0) {
      free(cfg->kafka[i].value);
      cfg->kafka[i].value = bw_strdup(value);
      return 0;
    }
  }
  bw_config_pair *grown = bw_xrealloc(cfg->kafka, (cfg->kafka_count + 1) * sizeof(*grown));
  cfg->kafka = grown;
  cfg->kafka[cfg->kafka_count].key = bw_strdup(name);
  cfg->kafka[cfg->kafka_count].value = bw_strdup(value);
  cfg->kafka_count++;
  return 0;
}

int bw_config_set(bw_config *cfg, const char *key, const char *value, const char *origin,
                  bw_error_t *err) {
  if (strncmp(key, "kafka.", 6) == 0)
    return kafka_store(cfg, key + 6, value, origin, err);
  size_t index;
  const key_spec *spec = bw_config_key_find(key, &index);
  if (!spec)
    return bw_error_set(err, BW_ERR_INVALID,
                        "%s: unknown key '%s' (bundle-worker config keys lists them)", origin, key);
  if (key_store(cfg, spec, value, origin, err) < 0)
    return -1;
  free(cfg->origins[index]);
  cfg->origins[index] = bw_strdup(origin);
  return 0;
}

static char *host_name_or_worker(void) {
  char host[256] = "";
  if (gethostname(host, sizeof(host) - 1) < 0 || !bw_id_valid(host, 64))
    return bw_strdup("worker");
  return bw_strdup(host);
}

void bw_config_init(bw_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->origins = bw_xcalloc(KEY_COUNT, sizeof(char *));
  for (size_t i = 0; i < KEY_COUNT; i++) {
    const key_spec *spec = &bw_config_keys[i];
    cleanup_error bw_error_t err = NULL;
    if (spec->default_value && key_store(cfg, spec, spec->default_value, "default", &err) < 0)
      abort(); /* a bad default is a bug caught by the unit tests */
    cfg->origins[i] = bw_strdup("default");
  }
  cfg->worker_id = host_name_or_worker();
  cfg->worker_host = host_name_or_worker();
}

void bw_config_free(bw_config *cfg) {
  if (!cfg)
    return;
  for (size_t i = 0; i < KEY_COUNT; i++) {
    const key_spec *spec = &bw_config_keys[i];
    if (spec->type == KEY_STRING || spec->type == KEY_PATH || spec->type == KEY_SECRET ||
        spec->type == KEY_ID || spec->type == KEY_LISTEN || spec->type == KEY_CHOICE ||
        spec->type == KEY_NET_ALLOW)
      free(*(char **)field_ptr(cfg, spec));
    if (cfg->origins)
      free(cfg->origins[i]);
  }
  free(cfg->origins);
  for (size_t i = 0; i < cfg->kafka_count; i++) {
    free(cfg->kafka[i].key);
    free(cfg->kafka[i].value);
  }
  free(cfg->kafka);
  memset(cfg, 0, sizeof(*cfg));
}

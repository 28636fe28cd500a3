/* bundle-worker doctor: one line per dependency, saying what was found. */
#include "cli.h"
#include "clients/registry_credentials.h"
#include "commands.h"

#include "core/cleanup.h"
#include "job/components.h"
#include "clients/docker_client.h"
#include "clients/kafka_client.h"
#include "clients/redis_store.h"
#include "clients/registry_client.h"
#include "clients/artifact_store.h"
#include "clients/s3_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: bundle-worker doctor [OPTIONS]\n\n"
    "Checks every service the worker needs and prints one line per check:\n"
    "  kafka     cluster metadata; the topics (topic.*) exist\n"
    "  redis     PING and the server version\n"
    "  docker    ping, engine version, negotiated API version, storage and cgroup driver\n"
    "  registry  an authenticated manifest request for each registered component's image\n"
    "  artifacts the artifact store: an authenticated HeadBucket for s3://, the folder for "
    "file://\n"
    "Exits 1 when a check fails, with the reason on its line.\n\n"
    "options:\n"
    "  -t, --timeout MS      timeout of each check (default 5000)\n" CLI_COMMON_HELP;

typedef struct doctor {
  const bw_config *cfg;
  long timeout_ms;
  int failures;
} doctor;

static void report(doctor *d, const char *check, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(doctor *d, const char *check, bool ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *msg = bw_strdup_vprintf(fmt, ap);
  va_end(ap);
  printf("%-4s  %-9s  %s\n", ok ? "ok" : "FAIL", check, msg);
  fflush(stdout);
  if (!ok)
    d->failures++;
}

static void check_kafka(doctor *d) {
  cleanup_error bw_error_t err = NULL;
  const char *bootstrap = bw_config_kafka_get(d->cfg, "bootstrap.servers");
  if (!bootstrap)
    bootstrap = KAFKA_DEFAULT_BOOTSTRAP;
  rd_kafka_conf_t *conf = NULL;
  rd_kafka_t *rk = NULL;
  /* No logger: a broker that is down would otherwise print a line per retry. */
  if (kafka_conf_new(d->cfg, NULL, &conf, &err) < 0 ||
      kafka_client_new(RD_KAFKA_PRODUCER, conf, &rk, &err) < 0) {
    report(d, "kafka", false, "%s: %s", bootstrap, bw_error_msg(&err));
    return;
  }
  const char *topics[] = {d->cfg->topic_runs, d->cfg->topic_events, d->cfg->topic_uploads,
                          d->cfg->topic_dlq};
  int partitions[4];
  kafka_cluster_info info = {0};
  if (kafka_cluster_check(rk, topics, 4, partitions, &info, d->timeout_ms, &err) < 0) {
    report(d, "kafka", false, "%s: %s", bootstrap, bw_error_msg(&err));
  } else {
    report(d, "kafka", true,
           "%s: %d broker(s), cluster %s, controller %d; topics %s (%d partitions), %s (%d), "
           "%s (%d), %s (%d)",
           bootstrap, info.broker_count, info.cluster_id ? info.cluster_id : "?",
           (int)info.controller_id, topics[0], partitions[0], topics[1], partitions[1], topics[2],
           partitions[2], topics[3], partitions[3]);
  }
  kafka_cluster_info_free(&info);
  rd_kafka_destroy(rk);
}

static void check_redis(doctor *d) {
  cleanup_error bw_error_t err = NULL;
  cleanup_redis redisContext *ctx = NULL;
  cleanup_free char *version = NULL;
  if (redis_store_connect(d->cfg, &ctx, &err) < 0 || redis_store_ping(ctx, &version, &err) < 0) {
    report(d, "redis", false, "%s", bw_error_msg(&err));
    return;
  }
  report(d, "redis", true, "%s:%ld: PONG, redis %s, db %ld", d->cfg->redis_host, d->cfg->redis_port,
         version, d->cfg->redis_db);
}

static void check_docker(doctor *d) {
  cleanup_error bw_error_t err = NULL;
  cleanup_docker_client docker_client *dc = NULL;
  cleanup_json json_t *version = NULL;
  if (docker_client_new(&dc, d->cfg->docker_socket, d->timeout_ms, &err) < 0) {
    report(d, "docker", false, "%s (is dockerd running?)", bw_error_msg(&err));
    return;
  }
  cleanup_docker_response docker_response ping;
  if (docker_call_ok(dc, "GET", "/_ping", NULL, &ping, &err) < 0 ||
      docker_client_negotiate(dc, &version, &err) < 0) {
    report(d, "docker", false, "%s", bw_error_msg(&err));
    return;
  }
  cleanup_docker_response docker_response info;
  if (docker_call_ok(dc, "GET", "/info", NULL, &info, &err) < 0) {
    report(d, "docker", false, "%s", bw_error_msg(&err));
    return;
  }
  const char *cgroup_version = json_string_value(json_object_get(info.json, "CgroupVersion"));
  report(d, "docker", true,
         "%s: ping %s, engine %s, API %s (engine %s, ours up to %s), storage %s, cgroup driver "
         "%s (v%s)",
         d->cfg->docker_socket, ping.body.data ? ping.body.data : "",
         json_string_value(json_object_get(version, "Version")), dc->api_version,
         json_string_value(json_object_get(version, "ApiVersion")), BW_DOCKER_API_MAX,
         json_string_value(json_object_get(info.json, "Driver")),
         json_string_value(json_object_get(info.json, "CgroupDriver")),
         cgroup_version ? cgroup_version : "1");
}

static void check_component_image(doctor *d, const component *c) {
  cleanup_error bw_error_t err = NULL;
  cleanup_image_ref image_ref ref = {0};
  cleanup_free char *text = bw_strdup_printf("%s:%s%s%s", c->image, c->default_tag,
                                             c->digest ? "@" : "", c->digest ? c->digest : "");
  cleanup_free char *user = NULL;
  cleanup_free char *pass = NULL;
  registry_manifest m = {0};
  if (image_ref_parse(text, &ref, &err) < 0 ||
      registry_credentials_of(c, image_ref_registry_host(&ref), &user, &pass, &err) < 0 ||
      registry_manifest_head(&ref, user, pass, d->timeout_ms, &m, &err) < 0) {
    report(d, "registry", false, "%s (component %s): %s", text, c->id, bw_error_msg(&err));
  } else {
    report(d, "registry", true, "%s (component %s): manifest %s, %s", text, c->id,
           m.digest ? m.digest : "(no digest header)", user ? "authenticated" : "anonymous");
  }
  registry_manifest_free(&m);
}

static void check_registry(doctor *d) {
  if (!d->cfg->components_file || !*d->cfg->components_file) {
    report(d, "registry", true,
           "nothing to check: no components file configured (components.file)");
    return;
  }
  cleanup_error bw_error_t err = NULL;
  cleanup_components component_registry reg = {0};
  if (components_load_file(d->cfg->components_file, &reg, &err) < 0) {
    report(d, "registry", false, "%s", bw_error_msg(&err));
    return;
  }
  for (size_t i = 0; i < reg.count; i++)
    check_component_image(d, &reg.items[i]);
}

static void check_s3(doctor *d) {
  cleanup_error bw_error_t err = NULL;
  cleanup_free char *bucket = NULL;
  cleanup_free char *prefix = NULL;
  const char *url = d->cfg->artifacts_url;
  /* One attempt, within the check's timeout: doctor says what is, now. */
  http_transfer_opts opts = {.connect_timeout_ms = d->timeout_ms,
                             .low_speed_time_s = d->timeout_ms / 1000 + 1,
                             .max_attempts = 1};
  cleanup_s3_client s3_client *c = NULL;
  if (s3_url_parse(url, &bucket, &prefix, &err) < 0 || s3_client_new(d->cfg, &opts, &c, &err) < 0 ||
      s3_head_bucket(c, bucket, &err) < 0) {
    report(d, "artifacts", false, "%s: %s", url, bw_error_msg(&err));
    return;
  }
  report(d, "artifacts", true, "%s: HeadBucket ok at %s (region %s), credentials from %s", url,
         *d->cfg->s3_endpoint ? d->cfg->s3_endpoint : "AWS", d->cfg->s3_region,
         s3_client_credentials_source(c));
}

static void check_artifacts(doctor *d) {
  const char *url = d->cfg->artifacts_url;
  if (strncmp(url, "s3://", 5) == 0) {
    check_s3(d);
    return;
  }
  cleanup_error bw_error_t err = NULL;
  cleanup_artifact_store artifact_store *s = NULL;
  if (artifact_store_open(url, &s, &err) < 0)
    report(d, "artifacts", false, "%s", bw_error_msg(&err));
  else if (strncmp(url, "file://", 7) == 0)
    report(d, "artifacts", true, "%s: the folder is there", artifact_store_url(s));
  else /* the URL shown has no credentials */
    report(d, "artifacts", true, "%s: not checked (an HTTP store is only ever PUT to)",
           artifact_store_url(s));
}

int cmd_doctor(int argc, char **argv) {
  static const struct option long_options[] = {
      {"timeout", required_argument, NULL, 't'}, CLI_COMMON_LONG_OPTIONS, {NULL, 0, NULL, 0}};
  cli_context ctx;
  cli_init(&ctx);
  doctor d = {.timeout_ms = 5000};
  int rc = EXIT_OK, opt;
  cli_args args = {"doctor", argc, argv, "t:" CLI_COMMON_SHORT_OPTIONS, long_options, usage, -1};
  while (cli_next_option(&ctx, &args, &opt)) {
    if (opt == 't') {
      char *end = NULL;
      d.timeout_ms = strtol(optarg, &end, 10);
      if (!*optarg || *end || d.timeout_ms <= 0) {
        args.exit = cli_usage_error("doctor", "--timeout: expected milliseconds, got '%s'", optarg);
        continue;
      }
      continue;
    }
  }
  int exit_now = cli_begin(&ctx, &args, 0, 0, "");
  if (exit_now >= 0) {
    rc = exit_now;
    goto out;
  }
  d.cfg = &ctx.cfg;
  check_kafka(&d);
  check_redis(&d);
  check_docker(&d);
  check_registry(&d);
  check_artifacts(&d);
  if (d.failures) {
    fprintf(stderr, "bundle-worker doctor: %d check(s) failed\n", d.failures);
    rc = EXIT_FAILED;
  }
out:
  cli_free(&ctx);
  return rc;
}

/* bundle-worker submit [--wait] FILE...|-: validates run requests with the
 * worker's own validator, produces them to topic.runs (key = job_id), prints
 * their ids; with --wait follows topic.events until each job has finished. */
#include "cli.h"
#include "commands.h"

#include "cleanup.h"
#include "components.h"
#include "job_request.h"
#include "kafka_client.h"
#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: bundle-worker submit [OPTIONS] JOB.json...   (or - for standard input)\n\n"
    "Checks each request (as the worker will), sends it to topic.runs and prints its\n"
    "job id. Nothing is sent when any request is invalid (exit 3).\n\n"
    "options:\n"
    "  -w, --wait             follow topic.events until every job has finished; print\n"
    "                         one line per job; exit 1 if any did not succeed\n"
    "  -t, --timeout S        give up waiting after S seconds (default 3600; exit 8)\n"
    "  -C, --components FILE  registered components (default: components.file)\n" CLI_COMMON_HELP;

typedef struct submitted {
  char *job_id;
  char *payload;
  size_t len;
  char *status; /* once finished */
} submitted;

static int read_request(const char *path, char **out, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
  if (!f)
    return -1;
  char *buf = NULL;
  size_t cap = 0;
  FILE *mem = open_memstream(&buf, &cap);
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    fwrite(chunk, 1, n, mem);
  int failed = ferror(f);
  fclose(mem);
  if (f != stdin)
    fclose(f);
  if (failed) {
    free(buf);
    return -1;
  }
  *out = buf;
  *len = cap;
  return 0;
}

/* Where topic.events ends now, so that --wait misses nothing sent later. */
static int events_end(rd_kafka_t *rk, const char *topic, rd_kafka_topic_partition_list_t **out,
                      bw_error_t *err) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  rd_kafka_resp_err_t rc = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  rd_kafka_topic_destroy(rkt);
  if (rc || md->topic_cnt != 1 || md->topics[0].err) {
    if (md)
      rd_kafka_metadata_destroy(md);
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: topic %s: %s", topic,
                        rd_kafka_err2str(rc ? rc : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
  }
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
  for (int i = 0; i < md->topics[0].partition_cnt; i++) {
    int64_t lo = 0, hi = 0;
    int32_t p = md->topics[0].partitions[i].id;
    rc = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
    if (rc) {
      rd_kafka_metadata_destroy(md);
      rd_kafka_topic_partition_list_destroy(list);
      return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: offsets of %s[%d]: %s", topic, (int)p,
                          rd_kafka_err2str(rc));
    }
    rd_kafka_topic_partition_list_add(list, topic, p)->offset = hi;
  }
  rd_kafka_metadata_destroy(md);
  *out = list;
  return 0;
}

static submitted *find(submitted *jobs, size_t n, const char *job_id) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(jobs[i].job_id, job_id) == 0)
      return &jobs[i];
  return NULL;
}

/* Follows the events until each job has its job.finished (or job.duplicate
 * saying it had finished before); returns how many are still open. */
static size_t follow(rd_kafka_t *consumer, submitted *jobs, size_t n, long timeout_s) {
  size_t open = n;
  int64_t deadline = bw_time_monotonic_ms() + timeout_s * 1000;
  while (open > 0 && bw_time_monotonic_ms() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 200);
    if (!m)
      continue;
    if (!m->err) {
      cleanup_json json_t *ev = json_loadb(m->payload, m->len, 0, NULL);
      const char *type = json_string_value(json_object_get(ev, "type"));
      const char *job_id = json_string_value(json_object_get(ev, "job_id"));
      submitted *s = job_id ? find(jobs, n, job_id) : NULL;
      const char *status = NULL;
      if (s && type && strcmp(type, "job.finished") == 0)
        status = json_string_value(json_object_get(ev, "status"));
      else if (s && type && strcmp(type, "job.duplicate") == 0)
        status = json_string_value(json_object_get(json_object_get(ev, "record"), "status"));
      if (s && status && !s->status) {
        s->status = bw_strdup(status);
        json_t *code = json_object_get(ev, "exit_code");
        const char *msg = json_string_value(json_object_get(ev, "message"));
        printf("%s  %s", job_id, status);
        if (json_is_integer(code))
          printf("  exit %lld", (long long)json_integer_value(code));
        if (msg && *msg)
          printf("  %s", msg);
        printf("\n");
        fflush(stdout);
        open--;
      }
    }
    rd_kafka_message_destroy(m);
  }
  return open;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  if (m->err) {
    fprintf(stderr, "bundle-worker submit: not delivered: %s\n", rd_kafka_err2str(m->err));
    (*(int *)m->_private)++;
  }
}

static int produce_all(const bw_config *cfg, submitted *jobs, size_t n, bw_error_t *err) {
  rd_kafka_conf_t *conf = NULL;
  if (kafka_conf_new(cfg, NULL, &conf, err) < 0 ||
      kafka_conf_set(conf, "enable.idempotence", "true", err) < 0) {
    if (conf)
      rd_kafka_conf_destroy(conf);
    return -1;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t *rk = NULL;
  if (kafka_client_new(RD_KAFKA_PRODUCER, conf, &rk, err) < 0)
    return -1;
  int failed = 0;
  for (size_t i = 0; i < n; i++) {
    rd_kafka_resp_err_t rc = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(cfg->topic_runs),
        RD_KAFKA_V_KEY(jobs[i].job_id, strlen(jobs[i].job_id)),
        RD_KAFKA_V_VALUE(jobs[i].payload, jobs[i].len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(&failed), RD_KAFKA_V_END);
    if (rc) {
      bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: produce %s: %s", jobs[i].job_id,
                   rd_kafka_err2str(rc));
      rd_kafka_destroy(rk);
      return -1;
    }
  }
  rd_kafka_flush(rk, 30000);
  int left = rd_kafka_outq_len(rk);
  rd_kafka_destroy(rk);
  if (left > 0 || failed > 0)
    return bw_error_set(err, BW_ERR_UNAVAILABLE,
                        "kafka %s: %d request(s) not delivered (is the broker up?)",
                        bw_config_kafka_get(cfg, "bootstrap.servers")
                            ? bw_config_kafka_get(cfg, "bootstrap.servers")
                            : KAFKA_DEFAULT_BOOTSTRAP,
                        left + failed);
  return 0;
}

static rd_kafka_t *events_consumer(const bw_config *cfg, bw_error_t *err) {
  rd_kafka_conf_t *conf = NULL;
  cleanup_free char *group = bw_strdup_printf("bundle-worker-submit-%d", (int)getpid());
  if (kafka_conf_new(cfg, NULL, &conf, err) < 0 ||
      kafka_conf_set(conf, "group.id", group, err) < 0 ||
      kafka_conf_set(conf, "enable.auto.commit", "false", err) < 0) {
    if (conf)
      rd_kafka_conf_destroy(conf);
    return NULL;
  }
  rd_kafka_t *rk = NULL;
  if (kafka_client_new(RD_KAFKA_CONSUMER, conf, &rk, err) < 0)
    return NULL;
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t *from = NULL;
  if (events_end(rk, cfg->topic_events, &from, err) < 0) {
    rd_kafka_destroy(rk);
    return NULL;
  }
  rd_kafka_assign(rk, from);
  rd_kafka_topic_partition_list_destroy(from);
  return rk;
}

int cmd_submit(int argc, char **argv) {
  static const struct option long_options[] = {{"wait", no_argument, NULL, 'w'},
                                               {"timeout", required_argument, NULL, 't'},
                                               {"components", required_argument, NULL, 'C'},
                                               CLI_COMMON_LONG_OPTIONS,
                                               {NULL, 0, NULL, 0}};
  cli_context ctx;
  cli_init(&ctx);
  cleanup_error bw_error_t err = NULL;
  component_registry reg = {0};
  bool have_components = false, wait = false;
  long timeout_s = 3600;
  const char *components_path = NULL;
  submitted *jobs = NULL;
  size_t n = 0;
  rd_kafka_t *consumer = NULL;
  int rc = EXIT_OK, opt, exit_now = -1;
  while ((opt = getopt_long(argc, argv, "wt:C:" CLI_COMMON_SHORT_OPTIONS, long_options, NULL)) !=
         -1) {
    if (opt == 'w') {
      wait = true;
      continue;
    }
    if (opt == 't') {
      char *end = NULL;
      timeout_s = strtol(optarg, &end, 10);
      if (!*optarg || *end || timeout_s <= 0) {
        rc = cli_usage_error("submit", "--timeout: expected seconds, got '%s'", optarg);
        goto out;
      }
      continue;
    }
    if (opt == 'C') {
      components_path = optarg;
      continue;
    }
    if (!cli_common_option(&ctx, opt, optarg, usage, &exit_now)) {
      rc = cli_usage_error("submit", "unknown option");
      goto out;
    }
    if (exit_now >= 0) {
      rc = exit_now;
      goto out;
    }
  }
  if (optind >= argc) {
    rc = cli_usage_error("submit", "missing JOB.json (or - for standard input)");
    goto out;
  }
  if (cli_load_config(&ctx, "submit") < 0) {
    rc = EXIT_USAGE;
    goto out;
  }
  int loaded = cli_load_components(&ctx, "submit", components_path, false, &reg);
  if (loaded < 0) {
    rc = EXIT_USAGE;
    goto out;
  }
  have_components = loaded > 0;
  /* Every request is checked before any is sent. */
  jobs = calloc((size_t)(argc - optind), sizeof(*jobs));
  if (!jobs)
    abort();
  for (int i = optind; i < argc; i++) {
    submitted *s = &jobs[n];
    if (read_request(argv[i], &s->payload, &s->len) < 0) {
      fprintf(stderr, "bundle-worker submit: %s: %s\n", argv[i], strerror(errno));
      rc = EXIT_USAGE;
      goto out;
    }
    n++;
    cleanup_job_request job_request req;
    if (job_request_parse(s->payload, s->len, &req, &err) < 0) {
      fprintf(stderr, "bundle-worker submit: %s: %s\n", argv[i], bw_error_msg(&err));
      rc = 3;
      goto out;
    }
    s->job_id = bw_strdup(req.job_id);
    job_plan plan;
    if (have_components) {
      if (job_plan_resolve(&req, &reg, &plan, &err) < 0) {
        fprintf(stderr, "bundle-worker submit: %s: %s\n", argv[i], bw_error_msg(&err));
        rc = 3;
        goto out;
      }
      job_plan_free(&plan);
    }
  }
  if (wait && !(consumer = events_consumer(&ctx.cfg, &err))) {
    fprintf(stderr, "bundle-worker submit: %s\n", bw_error_msg(&err));
    rc = 8;
    goto out;
  }
  if (produce_all(&ctx.cfg, jobs, n, &err) < 0) {
    fprintf(stderr, "bundle-worker submit: %s\n", bw_error_msg(&err));
    rc = 8;
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    printf("submitted %s\n", jobs[i].job_id);
  fflush(stdout);
  if (!wait)
    goto out;
  size_t open = follow(consumer, jobs, n, timeout_s);
  if (open > 0) {
    fprintf(stderr, "bundle-worker submit: %zu job(s) had not finished after %ld s\n", open,
            timeout_s);
    rc = 8;
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    if (strcmp(jobs[i].status, "success") != 0)
      rc = EXIT_FAILED;
out:
  if (consumer) {
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
  }
  for (size_t i = 0; i < n; i++) {
    free(jobs[i].job_id);
    free(jobs[i].payload);
    free(jobs[i].status);
  }
  free(jobs);
  components_free(&reg);
  cli_free(&ctx);
  return rc;
}

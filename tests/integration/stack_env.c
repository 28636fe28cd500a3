#include "stack_env.h"

#include "clients/redis_store.h"
#include "core/cleanup.h"
#include "core/error.h"
#include "core/timeutil.h"

#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

const char *stack_env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v)
    fail_msg("%s is not set: integration tests run against the local stack; run "
             "deploy/local/stack-up.sh and source $STACK_HOME/stack.env (tests/run.sh does both)",
             name);
  return v;
}

void stack_config(bw_config *cfg) {
  bw_config_init(cfg);
  bw_error_t err = NULL;
  int rc = bw_config_set(cfg, "kafka.bootstrap.servers", stack_env("STACK_KAFKA_BOOTSTRAP"), "test",
                         &err);
  rc |= bw_config_set(cfg, "redis.host", stack_env("STACK_REDIS_HOST"), "test", &err);
  rc |= bw_config_set(cfg, "redis.port", stack_env("STACK_REDIS_PORT"), "test", &err);
  rc |= bw_config_set(cfg, "docker.socket", stack_env("STACK_DOCKER_SOCKET"), "test", &err);
  if (rc != 0)
    fail_msg("stack configuration: %s", bw_error_msg(&err));
}

char *stack_image(const char *name) {
  return bw_strdup_printf("%s/%s:%s", stack_env("STACK_IMAGE_PREFIX"), name,
                          stack_env("STACK_IMAGE_TAG"));
}

char *stack_redis_prefix(void) {
  static atomic_int serial;
  return bw_strdup_printf("bwtest:%d:%d:", (int)getpid(), atomic_fetch_add(&serial, 1));
}

redisContext *stack_redis_connect(const bw_config *cfg) {
  redisContext *ctx = NULL;
  bw_error_t err = NULL;
  if (redis_store_connect(cfg, &ctx, &err) < 0)
    fail_msg("redis: %s", bw_error_msg(&err));
  return ctx;
}

void stack_redis_cleanup(redisContext *ctx, const char *prefix) {
  cleanup_free char *pattern = bw_strdup_printf("%s*", prefix);
  cleanup_free char *cursor = bw_strdup("0");
  do {
    cleanup_redis_reply redisReply *r =
        redisCommand(ctx, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
      break;
    free(cursor);
    cursor = bw_strdup(r->element[0]->str);
    for (size_t i = 0; i < r->element[1]->elements; i++)
      freeReplyObject(redisCommand(ctx, "DEL %s", r->element[1]->element[i]->str));
  } while (strcmp(cursor, "0") != 0);
  redis_store_close(ctx);
}

void stack_s3_config(bw_config *cfg, long part_size) {
  bw_error_t err = NULL;
  (void)stack_env("STACK_S3_ACCESS_KEY_ID");
  (void)stack_env("STACK_S3_SECRET_ACCESS_KEY");
  int rc =
      bw_config_set(cfg, "artifacts.s3.endpoint", stack_env("STACK_S3_ENDPOINT"), "test", &err);
  rc |= bw_config_set(cfg, "artifacts.s3.region", stack_env("STACK_S3_REGION"), "test", &err);
  rc |= bw_config_set(cfg, "artifacts.s3.access.key.env", "STACK_S3_ACCESS_KEY_ID", "test", &err);
  rc |=
      bw_config_set(cfg, "artifacts.s3.secret.key.env", "STACK_S3_SECRET_ACCESS_KEY", "test", &err);
  if (part_size > 0) {
    cleanup_free char *text = bw_strdup_printf("%ld", part_size);
    rc |= bw_config_set(cfg, "artifacts.s3.part.size", text, "test", &err);
  }
  if (rc != 0)
    fail_msg("S3 configuration: %s", bw_error_msg(&err));
}

char *stack_s3_check(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *args = bw_strdup_vprintf(fmt, ap);
  va_end(ap);
  cleanup_free char *cmd =
      bw_strdup_printf("%s/bin/python %s/../tools/s3_check.py %s", stack_env("STACK_MOTO_VENV"),
                       stack_env("BW_TEST_DATA"), args);
  FILE *p = popen(cmd, "r");
  if (!p)
    fail_msg("popen %s", cmd);
  char *out = NULL;
  size_t cap = 0;
  ssize_t n = getdelim(&out, &cap, '\0', p);
  int status = pclose(p);
  if (status != 0)
    fail_msg("s3_check.py %s: exit status %d", args, status);
  if (n < 0) {
    free(out);
    return bw_strdup("");
  }
  return out;
}

/* ---- Kafka ---- */

rd_kafka_t *stack_kafka_client(rd_kafka_type_t type) {
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", stack_env("STACK_KAFKA_BOOTSTRAP"), errstr,
                        sizeof(errstr)) ||
      (type == RD_KAFKA_CONSUMER &&
       (rd_kafka_conf_set(conf, "group.id", "bw-test-reader", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr))))) {
    rd_kafka_conf_destroy(conf);
    fail_msg("kafka conf: %s", errstr);
  }
  rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
  if (!rk)
    fail_msg("kafka client: %s", errstr);
  return rk;
}

#define NO_ANSWER "no answer in 30 s"

/* What went wrong with one admin request (a new string), NULL when nothing. */
static char *admin_problem(rd_kafka_queue_t *q, rd_kafka_event_type_t type) {
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
  rd_kafka_queue_destroy(q);
  if (!ev)
    return bw_strdup(NO_ANSWER);
  char *problem = NULL;
  size_t n = 0;
  const rd_kafka_topic_result_t **topics =
      type == RD_KAFKA_EVENT_CREATETOPICS_RESULT
          ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n)
      : type == RD_KAFKA_EVENT_DELETETOPICS_RESULT
          ? rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n)
          : NULL;
  const rd_kafka_topic_partition_list_t *records =
      type == RD_KAFKA_EVENT_DELETERECORDS_RESULT
          ? rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev))
          : NULL;
  if (rd_kafka_event_type(ev) != type)
    problem = bw_strdup_printf("answered %s", rd_kafka_event_name(ev));
  else if (rd_kafka_event_error(ev))
    problem = bw_strdup(rd_kafka_event_error_string(ev));
  for (size_t i = 0; !problem && i < n; i++)
    if (rd_kafka_topic_result_error(topics[i]))
      problem = bw_strdup_printf("topic %s: %s", rd_kafka_topic_result_name(topics[i]),
                                 rd_kafka_topic_result_error_string(topics[i]));
  for (int i = 0; !problem && records && i < records->cnt; i++)
    if (records->elems[i].err)
      problem = bw_strdup_printf("records of %s [%d]: %s", records->elems[i].topic,
                                 (int)records->elems[i].partition,
                                 rd_kafka_err2str(records->elems[i].err));
  rd_kafka_event_destroy(ev);
  return problem;
}

static char *topics_delete(rd_kafka_t *admin, const char *const *names, int n) {
  rd_kafka_DeleteTopic_t **dt = bw_xcalloc((size_t)n + 1, sizeof(*dt));
  for (int i = 0; i < n; i++)
    dt[i] = rd_kafka_DeleteTopic_new(names[i]);
  rd_kafka_queue_t *q = rd_kafka_queue_new(admin);
  rd_kafka_DeleteTopics(admin, dt, (size_t)n, NULL, q);
  rd_kafka_DeleteTopic_destroy_array(dt, (size_t)n);
  free(dt);
  return admin_problem(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT);
}

/* The topics made and not deleted yet, deleted at exit: a setup that fails
 * half way never reaches its teardown. Only a test's main thread makes and
 * deletes topics. */
enum { TOPICS_MADE_MAX = 64 };
static struct {
  char *name[TOPICS_MADE_MAX];
  int count;
  bool at_exit;
} made;

static void delete_topics_left(void) {
  if (made.count == 0)
    return;
  rd_kafka_t *admin = stack_kafka_client(RD_KAFKA_PRODUCER);
  cleanup_free char *problem = topics_delete(admin, (const char *const *)made.name, made.count);
  fprintf(stderr, "deleted the %d Kafka topic(s) a failed test left%s%s\n", made.count,
          problem ? ": " : "", problem ? problem : "");
  rd_kafka_destroy(admin);
  for (int i = 0; i < made.count; i++)
    free(made.name[i]);
  made.count = 0;
}

static void made_add(const char *name) {
  if (!made.at_exit)
    made.at_exit = atexit(delete_topics_left) == 0;
  assert_true(made.count < TOPICS_MADE_MAX);
  made.name[made.count++] = bw_strdup(name);
}

static void made_remove(const char *name) {
  for (int i = 0; i < made.count; i++)
    if (strcmp(made.name[i], name) == 0) {
      free(made.name[i]);
      made.name[i] = made.name[--made.count];
      return;
    }
}

static bool topic_ready(rd_kafka_t *admin, rd_kafka_topic_t *rkt, int partitions) {
  const struct rd_kafka_metadata *md = NULL;
  bool ready = !rd_kafka_metadata(admin, 0, rkt, &md, 5000) && !md->topics[0].err &&
               md->topics[0].partition_cnt == partitions;
  for (int p = 0; ready && p < partitions; p++)
    ready = md->topics[0].partitions[p].leader >= 0;
  if (md)
    rd_kafka_metadata_destroy(md);
  return ready;
}

void stack_topic_create(rd_kafka_t *admin, const char *name, int partitions,
                        const char *max_message_bytes) {
  char errstr[256];
  rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, 1, errstr, sizeof(errstr));
  if (!nt)
    fail_msg("topic %s: %s", name, errstr);
  if (max_message_bytes)
    rd_kafka_NewTopic_set_config(nt, "max.message.bytes", max_message_bytes);
  made_add(name); /* before asking: a request that times out may still make it */
  rd_kafka_queue_t *q = rd_kafka_queue_new(admin);
  rd_kafka_CreateTopics(admin, &nt, 1, NULL, q);
  rd_kafka_NewTopic_destroy(nt);
  cleanup_free char *problem = admin_problem(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
  if (problem && strcmp(problem, NO_ANSWER) != 0)
    made_remove(name); /* refused: not made (or not by this test) */
  if (problem)
    fail_msg("create topic %s: %s", name, problem);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(admin, name, NULL);
  int tries = 0;
  while (!topic_ready(admin, rkt, partitions) && tries++ < 100)
    bw_time_sleep_ms(100, NULL);
  rd_kafka_topic_destroy(rkt);
  if (tries > 100)
    fail_msg("topic %s: no leader for every partition after 10 s", name);
}

void stack_topic_delete(rd_kafka_t *admin, const char *name) {
  cleanup_free char *problem = topics_delete(admin, &name, 1);
  if (problem)
    fail_msg("delete topic %s: %s", name, problem);
  made_remove(name);
}

void stack_topic_delete_records(rd_kafka_t *admin, const char *topic, int32_t partition,
                                int64_t before) {
  rd_kafka_topic_partition_list_t *upto = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(upto, topic, partition)->offset = before;
  rd_kafka_DeleteRecords_t *del = rd_kafka_DeleteRecords_new(upto);
  rd_kafka_topic_partition_list_destroy(upto);
  rd_kafka_queue_t *q = rd_kafka_queue_new(admin);
  rd_kafka_DeleteRecords(admin, &del, 1, NULL, q);
  rd_kafka_DeleteRecords_destroy(del);
  cleanup_free char *problem = admin_problem(q, RD_KAFKA_EVENT_DELETERECORDS_RESULT);
  if (problem)
    fail_msg("delete records of %s [%d] before %lld: %s", topic, (int)partition, (long long)before,
             problem);
}

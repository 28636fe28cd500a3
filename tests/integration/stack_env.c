#include "stack_env.h"

#include "clients/redis_store.h"
#include "core/cleanup.h"
#include "core/error.h"

#include <setjmp.h>
#include <stdatomic.h>
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

#include "stack_env.h"

#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

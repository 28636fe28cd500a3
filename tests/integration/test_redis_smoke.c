/* Redis SET/GET through hiredis, against the stack's real redis-server. */
#include "stack_env.h"

#include "core/cleanup.h"
#include "clients/redis_store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void set_get_round_trip(void **state) {
  bw_config cfg;
  stack_config(&cfg);
  cleanup_error bw_error_t err = NULL;
  cleanup_redis redisContext *ctx = NULL;
  assert_int_equal(redis_store_connect(&cfg, &ctx, &err), 0);
  cleanup_free char *version = NULL;
  assert_int_equal(redis_store_ping(ctx, &version, &err), 0);
  assert_non_null(version);

  cleanup_free char *key = bw_strdup_printf("bw:test:smoke:%d", (int)getpid());
  {
    cleanup_redis_reply redisReply *r = redisCommand(ctx, "SET %s %s PX 60000", key, "héllo");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
  }
  {
    cleanup_redis_reply redisReply *r = redisCommand(ctx, "GET %s", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "héllo");
  }
  {
    cleanup_redis_reply redisReply *r = redisCommand(ctx, "DEL %s", key);
    assert_int_equal(r->integer, 1);
  }
  bw_config_free(&cfg);
}

static void unreachable_port_is_a_clear_error(void **state) {
  bw_config cfg;
  stack_config(&cfg);
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(bw_config_set(&cfg, "redis.port", "1", "test", &err), 0);
  cleanup_redis redisContext *ctx = NULL;
  assert_int_equal(redis_store_connect(&cfg, &ctx, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(err->msg, "127.0.0.1:1"));
  bw_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(set_get_round_trip),
      cmocka_unit_test(unreachable_port_is_a_clear_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

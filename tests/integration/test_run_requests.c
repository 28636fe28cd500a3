/* shared/ops/run_requests.h against the stack's real broker: what the call
 * says was delivered is what the topic holds, also when the broker refuses
 * one request of several (a topic whose max.message.bytes is 2048). Each
 * request goes in a batch of its own (batch.num.messages 1), since the broker
 * judges a whole batch. */
#include "kafka_fixture.h"

#include "core/cleanup.h"
#include "core/timeutil.h"
#include "ops/run_requests.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void set_key(bw_config *cfg, const char *key, const char *value) {
  cleanup_error bw_error_t err = NULL;
  if (bw_config_set(cfg, key, value, "test", &err) < 0)
    fail_msg("%s", bw_error_msg(&err));
}

/* Sends small, big (refused), small; the topic then holds exactly what was
 * acknowledged. */
static void what_is_acknowledged_is_what_arrived(void **state) {
  char topic[96];
  snprintf(topic, sizeof(topic), "bw-run-requests-%d-%lld", (int)getpid(),
           (long long)bw_time_epoch_ms());
  rd_kafka_t *admin = stack_kafka_client(RD_KAFKA_PRODUCER);
  stack_topic_create(admin, topic, 1, "2048");
  bw_config cfg;
  stack_config(&cfg);
  set_key(&cfg, "topic.runs", topic);
  set_key(&cfg, "kafka.batch.num.messages", "1");
  cleanup_free char *big = bw_strdup_printf("{\"job_id\":\"big\",\"pad\":\"%04000d\"}", 0);
  const run_request_msg msgs[] = {{"first", "{\"job_id\":\"first\"}", 18},
                                  {"big", big, strlen(big)},
                                  {"last", "{\"job_id\":\"last\"}", 17}};
  bool acked[3] = {false, true, false};
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(run_requests_send(&cfg, msgs, 3, acked, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(bw_error_msg(&err), "not delivered"));
  assert_true(acked[0] && !acked[1]); /* the first went before the refused one */
  cleanup_kafka_recs kafka_recs got = {0};
  kafka_read(topic, 1, NULL, &got);
  size_t found = 0;
  for (int i = 0; i < 3; i++) {
    bool there = false;
    for (size_t m = 0; m < got.n; m++)
      there = there || (got.m[m]->key_len == strlen(msgs[i].job_id) &&
                        memcmp(got.m[m]->key, msgs[i].job_id, got.m[m]->key_len) == 0);
    if (there != acked[i])
      fail_msg("%s: acknowledged %d, on the topic %d", msgs[i].job_id, acked[i], there);
    found += there;
  }
  assert_int_equal(got.n, found);
  printf("run_requests_send: %zu of 3 acknowledged (the refused one never)\n", found);
  bw_config_free(&cfg);
  stack_topic_delete(admin, topic);
  rd_kafka_destroy(admin);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(what_is_acknowledged_is_what_arrived),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

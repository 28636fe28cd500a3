/* A produce/consume round trip through librdkafka against the stack's real
 * KRaft broker, on a topic the test creates and deletes itself. */
#include "stack_env.h"

#include "core/cleanup.h"
#include "clients/kafka_client.h"
#include "core/timeutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static rd_kafka_t *client(rd_kafka_type_t type, const char *extra_key, const char *extra_value) {
  bw_config cfg;
  stack_config(&cfg);
  cleanup_error bw_error_t err = NULL;
  rd_kafka_conf_t *conf = NULL;
  rd_kafka_t *rk = NULL;
  assert_int_equal(kafka_conf_new(&cfg, NULL, &conf, &err), 0);
  if (extra_key)
    assert_int_equal(kafka_conf_set(conf, extra_key, extra_value, &err), 0);
  assert_int_equal(kafka_client_new(type, conf, &rk, &err), 0);
  bw_config_free(&cfg);
  return rk;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  *(rd_kafka_resp_err_t *)m->_private = m->err;
}

static void produce_consume_round_trip(void **state) {
  char topic[96];
  snprintf(topic, sizeof(topic), "bw-smoke-%d-%lld", (int)getpid(), (long long)bw_time_epoch_ms());
  rd_kafka_t *admin = client(RD_KAFKA_PRODUCER, NULL, NULL);
  stack_topic_create(admin, topic, 1, NULL);

  /* Produce one message with a key and a header; wait for its delivery report. */
  bw_config cfg;
  stack_config(&cfg);
  cleanup_error bw_error_t err = NULL;
  rd_kafka_conf_t *conf = NULL;
  assert_int_equal(kafka_conf_new(&cfg, NULL, &conf, &err), 0);
  assert_int_equal(kafka_conf_set(conf, "enable.idempotence", "true", &err), 0);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t *producer = NULL;
  assert_int_equal(kafka_client_new(RD_KAFKA_PRODUCER, conf, &producer, &err), 0);
  bw_config_free(&cfg);
  rd_kafka_resp_err_t delivered = RD_KAFKA_RESP_ERR__IN_PROGRESS;
  const char *value = "{\"job_id\":\"smoke-1\"}";
  rd_kafka_resp_err_t rc = rd_kafka_producev(
      producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY("smoke-1", 7),
      RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_HEADER("origin", "smoke", 5),
      RD_KAFKA_V_OPAQUE(&delivered), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  assert_int_equal(rc, RD_KAFKA_RESP_ERR_NO_ERROR);
  assert_int_equal(rd_kafka_flush(producer, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  assert_int_equal(delivered, RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(producer);

  /* Consume it back from the beginning of the partition. */
  rd_kafka_t *consumer = client(RD_KAFKA_CONSUMER, "group.id", topic);
  rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  assert_int_equal(rd_kafka_assign(consumer, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(parts);
  rd_kafka_message_t *m = NULL;
  int64_t deadline = bw_time_monotonic_ms() + 30000;
  while (bw_time_monotonic_ms() < deadline) {
    m = rd_kafka_consumer_poll(consumer, 500);
    if (m && !m->err)
      break;
    if (m)
      rd_kafka_message_destroy(m);
    m = NULL;
  }
  assert_non_null(m);
  assert_int_equal(m->key_len, 7);
  assert_memory_equal(m->key, "smoke-1", 7);
  assert_int_equal(m->len, strlen(value));
  assert_memory_equal(m->payload, value, m->len);
  rd_kafka_headers_t *hdrs = NULL;
  assert_int_equal(rd_kafka_message_headers(m, &hdrs), RD_KAFKA_RESP_ERR_NO_ERROR);
  const void *hv = NULL;
  size_t hlen = 0;
  assert_int_equal(rd_kafka_header_get_last(hdrs, "origin", &hv, &hlen), 0);
  assert_int_equal(hlen, 5);
  rd_kafka_message_destroy(m);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);

  stack_topic_delete(admin, topic);
  rd_kafka_destroy(admin);
}

static void project_topics_exist(void **state) {
  rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, NULL, NULL);
  const char *topics[] = {"bundle.runs", "bundle.events", "bundle.uploads", "bundle.runs.dlq"};
  int partitions[4];
  kafka_cluster_info info = {0};
  cleanup_error bw_error_t err = NULL;
  if (kafka_cluster_check(rk, topics, 4, partitions, &info, 10000, &err) < 0)
    fail_msg("%s", bw_error_msg(&err));
  assert_int_equal(info.broker_count, 1);
  for (int i = 0; i < 4; i++)
    assert_true(partitions[i] >= 1);
  kafka_cluster_info_free(&info);
  rd_kafka_destroy(rk);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(project_topics_exist),
      cmocka_unit_test(produce_consume_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "ops/run_requests.h"

#include "clients/kafka_client.h"

#include <stdio.h>
#include <string.h>

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  if (m->err) {
    fprintf(stderr, "bundle-worker: a request was not delivered: %s\n", rd_kafka_err2str(m->err));
    (*(int *)m->_private)++;
  }
}

int run_requests_send(const bw_config *cfg, const run_request_msg *msgs, size_t n,
                      bw_error_t *err) {
  rd_kafka_conf_t *conf = NULL;
  if (kafka_conf_new(cfg, NULL, &conf, err) < 0 ||
      kafka_conf_set(conf, "enable.idempotence", "true", err) < 0 ||
      (!bw_config_kafka_get(cfg, "partitioner") &&
       kafka_conf_set(conf, "partitioner", KAFKA_PARTITIONER, err) < 0)) {
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
        RD_KAFKA_V_KEY(msgs[i].job_id, strlen(msgs[i].job_id)),
        RD_KAFKA_V_VALUE((void *)msgs[i].payload, msgs[i].len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&failed), RD_KAFKA_V_END);
    if (rc) {
      bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: produce %s: %s", msgs[i].job_id,
                   rd_kafka_err2str(rc));
      rd_kafka_destroy(rk);
      return -1;
    }
  }
  rd_kafka_flush(rk, 30000);
  int left = rd_kafka_outq_len(rk);
  rd_kafka_destroy(rk);
  if (left > 0 || failed > 0) {
    const char *servers = bw_config_kafka_get(cfg, "bootstrap.servers");
    return bw_error_set(err, BW_ERR_UNAVAILABLE,
                        "kafka %s: %d request(s) not delivered (is the broker up?)",
                        servers ? servers : KAFKA_DEFAULT_BOOTSTRAP, left + failed);
  }
  return 0;
}

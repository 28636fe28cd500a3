#include "ops/run_requests.h"

#include "clients/kafka_client.h"
#include "core/cleanup.h"

#include <stdio.h>
#include <string.h>

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  if (m->err)
    fprintf(stderr, "bundle-worker: a request was not delivered: %s\n", rd_kafka_err2str(m->err));
  else
    *(bool *)m->_private = true;
}

int run_requests_send(const bw_config *cfg, const run_request_msg *msgs, size_t n, bool *acked,
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
  cleanup_free bool *delivered = bw_xcalloc(n + 1, sizeof(bool));
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(cfg->topic_runs),
        RD_KAFKA_V_KEY(msgs[i].job_id, strlen(msgs[i].job_id)),
        RD_KAFKA_V_VALUE((void *)msgs[i].payload, msgs[i].len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&delivered[i]), RD_KAFKA_V_END);
    /* Too large for message.max.bytes: it never fits, so trying again is no use. */
    if (e)
      rc = bw_error_set(
          err, e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? BW_ERR_INVALID : BW_ERR_UNAVAILABLE,
          "kafka: produce %s: %s (%zu bytes)", msgs[i].job_id, rd_kafka_err2str(e), msgs[i].len);
  }
  /* Also after a failed produce: those queued before it are delivered, and
   * said to be. */
  rd_kafka_flush(rk, 30000);
  rd_kafka_destroy(rk);
  size_t left = 0;
  for (size_t i = 0; i < n; i++) {
    left += !delivered[i];
    if (acked)
      acked[i] = delivered[i];
  }
  if (rc == 0 && left > 0) {
    const char *servers = bw_config_kafka_get(cfg, "bootstrap.servers");
    rc = bw_error_set(err, BW_ERR_UNAVAILABLE,
                      "kafka %s: %zu request(s) not delivered (is the broker up?)",
                      servers ? servers : KAFKA_DEFAULT_BOOTSTRAP, left);
  }
  return rc;
}

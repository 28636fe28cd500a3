#include "clients/kafka_client.h"

#include "core/cleanup.h"

#include <stdlib.h>
#include <string.h>

static void on_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  const bw_logger *const *log_ref = rd_kafka_opaque(rk);
  const bw_logger *lg = log_ref ? *log_ref : NULL;
  if (!lg)
    return;
  /* syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug */
  bw_log_level ours = level <= 3   ? BW_LOG_ERROR
                      : level == 4 ? BW_LOG_WARN
                      : level <= 6 ? BW_LOG_INFO
                                   : BW_LOG_DEBUG;
  bw_log_fields(lg, ours, buf, "source", "librdkafka", "facility", fac, NULL);
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, bw_error_t *err) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
    return bw_error_set(err, BW_ERR_INVALID, "kafka.%s: %s", name, errstr);
  return 0;
}

int kafka_conf_new(const bw_config *cfg, const bw_logger *const *log_ref, rd_kafka_conf_t **out,
                   bw_error_t *err) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (kafka_conf_set(conf, "bootstrap.servers", KAFKA_DEFAULT_BOOTSTRAP, err) < 0)
    goto fail;
  if (kafka_conf_set(conf, "client.id", cfg->worker_id, err) < 0)
    goto fail;
  for (size_t i = 0; i < cfg->kafka_count; i++)
    if (kafka_conf_set(conf, cfg->kafka[i].key, cfg->kafka[i].value, err) < 0)
      goto fail;
  rd_kafka_conf_set_opaque(conf, (void *)log_ref);
  rd_kafka_conf_set_log_cb(conf, on_rdkafka_log);
  *out = conf;
  return 0;
fail:
  rd_kafka_conf_destroy(conf);
  return -1;
}

int kafka_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, rd_kafka_t **out,
                     bw_error_t *err) {
  char errstr[512];
  rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return bw_error_set(err, BW_ERR_INVALID, "kafka: cannot create client: %s", errstr);
  }
  *out = rk;
  return 0;
}

void kafka_cluster_info_free(kafka_cluster_info *info) {
  if (!info)
    return;
  free(info->cluster_id);
  info->cluster_id = NULL;
}

int kafka_cluster_check(rd_kafka_t *rk, const char *const *topics, size_t topic_count,
                        int *partitions_out, kafka_cluster_info *info, long timeout_ms,
                        bw_error_t *err) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t rc = rd_kafka_metadata(rk, 1, NULL, &md, (int)timeout_ms);
  if (rc != RD_KAFKA_RESP_ERR_NO_ERROR)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: cluster metadata: %s",
                        rd_kafka_err2str(rc));
  memset(info, 0, sizeof(*info));
  info->broker_count = md->broker_cnt;
  info->controller_id = rd_kafka_controllerid(rk, 0);
  char *cluster_id = rd_kafka_clusterid(rk, 0);
  if (cluster_id) {
    info->cluster_id = bw_strdup(cluster_id);
    rd_kafka_mem_free(rk, cluster_id);
  }
  int ret = 0;
  for (size_t t = 0; t < topic_count; t++) {
    partitions_out[t] = -1;
    for (int i = 0; i < md->topic_cnt; i++) {
      const struct rd_kafka_metadata_topic *mt = &md->topics[i];
      if (strcmp(mt->topic, topics[t]) == 0 && mt->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        partitions_out[t] = mt->partition_cnt;
    }
    if (partitions_out[t] < 0 && ret == 0)
      ret = bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: topic %s does not exist", topics[t]);
  }
  rd_kafka_metadata_destroy(md);
  return ret;
}

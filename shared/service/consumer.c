/* The consumer group: the consumer, rebalances, commits (service_state.h). */
#include "service/service_state.h"

#include "clients/kafka_client.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <string.h>

static void add_commit(void *ctx, const char *topic, int32_t partition, int64_t next) {
  rd_kafka_topic_partition_list_add(ctx, topic, partition)->offset = next;
}

/* Commits what moved; every RECOMMIT_MS everything again, so a commit lost
 * in a broker outage is made once the broker is back. */
void consumer_commit(worker_service *svc, bool sync) {
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
  int64_t now = bw_time_monotonic_ms();
  bool all = sync || now - svc->last_full_commit_ms >= RECOMMIT_MS;
  if (all)
    svc->last_full_commit_ms = now;
  size_t n = all ? offset_tracker_collect_all(svc->tracker, add_commit, list)
                 : offset_tracker_collect(svc->tracker, add_commit, list);
  if (n > 0) {
    rd_kafka_resp_err_t rc = rd_kafka_commit(svc->consumer, list, sync ? 0 : 1);
    if (rc)
      bw_log_warn(svc->log, "kafka: commit: %s", rd_kafka_err2str(rc));
  }
  rd_kafka_topic_partition_list_destroy(list);
}

static void forget_partition(worker_service *svc, const char *topic, int32_t partition) {
  offset_tracker_forget(svc->tracker, topic, partition);
  for (int i = 0; i < svc->slot_count; i++) {
    job_slot *slot = &svc->slots[i];
    if (atomic_load(&slot->state) != SLOT_FREE && slot->msg && slot->msg->partition == partition &&
        strcmp(rd_kafka_topic_name(slot->msg->rkt), topic) == 0) {
      /* It runs to its end and its events still go out; its offset is no
       * longer ours to commit (the partition's new owner sees the lease). */
      slot->revoked = true;
    }
  }
  for (size_t i = 0; i < svc->parked_count;) {
    parked_job *p = &svc->parked[i];
    if (p->msg->partition == partition && strcmp(rd_kafka_topic_name(p->msg->rkt), topic) == 0) {
      rd_kafka_message_destroy(p->msg);
      intake_unpark(svc, i);
    } else {
      i++;
    }
  }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t what,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  worker_service *svc = opaque;
  bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  if (what == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    for (int i = 0; i < parts->cnt; i++)
      forget_partition(svc, parts->elems[i].topic, parts->elems[i].partition);
  }
  rd_kafka_error_t *error = NULL;
  if (what == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (cooperative)
      error = rd_kafka_incremental_assign(rk, parts);
    else
      rd_kafka_assign(rk, parts);
    /* librdkafka keeps no pause state we could query, and a partition paused
     * before it was revoked may come back still paused: set ours explicitly. */
    if (svc->paused)
      rd_kafka_pause_partitions(rk, parts);
    else
      rd_kafka_resume_partitions(rk, parts);
  } else {
    if (cooperative)
      error = rd_kafka_incremental_unassign(rk, parts);
    else
      rd_kafka_assign(rk, NULL);
  }
  if (error) {
    bw_log_error(svc->log, "kafka: rebalance: %s", rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
  }
  char count[16];
  snprintf(count, sizeof(count), "%d", parts->cnt);
  bw_log_fields(svc->log, BW_LOG_INFO,
                what == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "partitions assigned"
                                                             : "partitions revoked",
                "count", count, NULL);
}

int consumer_start(worker_service *svc, bw_error_t *err) {
  rd_kafka_conf_t *conf = NULL;
  if (kafka_conf_new(svc->cfg, &svc->log, &conf, err) < 0)
    return -1;
  static const char *const defaults[][2] = {
      {"group.id", "bundle-workers"},
      {"partition.assignment.strategy", "cooperative-sticky"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      /* Memory stays bounded whatever the intake (librdkafka's defaults
       * prefetch up to 64 MB): the worker takes a few requests ahead
       * (worker.prefetch), not a flood. */
      /* Static members do not leave the group when they stop (KIP-345):
       * a drained worker's partitions move only after its session times
       * out, so the default is 10 s rather than librdkafka's 45 s. */
      {"session.timeout.ms", "10000"},
      {"queued.max.messages.kbytes", "1024"},
      {"queued.min.messages", "500"},
      {"fetch.max.bytes", "2097152"},
  };
  for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
    if (!bw_config_kafka_get(svc->cfg, defaults[i][0]) &&
        kafka_conf_set(conf, defaults[i][0], defaults[i][1], err) < 0) {
      rd_kafka_conf_destroy(conf);
      return -1;
    }
  }
  /* Static membership: a worker restarted with the same worker.id within
   * the session timeout is the same member, and gets its partitions back at
   * once instead of after the session timeout of its dead self. */
  if (svc->cfg->worker_static_membership && !bw_config_kafka_get(svc->cfg, "group.instance.id") &&
      kafka_conf_set(conf, "group.instance.id", svc->cfg->worker_id, err) < 0) {
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  rd_kafka_conf_set_opaque(conf, svc); /* svc->log comes first, as the log callback needs */
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  if (kafka_client_new(RD_KAFKA_CONSUMER, conf, &svc->consumer, err) < 0)
    return -1;
  rd_kafka_poll_set_consumer(svc->consumer);
  rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, svc->cfg->topic_runs, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t rc = rd_kafka_subscribe(svc->consumer, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (rc)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "kafka: subscribe to %s: %s", svc->cfg->topic_runs,
                        rd_kafka_err2str(rc));
  return 0;
}

/* Test helper: creates or deletes Kafka topics through librdkafka's admin API
 * (no JVM start per call), so each test file can have topics of its own.
 *   kafka_topics BOOTSTRAP create PARTITIONS TOPIC[:KEY=VALUE,...]...
 *   kafka_topics BOOTSTRAP delete TOPIC...
 *   kafka_topics BOOTSTRAP lag GROUP TOPIC   (prints the group's uncommitted
 *                                             messages of the topic in all)
 * A topic to create may carry topic configs: "runs-1:max.message.bytes=4194304". */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(rd_kafka_event_t *ev, const rd_kafka_topic_result_t **res, size_t n) {
  int failed = 0;
  if (!ev) {
    fprintf(stderr, "kafka_topics: no answer from the broker\n");
    return 1;
  }
  if (rd_kafka_event_error(ev)) {
    fprintf(stderr, "kafka_topics: %s\n", rd_kafka_event_error_string(ev));
    return 1;
  }
  for (size_t i = 0; i < n; i++) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
    if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS &&
        e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      fprintf(stderr, "kafka_topics: %s: %s\n", rd_kafka_topic_result_name(res[i]),
              rd_kafka_topic_result_error_string(res[i]));
      failed = 1;
    }
  }
  return failed;
}

/* The group's lag on the topic: the end offsets minus what it committed (a
 * partition it never committed counts from its low watermark). */
static int lag(const char *bootstrap, const char *group, const char *topic) {
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
  rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr));
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (!rk) {
    fprintf(stderr, "kafka_topics: %s\n", errstr);
    return 1;
  }
  rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  if (rd_kafka_metadata(rk, 0, t, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1) {
    fprintf(stderr, "kafka_topics: no metadata for %s\n", topic);
    return 1;
  }
  int n = md->topics[0].partition_cnt;
  rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
  for (int i = 0; i < n; i++)
    rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id);
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
  if (rd_kafka_committed(rk, parts, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fprintf(stderr, "kafka_topics: cannot read the committed offsets of %s\n", group);
    return 1;
  }
  long long total = 0;
  for (int i = 0; i < parts->cnt; i++) {
    int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic, parts->elems[i].partition, &low, &high,
                                         10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fprintf(stderr, "kafka_topics: no watermarks for %s[%d]\n", topic, parts->elems[i].partition);
      return 1;
    }
    int64_t committed = parts->elems[i].offset >= 0 ? parts->elems[i].offset : low;
    total += high - committed;
  }
  printf("%lld\n", total);
  rd_kafka_topic_partition_list_destroy(parts);
  rd_kafka_destroy(rk);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[2], "lag") == 0)
    return lag(argv[1], argv[3], argv[4]);
  if (argc < 4 || (strcmp(argv[2], "create") == 0 && argc < 5)) {
    fprintf(stderr, "usage: kafka_topics BOOTSTRAP create PARTITIONS TOPIC... | delete TOPIC... | "
                    "lag GROUP TOPIC\n");
    return 2;
  }
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr));
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (!rk) {
    fprintf(stderr, "kafka_topics: %s\n", errstr);
    return 1;
  }
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  int rc;
  if (strcmp(argv[2], "create") == 0) {
    int partitions = atoi(argv[3]);
    int n = argc - 4;
    rd_kafka_NewTopic_t **topics = calloc((size_t)n, sizeof(*topics));
    for (int i = 0; i < n; i++) {
      char *spec = strdup(argv[4 + i]);
      char *configs = strchr(spec, ':');
      if (configs)
        *configs++ = '\0';
      topics[i] = rd_kafka_NewTopic_new(spec, partitions, 1, errstr, sizeof(errstr));
      for (char *kv = configs ? strtok(configs, ",") : NULL; kv; kv = strtok(NULL, ",")) {
        char *eq = strchr(kv, '=');
        if (!eq) {
          fprintf(stderr, "kafka_topics: '%s': expected KEY=VALUE\n", kv);
          return 2;
        }
        *eq = '\0';
        rd_kafka_NewTopic_set_config(topics[i], kv, eq + 1);
      }
      free(spec);
    }
    rd_kafka_CreateTopics(rk, topics, (size_t)n, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **res =
        ev ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt)
           : NULL;
    rc = check(ev, res, cnt);
    if (ev)
      rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy_array(topics, (size_t)n);
    free(topics);
  } else {
    int n = argc - 3;
    rd_kafka_DeleteTopic_t **topics = calloc((size_t)n, sizeof(*topics));
    for (int i = 0; i < n; i++)
      topics[i] = rd_kafka_DeleteTopic_new(argv[3 + i]);
    rd_kafka_DeleteTopics(rk, topics, (size_t)n, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **res =
        ev ? rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &cnt)
           : NULL;
    rc = check(ev, res, cnt);
    if (ev)
      rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy_array(topics, (size_t)n);
    free(topics);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  return rc;
}

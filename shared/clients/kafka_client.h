/* librdkafka set-up shared by every command that talks to Kafka: the
 * configuration (kafka.* keys passed as they are), logging, and the metadata
 * checks `doctor` makes. */
#pragma once

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"

#include <librdkafka/rdkafka.h>

#define KAFKA_DEFAULT_BOOTSTRAP "127.0.0.1:9092"
/* Keys hashed as the Java clients hash them: a job's requests and events land
 * on the same partition whichever client produced them (librdkafka's own
 * default, CRC32, would not agree with a Java or kcat -X producer). */
#define KAFKA_PARTITIONER "murmur2_random"

/* A conf with every kafka.* key of cfg applied, bootstrap.servers defaulting
 * to KAFKA_DEFAULT_BOOTSTRAP, and librdkafka's log lines routed to a logger.
 * The client's opaque must point at a `const bw_logger *` (a struct whose
 * FIRST member is that pointer will do): `log_ref` is set as the opaque; a
 * caller that sets its own opaque keeps that layout. log_ref may be NULL
 * (librdkafka's lines are then dropped). */
int kafka_conf_new(const bw_config *cfg, const bw_logger *const *log_ref, rd_kafka_conf_t **out,
                   bw_error_t *err);
/* Sets one more property, failing with the property named. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, bw_error_t *err);
/* Creates a client; takes ownership of conf in every case. */
int kafka_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, rd_kafka_t **out,
                     bw_error_t *err);

typedef struct kafka_cluster_info {
  int broker_count;
  int32_t controller_id; /* -1 when unknown */
  char *cluster_id;      /* may be NULL */
} kafka_cluster_info;

/* Cluster metadata: brokers, and that each topic exists (partitions counted). */
int kafka_cluster_check(rd_kafka_t *rk, const char *const *topics, size_t topic_count,
                        int *partitions_out, kafka_cluster_info *info, long timeout_ms,
                        bw_error_t *err);
void kafka_cluster_info_free(kafka_cluster_info *info);

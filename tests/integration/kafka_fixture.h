/* What the Kafka integration tests share (test_kafka_publisher.c,
 * test_replay_run.c): reading back what a topic holds with a consumer of the
 * test's own, by assignment. Clients and topics are stack_env.h's
 * (stack_kafka_client, stack_topic_create, stack_topic_delete). */
#pragma once

#include "stack_env.h"

#include "core/cleanup.h"
#include "core/timeutil.h"

#include <librdkafka/rdkafka.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

enum { KAFKA_FIXTURE_PARTITIONS_MAX = 8 };

/* Where each of the topic's partitions ends now (its high watermark). */
static inline void kafka_ends(const char *topic, int partitions, int64_t *ends) {
  assert_true(partitions <= KAFKA_FIXTURE_PARTITIONS_MAX);
  rd_kafka_t *c = stack_kafka_client(RD_KAFKA_CONSUMER);
  for (int p = 0; p < partitions; p++) {
    int64_t lo = 0;
    assert_int_equal(rd_kafka_query_watermark_offsets(c, topic, p, &lo, &ends[p], 10000), 0);
  }
  rd_kafka_destroy(c);
}

/* What a topic held, and the consumer of the test's own that read it. */
typedef struct kafka_recs {
  rd_kafka_t *c;
  rd_kafka_message_t **m;
  size_t n;
} kafka_recs;

static inline void kafka_recs_free(kafka_recs *r) {
  for (size_t i = 0; i < r->n; i++)
    rd_kafka_message_destroy(r->m[i]);
  free(r->m);
  if (r->c) {
    rd_kafka_consumer_close(r->c);
    rd_kafka_destroy(r->c);
  }
}
#define cleanup_kafka_recs __attribute__((cleanup(kafka_recs_free)))

/* Everything the topic holds now from `from` (one offset per partition;
 * NULL: the first kept) to its end, each partition in order. */
static inline void kafka_read(const char *topic, int partitions, const int64_t *from,
                              kafka_recs *out) {
  assert_true(partitions <= KAFKA_FIXTURE_PARTITIONS_MAX);
  *out = (kafka_recs){stack_kafka_client(RD_KAFKA_CONSUMER), NULL, 0};
  int64_t lo = 0, hi[KAFKA_FIXTURE_PARTITIONS_MAX], left = 0;
  rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; p++) {
    assert_int_equal(rd_kafka_query_watermark_offsets(out->c, topic, p, &lo, &hi[p], 10000), 0);
    int64_t start = from ? from[p] : lo;
    rd_kafka_topic_partition_list_add(assign, topic, p)->offset = start;
    left += hi[p] - start;
  }
  assert_int_equal(rd_kafka_assign(out->c, assign), 0);
  rd_kafka_topic_partition_list_destroy(assign);
  out->m = bw_xcalloc((size_t)left + 1, sizeof(*out->m));
  for (int64_t end = bw_time_monotonic_ms() + 20000; left > 0 && bw_time_monotonic_ms() < end;) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(out->c, 200);
    if (m && !m->err && m->offset < hi[m->partition]) {
      out->m[out->n++] = m;
      left--;
    } else if (m)
      rd_kafka_message_destroy(m);
  }
  assert_int_equal(left, 0);
}

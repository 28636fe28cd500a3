/* Reading a time window of a topic without joining a consumer group: the
 * start offsets come from the broker's time index (offsets-for-times), and
 * each partition is read up to where it ended when the read began, so the
 * read ends by itself and never scans from the beginning of the topic.
 * Used by `replay`, which selects failed jobs by time. */
#pragma once

#include "core/config.h"
#include "core/error.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>

/* Called for each message whose timestamp is within [since_ms, until_ms];
 * return non-zero to stop the read early. */
typedef int (*topic_window_fn)(void *ctx, const rd_kafka_message_t *m);

/* A consumer for reading by assignment: it never joins a group (so it
 * cannot make the workers' group rebalance) and commits nothing. The group
 * id "bundle-worker-NAME-PID" only names it in the broker's logs. The end of
 * each partition is reported (RD_KAFKA_RESP_ERR__PARTITION_EOF). Its fetches
 * wait at most 10 ms at the broker for news (fetch.wait.max.ms), so a read or
 * fetch is not held behind the last one's. */
int topic_reader_new(const bw_config *cfg, const char *name, rd_kafka_t **out, bw_error_t *err);

/* Where a partition's messages are: [start, end). end is the high watermark
 * now; start is the first message at or after since_ms (since_ms > 0; end
 * when there is none), else the first the topic keeps. */
typedef struct topic_span {
  int32_t partition;
  int64_t start;
  int64_t end;
} topic_span;

/* Every partition of `topic`: a new array in *out (free()), *count entries.
 * BW_ERR_UNAVAILABLE when the broker or the topic cannot be reached. */
int topic_spans(rd_kafka_t *reader, const char *topic, int64_t since_ms, long timeout_ms,
                topic_span **out, int *count, bw_error_t *err);

/* since_ms <= 0: from the start of what the topic keeps; until_ms <= 0: up
 * to now. BW_ERR_UNAVAILABLE when the broker cannot be reached or the topic
 * does not exist. */
int topic_window_read(rd_kafka_t *reader, const char *topic, int64_t since_ms, int64_t until_ms,
                      long timeout_ms, topic_window_fn fn, void *ctx, bw_error_t *err);

/* What topic_window_fetch found at an offset. */
typedef enum topic_fetch_result {
  TOPIC_FETCH_FOUND,
  /* No longer kept: before the first offset the partition keeps (retention,
   * deleted records), or inside what it keeps but gone (compaction). */
  TOPIC_FETCH_REMOVED,
  /* Never written: at or past the partition's end (or negative). */
  TOPIC_FETCH_NEVER_WRITTEN,
  /* The topic, or that partition of it, does not exist (now). */
  TOPIC_FETCH_NO_PARTITION,
} topic_fetch_result;

/* The one message at topic/partition/offset in *out (the caller's:
 * rd_kafka_message_destroy), or *out = NULL when there is none; returns
 * which it is (a topic_fetch_result), or -1 when the broker did not answer
 * (BW_ERR_UNAVAILABLE, BW_ERR_TIMEOUT). */
int topic_window_fetch(rd_kafka_t *reader, const char *topic, int32_t partition, int64_t offset,
                       long timeout_ms, rd_kafka_message_t **out, bw_error_t *err);

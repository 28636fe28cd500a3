/* One replay (`bundle-worker replay`): the failed jobs of a time window read
 * from topic.events and topic.dlq, judged against their records in Redis
 * (replay.h), their original requests fetched and rewritten as the next
 * attempt, and sent to topic.runs. The command parses and prints. */
#pragma once

#include "clients/job_store.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "job/components.h"
#include "ops/replay.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct replay_request {
  const replay_filter *filter;
  int64_t since_ms;
  int64_t until_ms; /* 0: now */
  bool from_events;
  bool from_dlq;
  bool dry_run; /* judge and prepare, send nothing */
  const char *redis_prefix;
} replay_request;

typedef struct replay_outcome {
  replay_set set;      /* every candidate read; the matched ones were selected */
  size_t selected;     /* matched the filter */
  size_t to_send;      /* of those, judged to be sent (send true) */
  bool sent;           /* all of them went to topic.runs */
  size_t delivered;    /* how many of them the broker acknowledged (each says: delivered) */
  char *redis_problem; /* Redis could not be read: judged by the topics alone */
  /* The send failed: only `delivered` of them were acknowledged. One that
   * was not may still have arrived (the wait ended first); sending it again
   * is safe, as the same attempt runs once (replay.h). */
  char *send_problem;
} replay_outcome;

/* Reads, judges, prepares and (unless a dry run) sends. A dead letter that
 * does not carry the whole request (dlq.truncated) is judged by its original,
 * fetched from where its dlq.source.* headers say. Returns -1 when a topic
 * cannot be read (nothing judged); a failed send is not an error of this call
 * but out->send_problem. The caller frees out (replay_outcome_free). */
int replay_run(const bw_config *cfg, const bw_logger *log, const replay_request *rq,
               const component_registry *reg, replay_outcome *out, bw_error_t *err);
void replay_outcome_free(replay_outcome *out);

/* Reading topic.events as an onlooker (`submit --wait`, `watch`): a consumer
 * that is assigned every partition of the topic directly -- it never joins a
 * consumer group, so it cannot trigger a rebalance of the workers' group, and
 * it commits nothing. Events are parsed as they come. */
#pragma once

#include "core/config.h"
#include "core/error.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef enum event_follow_from {
  EVENT_FOLLOW_END,       /* what is sent from now on (the ends are read before returning) */
  EVENT_FOLLOW_BEGINNING, /* everything the topic still holds */
  EVENT_FOLLOW_SINCE,     /* the first event of each partition at or after since_epoch_ms */
} event_follow_from;

typedef struct event_follow event_follow;

/* Opens a follower of cfg->topic_events; fails (BW_ERR_UNAVAILABLE) when the
 * broker or the topic cannot be reached within a few seconds.
 * `client_name` tells the group id apart ("submit", "watch"). */
int event_follow_open(const bw_config *cfg, const char *client_name, event_follow_from from,
                      int64_t since_epoch_ms, event_follow **out, bw_error_t *err);
void event_follow_close(event_follow *f); /* accepts NULL */
/* How many partitions are followed. */
int event_follow_partitions(const event_follow *f);

/* Waits up to timeout_ms for the next event. 1: *ev_out is the parsed object
 * (owned by the follower: valid until the next call; NULL when the message
 * was not a JSON object) and *raw and *raw_len the message as it came (same
 * lifetime). 0: nothing within the time, or a message that was not an event
 * at all (a consumer notice). -1: a fatal consumer error. */
int event_follow_next(event_follow *f, int timeout_ms, const json_t **ev_out, const char **raw,
                      size_t *raw_len, bw_error_t *err);

/* At-least-once bookkeeping for consumed offsets. Per partition, the offsets
 * taken and not yet finished are kept; an offset may be committed only when
 * it and every offset before it are finished, so a commit never passes an
 * unfinished job of the same partition. Pure logic, no Kafka. Not
 * thread-safe: the worker's main loop owns it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct offset_tracker offset_tracker;

offset_tracker *offset_tracker_new(void);
void offset_tracker_free(offset_tracker *t);

/* A message was taken. Offsets of one partition arrive in increasing order. */
void offset_tracker_take(offset_tracker *t, const char *topic, int32_t partition, int64_t offset);
/* Its work is done (and its result acknowledged): it may be committed. */
void offset_tracker_done(offset_tracker *t, const char *topic, int32_t partition, int64_t offset);
/* The partition was revoked: forget it (nothing of it will be committed). */
void offset_tracker_forget(offset_tracker *t, const char *topic, int32_t partition);

/* Visits every partition whose committable offset moved since the last
 * visit; `next` is the offset to commit (the next one to read). */
typedef void (*offset_tracker_fn)(void *ctx, const char *topic, int32_t partition, int64_t next);
size_t offset_tracker_collect(offset_tracker *t, offset_tracker_fn fn, void *ctx);
/* Visits every partition that has a committable offset, moved or not: a
 * commit that failed (broker down) is made again this way. */
size_t offset_tracker_collect_all(offset_tracker *t, offset_tracker_fn fn, void *ctx);
/* Offsets taken and not done, in all partitions. */
size_t offset_tracker_pending(const offset_tracker *t);

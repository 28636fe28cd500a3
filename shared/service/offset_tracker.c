#include "service/offset_tracker.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

typedef struct pending_offset {
  int64_t offset;
  bool done;
} pending_offset;

typedef struct partition_state {
  char *topic;
  int32_t partition;
  pending_offset *items; /* increasing offsets; a queue from `head` */
  size_t head, count, cap;
  int64_t committable;    /* next offset to commit; -1 while nothing is */
  int64_t last_collected; /* what the last collect reported */
  bool live;
} partition_state;

struct offset_tracker {
  partition_state *parts;
  size_t count, cap;
};

offset_tracker *offset_tracker_new(void) {
  offset_tracker *t = bw_xcalloc(1, sizeof(*t));
  return t;
}

static void partition_clear(partition_state *p) {
  free(p->topic);
  free(p->items);
  memset(p, 0, sizeof(*p));
}

void offset_tracker_free(offset_tracker *t) {
  if (!t)
    return;
  for (size_t i = 0; i < t->count; i++)
    partition_clear(&t->parts[i]);
  free(t->parts);
  free(t);
}

static partition_state *find(offset_tracker *t, const char *topic, int32_t partition, bool create) {
  partition_state *free_slot = NULL;
  for (size_t i = 0; i < t->count; i++) {
    partition_state *p = &t->parts[i];
    if (p->live && p->partition == partition && strcmp(p->topic, topic) == 0)
      return p;
    if (!p->live && !free_slot)
      free_slot = p;
  }
  if (!create)
    return NULL;
  if (!free_slot) {
    if (t->count == t->cap) {
      t->cap = t->cap ? t->cap * 2 : 8;
      t->parts = bw_xrealloc(t->parts, t->cap * sizeof(*t->parts));
    }
    free_slot = &t->parts[t->count++];
    memset(free_slot, 0, sizeof(*free_slot));
  }
  free_slot->topic = bw_strdup(topic);
  free_slot->partition = partition;
  free_slot->committable = -1;
  free_slot->last_collected = -1;
  free_slot->live = true;
  return free_slot;
}

void offset_tracker_take(offset_tracker *t, const char *topic, int32_t partition, int64_t offset) {
  partition_state *p = find(t, topic, partition, true);
  if (p->head > 0 && p->head == p->count) {
    p->head = p->count = 0; /* queue drained: start over at the front */
  }
  if (p->count == p->cap) {
    /* Compact before growing: the finished front is never looked at again. */
    if (p->head > 0) {
      memmove(p->items, p->items + p->head, (p->count - p->head) * sizeof(*p->items));
      p->count -= p->head;
      p->head = 0;
    }
    if (p->count == p->cap) {
      p->cap = p->cap ? p->cap * 2 : 16;
      p->items = bw_xrealloc(p->items, p->cap * sizeof(*p->items));
    }
  }
  p->items[p->count++] = (pending_offset){.offset = offset, .done = false};
}

void offset_tracker_done(offset_tracker *t, const char *topic, int32_t partition, int64_t offset) {
  partition_state *p = find(t, topic, partition, false);
  if (!p)
    return; /* revoked meanwhile: not ours to commit */
  for (size_t i = p->head; i < p->count; i++) {
    if (p->items[i].offset == offset && !p->items[i].done) {
      p->items[i].done = true;
      break;
    }
  }
  /* Advance over the finished front. */
  while (p->head < p->count && p->items[p->head].done) {
    p->committable = p->items[p->head].offset + 1;
    p->head++;
  }
}

void offset_tracker_forget(offset_tracker *t, const char *topic, int32_t partition) {
  partition_state *p = find(t, topic, partition, false);
  if (p)
    partition_clear(p);
}

size_t offset_tracker_collect(offset_tracker *t, offset_tracker_fn fn, void *ctx) {
  size_t n = 0;
  for (size_t i = 0; i < t->count; i++) {
    partition_state *p = &t->parts[i];
    if (!p->live || p->committable < 0 || p->committable == p->last_collected)
      continue;
    fn(ctx, p->topic, p->partition, p->committable);
    p->last_collected = p->committable;
    n++;
  }
  return n;
}

size_t offset_tracker_collect_all(offset_tracker *t, offset_tracker_fn fn, void *ctx) {
  for (size_t i = 0; i < t->count; i++)
    t->parts[i].last_collected = -1;
  return offset_tracker_collect(t, fn, ctx);
}

size_t offset_tracker_pending(const offset_tracker *t) {
  size_t n = 0;
  for (size_t i = 0; i < t->count; i++) {
    const partition_state *p = &t->parts[i];
    if (!p->live)
      continue;
    for (size_t j = p->head; j < p->count; j++)
      n += !p->items[j].done;
  }
  return n;
}

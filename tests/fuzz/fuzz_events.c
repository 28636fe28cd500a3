/* libFuzzer target for what `watch` and `replay` read from Kafka and Redis:
 * events (shared/ops/fleet_view.c, shared/ops/replay.c), heartbeats
 * (fleet_worker_from_json), dead-lettered bytes and the time points people
 * type (bw_time_parse_point). Input: one JSON document, or any bytes. Nothing
 * may crash, leak or render a line wider than asked. */
#include "ops/fleet_render.h"
#include "ops/fleet_view.h"
#include "ops/replay.h"
#include "core/timeutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_MS 1795836000000LL

static void view(const json_t *doc) {
  fleet_view *fv = fleet_view_new("events", 0);
  fleet_view_event(fv, doc, NOW_MS);
  fleet_view_event(fv, doc, NOW_MS + 1000); /* the same event twice */
  fleet_worker *ws = calloc(1, sizeof(*ws));
  if (!ws)
    abort();
  size_t n = fleet_worker_from_json(doc, NOW_MS, ws) ? 1 : 0;
  fleet_view_set_workers(fv, ws, n, NOW_MS);
  static const int widths[] = {1, 20, 80, 200};
  for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
    char *frame = fleet_view_render(fv, widths[i], 30, NOW_MS + 2000);
    for (char *line = frame; line && *line;) {
      char *end = strchr(line, '\n');
      size_t len = end ? (size_t)(end - line) : strlen(line);
      if (len > (size_t)widths[i])
        abort();
      line = end ? end + 1 : line + len;
    }
    free(frame);
  }
  fleet_view_free(fv);
}

static void replay(const json_t *doc, const uint8_t *data, size_t size) {
  replay_filter f = {.statuses = replay_default_statuses()};
  replay_set set = {0};
  replay_set_add_finished(&set, &f, doc, 1);
  replay_dead_letter keyed = {"key", (const char *)data, size, "reason", "dlq", 0, 7, 2, NULL};
  replay_dead_letter keyless = keyed;
  keyless.key = NULL;
  keyless.offset = 8;
  replay_set_add_dead_letter(&set, &f, &keyed);
  replay_set_add_dead_letter(&set, &f, &keyless);
  for (size_t i = 0; i < set.count; i++) {
    replay_judge(&set.items[i], doc);
    if (!set.items[i].send && !set.items[i].why) /* a skip always says why */
      abort();
  }
  replay_set_free(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *doc = json_loadb((const char *)data, size, 0, NULL);
  if (json_is_object(doc))
    view(doc);
  replay(doc, data, size);
  json_decref(doc);
  char *text = malloc(size + 1);
  if (!text)
    abort();
  memcpy(text, data, size);
  text[size] = '\0';
  int64_t ms = 0;
  bw_error_t err = NULL;
  bw_time_parse_point(text, NOW_MS, &ms, &err);
  bw_error_release(&err);
  fleet_parse_rfc3339(text, &ms);
  free(text);
  return 0;
}

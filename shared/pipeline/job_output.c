#include "pipeline/job_output.h"

#include "core/utf8.h"

#include <stdlib.h>

/* After the budget: one job.log event per (piece of a) line. */
static void emit_line(void *ctx, int stream, const char *line, size_t len, bool cut) {
  job_output *o = ctx;
  json_t *ev = event_new(o->events, "job.log");
  json_object_set_new(ev, "stream", json_string(stream == LOG_STREAM_STDERR ? "stderr" : "stdout"));
  /* Output that is not UTF-8 is still shown: bad bytes become U+FFFD and
   * the rest stays as printed. NUL bytes are kept (JSON writes \u0000). */
  json_t *text = json_stringn(line, len);
  if (!text) {
    size_t n = 0;
    char *valid = bw_utf8_sanitize(line, len, false, &n);
    text = json_stringn(valid, n);
    free(valid);
  }
  json_object_set_new(ev, "line", text ? text : json_string(""));
  if (cut)
    json_object_set_new(ev, "cut", json_true());
  event_emit(o->events, ev);
}

static void emit_trimmed(void *ctx, uint64_t bytes_dropped, uint64_t lines_dropped) {
  job_output *o = ctx;
  json_t *ev = event_new(o->events, "job.log.trimmed");
  json_object_set_new(ev, "bytes_dropped", json_integer((json_int_t)bytes_dropped));
  json_object_set_new(ev, "lines_dropped", json_integer((json_int_t)lines_dropped));
  json_object_set_new(ev, "message",
                      json_string("[trimmed] the middle of the output was dropped: the job "
                                  "printed more than its log budget (jobs.log.max.bytes)"));
  event_emit(o->events, ev);
}

/* Every assembled, masked line: remembered for messages, then budgeted. */
static void on_line(void *ctx, int stream, const char *line, size_t len, bool cut) {
  job_output *o = ctx;
  log_tail_add(&o->tail, stream == LOG_STREAM_STDERR ? 1 : 0, line, len, cut);
  log_budget_line(&o->budget, stream, line, len, cut);
}

void job_output_init(job_output *o, bool tty, size_t max_line_bytes, size_t max_log_bytes,
                     const masker *mask, const job_events *events) {
  o->events = events;
  log_tail_init(&o->tail);
  log_stream_init(&o->stream, tty, max_line_bytes ? max_line_bytes : JOB_OUTPUT_MAX_LINE, mask,
                  on_line, o);
  log_budget_init(&o->budget, max_log_bytes, emit_line, emit_trimmed, o);
}

int job_output_feed(job_output *o, const char *bytes, size_t len, bw_error_t *err) {
  return log_stream_feed(&o->stream, bytes, len, err);
}

void job_output_finish(job_output *o) {
  log_stream_finish(&o->stream);
  log_tail_flush(&o->tail); /* a cut line whose end never came */
  log_budget_finish(&o->budget);
}

void job_output_free(job_output *o) {
  if (!o)
    return;
  log_stream_free(&o->stream);
  log_budget_free(&o->budget);
}

char *job_output_tail_text(const job_output *o) {
  return bw_utf8_sanitize(log_tail_text(&o->tail), log_tail_len(&o->tail), true, NULL);
}

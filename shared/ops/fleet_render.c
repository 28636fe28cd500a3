/* fleet_view_render: the frame of `bundle-worker watch` as plain text. Every
 * line is cut to the terminal's width and made of printable ASCII only, so a
 * byte is a column and nothing ever wraps; tables give up width in steps:
 * columns shrink to a readable minimum, then the least useful ones go, then
 * the rest shrink further. */
#include "ops/fleet_render.h"
#include "ops/fleet_view.h"

#include "core/buffer.h"
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GAP 2
#define MAX_COLS 8
#define FLOOR_WIDTH 3

typedef struct column {
  const char *title;
  int width; /* at most (a longer cell is cut) */
  int min;   /* readable: columns shrink to this before any is dropped */
  int drop;  /* 0: always shown; the highest goes first when width runs short */
  bool right;
  bool grow; /* also takes what width is left */
} column;

typedef struct table {
  const column *cols;
  int n;
  char **cells; /* rows x n, sanitised */
  int rows;
  int wanted[MAX_COLS]; /* the longest cell or title, up to the column's width */
  int width[MAX_COLS];
  bool shown[MAX_COLS];
} table;

static const column worker_cols[] = {
    {"WORKER", 32, 8, 0, false, false}, {"HOST", 24, 6, 3, false, false},
    {"BUSY", 5, 4, 0, true, false},     {"SEEN", 6, 5, 1, true, false},
    {"UP", 7, 6, 4, true, false},       {"JOBS", 6, 4, 5, true, false},
    {"VERSION", 10, 5, 6, false, false}};
static const column running_cols[] = {
    {"JOB", 48, 12, 0, false, false},   {"COMPONENT", 24, 10, 2, false, false},
    {"PHASE", 8, 5, 1, false, false},   {"ELAPSED", 8, 7, 0, true, false},
    {"WORKER", 24, 6, 3, false, false}, {"TRY", 3, 3, 4, true, false}};
static const column finish_cols[] = {
    {"JOB", 48, 12, 0, false, false},    {"STATUS", 17, 10, 0, false, false},
    {"EXIT", 4, 4, 4, true, false},      {"TOOK", 7, 6, 2, true, false},
    {"AGO", 7, 6, 3, true, false},       {"WORKER", 24, 6, 6, false, false},
    {"MESSAGE", 200, 20, 7, false, true}};

/* ---- text ---- */

/* Printable ASCII only: a control character becomes a space, a UTF-8
 * sequence one '?'. */
static char *sanitize(const char *s) {
  size_t len = s ? strlen(s) : 0;
  char *out = bw_xmalloc(len + 1);
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x80 && c < 0xc0)
      continue; /* continuation byte: its lead byte was replaced already */
    out[o++] = c >= 0xc0 ? '?' : (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
  }
  out[o] = '\0';
  return out;
}

/* "0.4s", "12s", "3m04s", "2h05m", "3d04h". */
static void fmt_duration(int64_t ms, char *out, size_t size) {
  if (ms < 0)
    ms = 0;
  int64_t s = ms / 1000;
  if (ms < 10000)
    snprintf(out, size, "%.1fs", (double)ms / 1000.0);
  else if (s < 60)
    snprintf(out, size, "%llds", (long long)s);
  else if (s < 3600)
    snprintf(out, size, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  else if (s < 86400)
    snprintf(out, size, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else
    snprintf(out, size, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

/* Appends `text` (sanitised) in a cell of `width`, cut with '~' when longer. */
static void cell(bw_buffer *line, const char *text, int width, bool right) {
  char *clean = sanitize(text ? text : "");
  int len = (int)strlen(clean);
  if (len > width) {
    if (width > 1)
      clean[width - 1] = '~';
    clean[width] = '\0';
    len = width;
  }
  int pad = width - len;
  for (int i = 0; right && i < pad; i++)
    bw_buffer_append(line, " ", 1);
  bw_buffer_append(line, clean, (size_t)len);
  for (int i = 0; !right && i < pad; i++)
    bw_buffer_append(line, " ", 1);
  free(clean);
}

/* ---- tables ---- */

static void table_init(table *t, const column *cols, int n) {
  memset(t, 0, sizeof(*t));
  t->cols = cols;
  t->n = n;
  for (int i = 0; i < n; i++)
    t->wanted[i] = (int)strlen(cols[i].title);
}

static void table_free(table *t) {
  for (int i = 0; i < t->rows * t->n; i++)
    free(t->cells[i]);
  free(t->cells);
}

/* One row: `cells[i]` for column i (NULL: empty). */
static void table_add(table *t, const char *const *cells) {
  char **grown = bw_xrealloc(t->cells, (size_t)(t->rows + 1) * (size_t)t->n * sizeof(char *));
  t->cells = grown;
  for (int i = 0; i < t->n; i++) {
    char *c = sanitize(cells[i]);
    int len = (int)strlen(c);
    int cap = t->cols[i].width;
    if (len > t->wanted[i])
      t->wanted[i] = len < cap ? len : cap;
    t->cells[t->rows * t->n + i] = c;
  }
  t->rows++;
}

static int table_total(const table *t) {
  int total = 0, shown = 0;
  for (int i = 0; i < t->n; i++)
    if (t->shown[i]) {
      total += t->width[i];
      shown++;
    }
  return total + (shown > 1 ? (shown - 1) * GAP : 0);
}

/* Takes up to `excess` columns from the shown columns, the rightmost first,
 * down to their readable minimum (or to FLOOR_WIDTH); returns what is left. */
static int shrink(table *t, int excess, bool to_floor) {
  for (int i = t->n - 1; i >= 0 && excess > 0; i--) {
    if (!t->shown[i])
      continue;
    int floor = to_floor ? FLOOR_WIDTH : t->cols[i].min;
    int give = t->width[i] - floor;
    if (give <= 0)
      continue;
    if (give > excess)
      give = excess;
    t->width[i] -= give;
    excess -= give;
  }
  return excess;
}

static void table_layout(table *t, int avail) {
  for (int i = 0; i < t->n; i++) {
    t->width[i] = t->wanted[i];
    t->shown[i] = true;
  }
  while (table_total(t) > avail) {
    if (shrink(t, table_total(t) - avail, false) == 0)
      break;
    int worst = -1;
    for (int i = 0; i < t->n; i++)
      if (t->shown[i] && t->cols[i].drop > 0 &&
          (worst < 0 || t->cols[i].drop > t->cols[worst].drop))
        worst = i;
    if (worst < 0) {
      shrink(t, table_total(t) - avail, true);
      break;
    }
    t->shown[worst] = false;
    /* Dropping may have freed more than needed: start again from the wanted widths. */
    for (int i = 0; i < t->n; i++)
      t->width[i] = t->wanted[i];
  }
  int spare = avail - table_total(t);
  for (int i = 0; i < t->n && spare > 0; i++)
    if (t->shown[i] && t->cols[i].grow)
      t->width[i] += spare;
}

static void table_line(const table *t, bw_buffer *line, char *const *cells) {
  bool first = true;
  for (int i = 0; i < t->n; i++) {
    if (!t->shown[i])
      continue;
    if (!first)
      bw_buffer_append(line, "  ", GAP);
    first = false;
    cell(line, cells[i], t->width[i], t->cols[i].right);
  }
}

/* ---- the frame ---- */

typedef struct frame {
  char **lines;
  int n, height, width;
} frame;

/* Adds a line (cut to the width, trailing spaces dropped); takes `b`'s text. */
static void frame_add(frame *f, bw_buffer *b) {
  if (f->n >= f->height) {
    bw_buffer_free(b);
    return;
  }
  char *text = b->data ? b->data : bw_strdup("");
  size_t len = b->data ? b->len : 0;
  if (len > (size_t)f->width)
    len = (size_t)f->width;
  while (len > 0 && text[len - 1] == ' ')
    len--;
  text[len] = '\0';
  f->lines[f->n++] = text;
  b->data = NULL;
  bw_buffer_init(b, 0);
}

static void frame_text(frame *f, const char *text) {
  bw_buffer b;
  bw_buffer_init(&b, 0);
  char *clean = sanitize(text);
  bw_buffer_append(&b, clean, strlen(clean));
  free(clean);
  frame_add(f, &b);
}

/* The first line: the full form when it fits, else the figures alone. */
static void summary_line(frame *f, const fleet_view *fv, int64_t now_ms) {
  const fleet_job *jobs;
  const fleet_worker *ws;
  size_t running = fleet_view_running(fv, &jobs);
  size_t workers = fleet_view_workers(fv, &ws, NULL);
  long total = fleet_view_finished_total(fv, NULL);
  long ok = fleet_view_finished_total(fv, "success");
  double rate = fleet_view_jobs_per_minute(fv, now_ms);
  time_t secs = (time_t)(now_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char clock[16];
  strftime(clock, sizeof(clock), "%H:%M:%SZ", &tm);
  char *line =
      bw_strdup_printf("bundle-worker watch  %s  %s  workers %zu  running %zu  "
                       "%.1f jobs/min  finished %ld (%ld ok, %ld not)  q quits",
                       fleet_view_title(fv), clock, workers, running, rate, total, ok, total - ok);
  if (strlen(line) > (size_t)f->width) {
    free(line);
    line = bw_strdup_printf("workers %zu  running %zu  %.1f/min  done %ld (%ld not ok)", workers,
                            running, rate, total, total - ok);
  }
  frame_text(f, line);
  free(line);
}

enum { SEC_WORKERS, SEC_RUNNING, SEC_FINISHES, SEC_COUNT };

typedef struct section {
  const char *title;
  size_t items;
  int rows; /* item lines given (the last may say "... N more") */
  bool shown;
} section;

/* Lines for each section: each gets its title (and header and first row
 * when it has items), in the order running, workers, finishes; then the
 * remaining lines go one at a time to the sections that want more. */
static int allocate(section *s, int avail) {
  static const int priority[SEC_COUNT] = {SEC_RUNNING, SEC_WORKERS, SEC_FINISHES};
  for (int k = 0; k < SEC_COUNT; k++) {
    section *x = &s[priority[k]];
    int need = x->items == 0 ? 1 : 3;
    if (avail >= need) {
      x->shown = true;
      x->rows = x->items == 0 ? 0 : 1;
      avail -= need;
    } else if (avail >= 1) {
      x->shown = true; /* the title only */
      avail -= 1;
    }
  }
  for (bool more = true; more && avail > 0;) {
    more = false;
    for (int k = 0; k < SEC_COUNT && avail > 0; k++) {
      section *x = &s[priority[k]];
      if (x->shown && x->rows >= 1 && (size_t)x->rows < x->items) {
        x->rows++;
        avail--;
        more = true;
      }
    }
  }
  return avail;
}

static void section_title(frame *f, const section *s, const char *extra) {
  char *line = s->items == 0 ? bw_strdup_printf("%s: none%s", s->title, extra)
                             : bw_strdup_printf("%s (%zu%s)", s->title, s->items, extra);
  frame_text(f, line);
  free(line);
}

/* How many items a section lists in its rows: all when they fit, else one
 * row less than it has, for the "... N more" line. */
static int listed(const section *s) {
  if ((size_t)s->rows >= s->items)
    return (int)s->items;
  return s->rows >= 2 ? s->rows - 1 : s->rows;
}

/* The header, the rows and what did not fit. */
static void table_emit(frame *f, table *t, const section *s) {
  table_layout(t, f->width);
  bw_buffer b;
  bw_buffer_init(&b, 0);
  char *titles[MAX_COLS];
  for (int i = 0; i < t->n; i++)
    titles[i] = (char *)t->cols[i].title;
  table_line(t, &b, titles);
  frame_add(f, &b);
  for (int r = 0; r < t->rows; r++) {
    table_line(t, &b, &t->cells[r * t->n]);
    frame_add(f, &b);
  }
  if ((size_t)t->rows < s->items && s->rows >= 2) {
    char *line = bw_strdup_printf("  ... %zu more", s->items - (size_t)t->rows);
    frame_text(f, line);
    free(line);
  }
  table_free(t);
}

static void workers_section(frame *f, const fleet_view *fv, const section *s, int64_t now_ms) {
  bool have = false;
  const fleet_worker *ws;
  fleet_view_workers(fv, &ws, &have);
  long busy_total = 0, slots = 0;
  for (size_t i = 0; i < s->items; i++) {
    busy_total += ws[i].busy;
    slots += ws[i].slots;
  }
  char *extra = have ? bw_strdup_printf(", %ld of %ld slots busy", busy_total, slots)
                     : bw_strdup(" (no heartbeat read yet)");
  section_title(f, s, s->items || !have ? extra : "");
  free(extra);
  if (s->rows == 0)
    return;
  table t;
  table_init(&t, worker_cols, (int)(sizeof(worker_cols) / sizeof(worker_cols[0])));
  for (int i = 0; i < listed(s); i++) {
    const fleet_worker *w = &ws[i];
    char busy[48], seen[16], up[16] = "", jobs[24];
    snprintf(busy, sizeof(busy), "%ld/%ld", w->busy, w->slots);
    fmt_duration(now_ms - w->last_seen_ms, seen, sizeof(seen));
    if (w->started_ms > 0)
      fmt_duration(now_ms - w->started_ms, up, sizeof(up));
    snprintf(jobs, sizeof(jobs), "%ld", w->jobs_started);
    const char *cells[] = {w->id, w->host, busy, seen, up, jobs, w->version};
    table_add(&t, cells);
  }
  table_emit(f, &t, s);
}

static int by_start(const void *a, const void *b) {
  const fleet_job *x = *(const fleet_job *const *)a, *y = *(const fleet_job *const *)b;
  if (x->start_ms != y->start_ms)
    return x->start_ms < y->start_ms ? -1 : 1;
  return strcmp(x->job_id, y->job_id);
}

static void running_section(frame *f, const fleet_view *fv, const section *s, int64_t now_ms) {
  section_title(f, s, "");
  if (s->rows == 0)
    return;
  const fleet_job *jobs;
  size_t n = fleet_view_running(fv, &jobs);
  /* The longest-running first, as top shows the busiest first. */
  const fleet_job **sorted = bw_xcalloc(n + 1, sizeof(*sorted));
  for (size_t i = 0; i < n; i++)
    sorted[i] = &jobs[i];
  qsort(sorted, n, sizeof(*sorted), by_start);
  table t;
  table_init(&t, running_cols, (int)(sizeof(running_cols) / sizeof(running_cols[0])));
  for (int i = 0; i < listed(s); i++) {
    const fleet_job *j = sorted[i];
    char elapsed[24] = "?", attempt[24];
    if (!j->heartbeat_only) {
      fmt_duration(now_ms - j->start_ms, elapsed, sizeof(elapsed));
      if (!j->start_known)
        strcat(elapsed, "+"); /* began before we looked: at least this long */
    }
    snprintf(attempt, sizeof(attempt), "%ld", j->attempt > 0 ? j->attempt : 1);
    const char *cells[] = {j->job_id, j->component ? j->component : "?", j->phase,
                           elapsed,   j->worker ? j->worker : "?",       attempt};
    table_add(&t, cells);
  }
  free(sorted);
  table_emit(f, &t, s);
}

static void finishes_section(frame *f, const fleet_view *fv, const section *s, int64_t now_ms) {
  section_title(f, s, s->items ? ", newest first" : "");
  if (s->rows == 0)
    return;
  table t;
  table_init(&t, finish_cols, (int)(sizeof(finish_cols) / sizeof(finish_cols[0])));
  for (int i = 0; i < listed(s); i++) {
    const fleet_finish *x = fleet_view_finish_at(fv, (size_t)i);
    char code[24] = "", took[16] = "", ago[16];
    if (x->exit_code >= 0)
      snprintf(code, sizeof(code), "%ld", x->exit_code);
    if (x->duration_ms >= 0)
      fmt_duration(x->duration_ms, took, sizeof(took));
    fmt_duration(now_ms - x->end_ms, ago, sizeof(ago));
    const char *cells[] = {x->job_id, x->status, code, took, ago, x->worker, x->message};
    table_add(&t, cells);
  }
  table_emit(f, &t, s);
}

char *fleet_view_render(const fleet_view *fv, int width, int height, int64_t now_ms) {
  if (width < 1)
    width = 1;
  if (height < 1)
    height = 1;
  frame f = {.lines = bw_xcalloc((size_t)height, sizeof(char *)), .height = height, .width = width};
  summary_line(&f, fv, now_ms);
  if (fleet_view_notice(fv))
    frame_text(&f, fleet_view_notice(fv));

  const fleet_job *jobs;
  const fleet_worker *ws;
  section s[SEC_COUNT] = {
      [SEC_WORKERS] = {.title = "WORKERS", .items = fleet_view_workers(fv, &ws, NULL)},
      [SEC_RUNNING] = {.title = "RUNNING", .items = fleet_view_running(fv, &jobs)},
      [SEC_FINISHES] = {.title = "RECENT FINISHES", .items = fleet_view_finish_count(fv)},
  };
  int spare = allocate(s, height - f.n);
  int shown = 0;
  for (int i = 0; i < SEC_COUNT; i++)
    shown += s[i].shown;
  bool gaps = shown > 1 && spare >= shown - 1;
  bool first = true;
  for (int i = 0; i < SEC_COUNT; i++) {
    if (!s[i].shown)
      continue;
    if (gaps && !first)
      frame_text(&f, "");
    first = false;
    if (i == SEC_WORKERS)
      workers_section(&f, fv, &s[i], now_ms);
    else if (i == SEC_RUNNING)
      running_section(&f, fv, &s[i], now_ms);
    else
      finishes_section(&f, fv, &s[i], now_ms);
  }

  bw_buffer out;
  bw_buffer_init(&out, 0);
  for (int i = 0; i < f.n; i++) {
    if (i > 0)
      bw_buffer_append(&out, "\n", 1);
    bw_buffer_append(&out, f.lines[i], strlen(f.lines[i]));
    free(f.lines[i]);
  }
  free(f.lines);
  return out.data ? out.data : bw_strdup("");
}

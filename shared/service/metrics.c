#include "service/metrics.h"

#include "core/error.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

typedef struct series {
  char **values;     /* one per label name */
  double value;      /* counter, gauge */
  uint64_t *buckets; /* histogram: observations per bucket (not cumulative); +Inf last */
  uint64_t count;
  double sum;
} series;

struct metric {
  metrics_registry *reg;
  metric_type type;
  const char *name;
  const char *help;
  const char *const *labels; /* NULL-ended; single_label points into it */
  const char *single_label[2];
  size_t label_count;
  bool table;
  double *bounds;
  size_t bound_count;
  series *series;
  size_t series_count;
  metric *next;
};

struct metrics_registry {
  pthread_mutex_t lock; /* one lock: updates are rare and tiny, scrapes cheap */
  metric *first;
  metric *last;
};

static void *xcalloc(size_t n, size_t size) {
  void *p = bw_xcalloc(n ? n : 1, size);
  return p;
}

metrics_registry *metrics_registry_new(void) {
  metrics_registry *reg = xcalloc(1, sizeof(*reg));
  pthread_mutex_init(&reg->lock, NULL);
  return reg;
}

static void series_clear(const metric *m, series *s) {
  for (size_t i = 0; i < m->label_count; i++)
    free(s->values[i]);
  free(s->values);
  free(s->buckets);
  memset(s, 0, sizeof(*s));
}

static void series_clear_all(metric *m) {
  for (size_t i = 0; i < m->series_count; i++)
    series_clear(m, &m->series[i]);
  free(m->series);
  m->series = NULL;
  m->series_count = 0;
}

void metrics_registry_free(metrics_registry *reg) {
  if (!reg)
    return;
  for (metric *m = reg->first, *next; m; m = next) {
    next = m->next;
    series_clear_all(m);
    free(m->bounds);
    free(m);
  }
  pthread_mutex_destroy(&reg->lock);
  free(reg);
}

/* Names are the program's own literals: a bad one is a bug, caught by the tests. */
static bool name_valid(const char *s, bool colon) {
  if (!s || !*s || isdigit((unsigned char)*s))
    return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_' && !(colon && *s == ':'))
      return false;
  return true;
}

static void series_init(metric *m, series *s, const char *const *values) {
  s->values = xcalloc(m->label_count, sizeof(char *));
  for (size_t i = 0; i < m->label_count; i++)
    s->values[i] = bw_strdup(values[i]);
  if (m->type == METRIC_HISTOGRAM)
    s->buckets = xcalloc(m->bound_count + 1, sizeof(uint64_t));
}

static metric *family_add(metrics_registry *reg, metric_type type, const char *name,
                          const char *help, const char *label, const char *const *values,
                          const double *bounds, size_t bound_count) {
  if (!name_valid(name, true) || (label && (!name_valid(label, false) || !values)) ||
      (type == METRIC_HISTOGRAM && label && strcmp(label, "le") == 0))
    abort();
  for (size_t i = 1; i < bound_count; i++)
    if (!(bounds[i] > bounds[i - 1]))
      abort();
  metric *m = xcalloc(1, sizeof(*m));
  m->reg = reg;
  m->type = type;
  m->name = name;
  m->help = help;
  m->single_label[0] = label;
  m->labels = m->single_label;
  m->label_count = label ? 1 : 0;
  if (bound_count) {
    m->bounds = xcalloc(bound_count, sizeof(double));
    memcpy(m->bounds, bounds, bound_count * sizeof(double));
    m->bound_count = bound_count;
  }
  size_t n = 1;
  if (label)
    for (n = 0; values[n]; n++)
      ;
  m->series = xcalloc(n, sizeof(series));
  m->series_count = n;
  for (size_t i = 0; i < n; i++)
    series_init(m, &m->series[i], label ? &values[i] : NULL);
  pthread_mutex_lock(&reg->lock);
  if (reg->last)
    reg->last->next = m;
  else
    reg->first = m;
  reg->last = m;
  pthread_mutex_unlock(&reg->lock);
  return m;
}

metric *metrics_counter(metrics_registry *reg, const char *name, const char *help,
                        const char *label, const char *const *values) {
  return family_add(reg, METRIC_COUNTER, name, help, label, values, NULL, 0);
}

metric *metrics_gauge(metrics_registry *reg, const char *name, const char *help, const char *label,
                      const char *const *values) {
  return family_add(reg, METRIC_GAUGE, name, help, label, values, NULL, 0);
}

metric *metrics_histogram(metrics_registry *reg, const char *name, const char *help,
                          const char *label, const char *const *values, const double *bounds,
                          size_t bound_count) {
  return family_add(reg, METRIC_HISTOGRAM, name, help, label, values, bounds, bound_count);
}

metric *metrics_gauge_table(metrics_registry *reg, const char *name, const char *help,
                            const char *const *labels) {
  metric *m = family_add(reg, METRIC_GAUGE, name, help, NULL, NULL, NULL, 0);
  pthread_mutex_lock(&reg->lock);
  series_clear_all(m);
  m->table = true;
  m->labels = labels;
  for (m->label_count = 0; labels[m->label_count]; m->label_count++)
    if (!name_valid(labels[m->label_count], false))
      abort();
  pthread_mutex_unlock(&reg->lock);
  return m;
}

int metric_series(const metric *m, const char *value) {
  if (m->table || m->label_count == 0)
    return -1;
  for (size_t i = 0; i < m->series_count; i++)
    if (strcmp(m->series[i].values[0], value) == 0)
      return (int)i;
  return -1;
}

/* The series to update, or NULL (a wrong index is ignored, not a crash). */
static series *series_at(metric *m, int index, metric_type type) {
  if (!m || m->table || m->type != type || index < 0 || (size_t)index >= m->series_count)
    return NULL;
  return &m->series[index];
}

void metric_add(metric *m, int index, double amount) {
  series *s = series_at(m, index, m && m->type == METRIC_GAUGE ? METRIC_GAUGE : METRIC_COUNTER);
  if (!s || isnan(amount) || (m->type == METRIC_COUNTER && amount < 0))
    return;
  pthread_mutex_lock(&m->reg->lock);
  s->value += amount;
  pthread_mutex_unlock(&m->reg->lock);
}

void metric_set(metric *m, int index, double value) {
  series *s = series_at(m, index, METRIC_GAUGE);
  if (!s)
    return;
  pthread_mutex_lock(&m->reg->lock);
  s->value = value;
  pthread_mutex_unlock(&m->reg->lock);
}

void metric_observe(metric *m, int index, double value) {
  series *s = series_at(m, index, METRIC_HISTOGRAM);
  if (!s || isnan(value))
    return;
  size_t b = 0;
  while (b < m->bound_count && value > m->bounds[b])
    b++;
  pthread_mutex_lock(&m->reg->lock);
  s->buckets[b]++;
  s->count++;
  s->sum += value;
  pthread_mutex_unlock(&m->reg->lock);
}

void metric_table_replace(metric *m, const metric_row *rows, size_t count) {
  if (!m || !m->table)
    return;
  series *fresh = xcalloc(count, sizeof(series));
  for (size_t i = 0; i < count; i++) {
    series_init(m, &fresh[i], rows[i].values);
    fresh[i].value = rows[i].value;
  }
  pthread_mutex_lock(&m->reg->lock);
  series *old = m->series;
  size_t old_count = m->series_count;
  m->series = fresh;
  m->series_count = count;
  pthread_mutex_unlock(&m->reg->lock);
  for (size_t i = 0; i < old_count; i++)
    series_clear(m, &old[i]);
  free(old);
}

/* ---- rendering ------------------------------------------------------------ */

/* Label values escape \, " and newline; HELP texts \ and newline. */
static void write_escaped(FILE *out, const char *text, bool help) {
  for (const char *p = text ? text : ""; *p; p++) {
    if (*p == '\\')
      fputs("\\\\", out);
    else if (*p == '\n')
      fputs("\\n", out);
    else if (*p == '"' && !help)
      fputs("\\\"", out);
    else
      fputc(*p, out);
  }
}

/* The shortest text that reads back as the same double. */
static void write_value(FILE *out, double v) {
  if (isnan(v)) {
    fputs("NaN", out);
    return;
  }
  if (isinf(v)) {
    fputs(v > 0 ? "+Inf" : "-Inf", out);
    return;
  }
  char buf[40];
  for (int precision = 15; precision <= 17; precision++) {
    snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  fputs(buf, out);
}

/* {a="x",b="y"} plus an optional le; nothing at all without labels. */
static void write_labels(FILE *out, const metric *m, const series *s, const double *le) {
  if (m->label_count == 0 && !le)
    return;
  fputc('{', out);
  for (size_t i = 0; i < m->label_count; i++) {
    fprintf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
    write_escaped(out, s->values[i], false);
    fputc('"', out);
  }
  if (le) {
    fprintf(out, "%sle=\"", m->label_count ? "," : "");
    write_value(out, *le);
    fputc('"', out);
  }
  fputc('}', out);
}

static void write_histogram(FILE *out, const metric *m, const series *s) {
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= m->bound_count; b++) {
    cumulative += s->buckets[b];
    double le = b < m->bound_count ? m->bounds[b] : INFINITY;
    fprintf(out, "%s_bucket", m->name);
    write_labels(out, m, s, &le);
    fprintf(out, " %" PRIu64 "\n", cumulative);
  }
  fprintf(out, "%s_sum", m->name);
  write_labels(out, m, s, NULL);
  fputc(' ', out);
  write_value(out, s->sum);
  fprintf(out, "\n%s_count", m->name);
  write_labels(out, m, s, NULL);
  fprintf(out, " %" PRIu64 "\n", s->count);
}

static const char *type_name(metric_type t) {
  return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

char *metrics_render(metrics_registry *reg, size_t *len) {
  char *text = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&text, &size);
  if (!out)
    abort();
  pthread_mutex_lock(&reg->lock);
  for (const metric *m = reg->first; m; m = m->next) {
    fprintf(out, "# HELP %s ", m->name);
    write_escaped(out, m->help, true);
    fprintf(out, "\n# TYPE %s %s\n", m->name, type_name(m->type));
    for (size_t i = 0; i < m->series_count; i++) {
      const series *s = &m->series[i];
      if (m->type == METRIC_HISTOGRAM) {
        write_histogram(out, m, s);
        continue;
      }
      fputs(m->name, out);
      write_labels(out, m, s, NULL);
      fputc(' ', out);
      write_value(out, s->value);
      fputc('\n', out);
    }
  }
  pthread_mutex_unlock(&reg->lock);
  if (fclose(out) != 0)
    abort();
  if (len)
    *len = size;
  return text;
}

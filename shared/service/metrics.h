/* A small, thread-safe registry of Prometheus metrics, rendered in the text
 * exposition format 0.0.4 (HELP and TYPE lines, `_bucket{le=...}`, `_sum`,
 * `_count`, escaped label values). It knows nothing of the worker: the
 * worker's own metrics are declared in worker_metrics.c (docs/metrics.md).
 *
 * A family is a counter, a gauge or a histogram with a fixed set of series
 * (no label, or one label and its list of values, given at registration), or
 * a gauge table whose series (any label names) are replaced whole, for sets
 * that come and go such as the partitions a consumer holds. Names, help texts
 * and label names are borrowed: pass string literals. */
#pragma once

#include <stddef.h>

typedef struct metrics_registry metrics_registry;
typedef struct metric metric;

typedef struct metric_row {
  const char *const *values; /* one per label name of the table */
  double value;
} metric_row;

metrics_registry *metrics_registry_new(void);
void metrics_registry_free(metrics_registry *reg); /* accepts NULL */

/* label: NULL for a single series; else its name, and `values` (NULL-ended)
 * lists the series, in the order they are rendered and indexed. */
metric *metrics_counter(metrics_registry *reg, const char *name, const char *help,
                        const char *label, const char *const *values);
metric *metrics_gauge(metrics_registry *reg, const char *name, const char *help, const char *label,
                      const char *const *values);
/* bounds: the buckets' upper bounds, increasing (+Inf is implied). */
metric *metrics_histogram(metrics_registry *reg, const char *name, const char *help,
                          const char *label, const char *const *values, const double *bounds,
                          size_t bound_count);
/* labels: the label names, NULL-ended; the table starts empty. */
metric *metrics_gauge_table(metrics_registry *reg, const char *name, const char *help,
                            const char *const *labels);

/* The index of a label value of a fixed family, or -1 when it has none. */
int metric_series(const metric *m, const char *value);
/* series: the index of its label value (0 without a label). A counter only
 * goes up: a negative or NaN amount is ignored. */
void metric_add(metric *m, int series, double amount);
void metric_set(metric *m, int series, double value);
void metric_observe(metric *m, int series, double value);
/* A gauge table's series, all at once (a scrape sees the old or the new set). */
void metric_table_replace(metric *m, const metric_row *rows, size_t count);

/* The exposition text (malloc'd, NUL-terminated); *len gets its length. */
char *metrics_render(metrics_registry *reg, size_t *len);

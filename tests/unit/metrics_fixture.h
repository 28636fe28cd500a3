/* What the metrics' unit tests share (test_metrics.c, test_worker_metrics.c):
 * a parser of the text format 0.0.4, strict enough to catch mistakes. */
#pragma once

#include "core/cleanup.h"
#include "core/config.h"
#include "service/metrics.h"
#include "service/metrics_http.h"
#include "service/worker_metrics.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- a parser of the text format 0.0.4, strict enough to catch mistakes ---- */

#define MAX_SAMPLES 512
#define MAX_LABELS 4

typedef struct sample {
  char name[128];
  char label_names[MAX_LABELS][32];
  char label_values[MAX_LABELS][128];
  int label_count;
  double value;
} sample;

typedef struct exposition {
  sample samples[MAX_SAMPLES];
  int count;
  char types[64][160]; /* "name type" */
  int type_count;
  char helps[64][256]; /* "name text" (unescaped) */
  int help_count;
} exposition;

static inline const char *parse_quoted(const char *p, char *out, size_t len, bool help) {
  size_t n = 0;
  for (; *p && (help || *p != '"'); p++) {
    char c = *p;
    if (c == '\\') {
      p++;
      c = *p == 'n' ? '\n' : *p;
      assert_true(*p == 'n' || *p == '\\' || (*p == '"' && !help));
    }
    assert_true(n + 1 < len);
    out[n++] = c;
  }
  out[n] = '\0';
  return p;
}

static inline double parse_value(const char *text) {
  if (strcmp(text, "+Inf") == 0)
    return INFINITY;
  if (strcmp(text, "-Inf") == 0)
    return -INFINITY;
  if (strcmp(text, "NaN") == 0)
    return NAN;
  char *end = NULL;
  double v = strtod(text, &end);
  assert_true(end != text && *end == '\0');
  return v;
}

static inline void parse_line(exposition *e, const char *line) {
  if (strncmp(line, "# TYPE ", 7) == 0) {
    snprintf(e->types[e->type_count++], sizeof(e->types[0]), "%s", line + 7);
    return;
  }
  if (strncmp(line, "# HELP ", 7) == 0) {
    parse_quoted(line + 7, e->helps[e->help_count++], sizeof(e->helps[0]), true);
    return;
  }
  assert_true(line[0] != '#');
  sample *s = &e->samples[e->count++];
  assert_true(e->count <= MAX_SAMPLES);
  memset(s, 0, sizeof(*s));
  size_t n = strcspn(line, "{ ");
  assert_true(n > 0 && n < sizeof(s->name));
  memcpy(s->name, line, n);
  const char *p = line + n;
  if (*p == '{') {
    p++;
    while (*p != '}') {
      size_t k = strcspn(p, "=");
      assert_true(k > 0 && k < sizeof(s->label_names[0]) && s->label_count < MAX_LABELS);
      memcpy(s->label_names[s->label_count], p, k);
      p += k;
      assert_true(p[0] == '=' && p[1] == '"');
      p = parse_quoted(p + 2, s->label_values[s->label_count], sizeof(s->label_values[0]), false);
      assert_true(*p == '"');
      p++;
      s->label_count++;
      if (*p == ',')
        p++;
      else
        assert_true(*p == '}');
    }
    p++;
  }
  assert_true(*p == ' ');
  s->value = parse_value(p + 1);
}

static inline void parse(exposition *e, const char *text) {
  memset(e, 0, sizeof(*e));
  assert_true(text[strlen(text) - 1] == '\n');
  cleanup_free char *copy = bw_strdup(text);
  char *save = NULL;
  for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
    parse_line(e, line);
}

/* The value of the sample `name` whose labels include label=value (NULL: any). */
static inline double value_of(const exposition *e, const char *name, const char *label,
                              const char *value) {
  for (int i = 0; i < e->count; i++) {
    const sample *s = &e->samples[i];
    if (strcmp(s->name, name) != 0)
      continue;
    if (!label)
      return s->value;
    for (int k = 0; k < s->label_count; k++)
      if (strcmp(s->label_names[k], label) == 0 && strcmp(s->label_values[k], value) == 0)
        return s->value;
  }
  fail_msg("no sample %s{%s=\"%s\"}", name, label ? label : "", value ? value : "");
  return NAN;
}

static inline double bucket(const exposition *e, const char *name, const char *le) {
  char full[160];
  snprintf(full, sizeof(full), "%s_bucket", name);
  return value_of(e, full, "le", le);
}

static inline void render_parse(metrics_registry *reg, exposition *e) {
  size_t len = 0;
  cleanup_free char *text = metrics_render(reg, &len);
  assert_int_equal(len, strlen(text));
  parse(e, text);
}

/* shared/service/metrics.h: the registry and its text exposition. */
#include "metrics_fixture.h"

/* ---- the registry ------------------------------------------------------------ */

static void test_counter_and_gauge(void **state) {
  metrics_registry *reg = metrics_registry_new();
  static const char *const colors[] = {"red", "green", NULL};
  metric *c = metrics_counter(reg, "t_things_total", "Things.", "color", colors);
  metric *g = metrics_gauge(reg, "t_level", "A level.", NULL, NULL);
  assert_int_equal(metric_series(c, "green"), 1);
  assert_int_equal(metric_series(c, "blue"), -1);
  metric_add(c, metric_series(c, "green"), 2);
  metric_add(c, 1, 1);
  metric_add(c, 0, -5);  /* a counter never goes down */
  metric_add(c, 7, 1);   /* no such series: ignored */
  metric_add(c, 0, NAN); /* ignored */
  metric_set(g, 0, 2.5);
  metric_add(g, 0, -1); /* a gauge may go down */
  static exposition e;
  render_parse(reg, &e);
  assert_int_equal(e.count, 3);
  assert_true(value_of(&e, "t_things_total", "color", "red") == 0);
  assert_true(value_of(&e, "t_things_total", "color", "green") == 3);
  assert_true(value_of(&e, "t_level", NULL, NULL) == 1.5);
  assert_int_equal(e.type_count, 2);
  assert_string_equal(e.types[0], "t_things_total counter");
  assert_string_equal(e.types[1], "t_level gauge");
  assert_string_equal(e.helps[0], "t_things_total Things.");
  metrics_registry_free(reg);
}

static void test_exact_text(void **state) {
  metrics_registry *reg = metrics_registry_new();
  metric *g = metrics_gauge(reg, "t_g", "Help with \\ and\nnewline.", NULL, NULL);
  metric_set(g, 0, 0.1);
  size_t len;
  cleanup_free char *text = metrics_render(reg, &len);
  assert_string_equal(text, "# HELP t_g Help with \\\\ and\\nnewline.\n"
                            "# TYPE t_g gauge\n"
                            "t_g 0.1\n");
  metrics_registry_free(reg);
}

static void test_histogram(void **state) {
  metrics_registry *reg = metrics_registry_new();
  static const double bounds[] = {0.5, 1, 10};
  static const char *const phases[] = {"pull", "run", NULL};
  metric *h = metrics_histogram(reg, "t_seconds", "Durations.", "phase", phases, bounds, 3);
  metric_observe(h, 1, 0.25);
  metric_observe(h, 1, 1); /* on a bound: counted in that bucket (le) */
  metric_observe(h, 1, 3);
  metric_observe(h, 1, 100);
  metric_observe(h, 1, NAN); /* ignored */
  static exposition e;
  render_parse(reg, &e);
  assert_int_equal(e.count, 2 * (4 + 2));
  assert_true(bucket(&e, "t_seconds", "0.5") == 0); /* the pull series comes first */
  /* The run series: find its samples by both labels. */
  int seen = 0;
  for (int i = 0; i < e.count; i++) {
    const sample *s = &e.samples[i];
    if (strcmp(s->label_values[0], "run") != 0)
      continue;
    assert_string_equal(s->label_names[0], "phase");
    if (strcmp(s->name, "t_seconds_bucket") == 0) {
      assert_string_equal(s->label_names[1], "le");
      const char *le = s->label_values[1];
      double want = strcmp(le, "0.5") == 0    ? 1
                    : strcmp(le, "1") == 0    ? 2
                    : strcmp(le, "10") == 0   ? 3
                    : strcmp(le, "+Inf") == 0 ? 4
                                              : -1;
      assert_true(s->value == want);
    } else if (strcmp(s->name, "t_seconds_sum") == 0) {
      assert_true(s->value == 104.25);
    } else {
      assert_string_equal(s->name, "t_seconds_count");
      assert_true(s->value == 4);
    }
    seen++;
  }
  assert_int_equal(seen, 6);
  assert_string_equal(e.types[0], "t_seconds histogram");
  metrics_registry_free(reg);
}

static void test_label_values_escaped(void **state) {
  metrics_registry *reg = metrics_registry_new();
  static const char *const labels[] = {"topic", "partition", NULL};
  metric *t = metrics_gauge_table(reg, "t_lag", "Lag.", labels);
  const char *nasty[] = {"a\"b\\c\nd", "7"};
  const char *plain[] = {"runs", "0"};
  metric_row rows[] = {{nasty, 5}, {plain, 0}};
  metric_table_replace(t, rows, 2);
  static exposition e;
  render_parse(reg, &e);
  assert_int_equal(e.count, 2);
  assert_string_equal(e.samples[0].label_values[0], "a\"b\\c\nd");
  assert_string_equal(e.samples[0].label_values[1], "7");
  assert_true(e.samples[0].value == 5);
  /* Replaced whole: the old series go. */
  metric_table_replace(t, rows + 1, 1);
  render_parse(reg, &e);
  assert_int_equal(e.count, 1);
  assert_string_equal(e.samples[0].label_values[0], "runs");
  metric_table_replace(t, NULL, 0);
  render_parse(reg, &e);
  assert_int_equal(e.count, 0);
  assert_int_equal(e.type_count, 1); /* HELP and TYPE stay */
  metrics_registry_free(reg);
}

static void test_values_read_back(void **state) {
  metrics_registry *reg = metrics_registry_new();
  static const char *const names[] = {"a", "b", "c", "d", "e", "f", NULL};
  metric *g = metrics_gauge(reg, "t_v", "Values.", "k", names);
  const double values[] = {1e-9,     123456789012345.0, 1.0 / 3,
                           INFINITY, -INFINITY,         9007199254740993.0};
  for (int i = 0; i < 6; i++)
    metric_set(g, i, values[i]);
  size_t len;
  cleanup_free char *text = metrics_render(reg, &len);
  assert_non_null(strstr(text, "t_v{k=\"d\"} +Inf\n"));
  assert_non_null(strstr(text, "t_v{k=\"e\"} -Inf\n"));
  assert_non_null(strstr(text, "t_v{k=\"b\"} 123456789012345\n"));
  static exposition e;
  parse(&e, text);
  for (int i = 0; i < 6; i++)
    assert_true(e.samples[i].value == values[i]);
  metric_set(g, 0, NAN);
  render_parse(reg, &e);
  assert_true(isnan(e.samples[0].value));
  metrics_registry_free(reg);
}

typedef struct adder {
  metric *c;
  metric *h;
} adder;

static void *add_many(void *arg) {
  adder *a = arg;
  for (int i = 0; i < 20000; i++) {
    metric_add(a->c, 0, 1);
    metric_observe(a->h, 0, 0.5);
  }
  return NULL;
}

static void test_threads(void **state) {
  metrics_registry *reg = metrics_registry_new();
  static const double bounds[] = {1};
  adder a = {metrics_counter(reg, "t_n_total", "N.", NULL, NULL),
             metrics_histogram(reg, "t_h", "H.", NULL, NULL, bounds, 1)};
  pthread_t threads[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&threads[i], NULL, add_many, &a), 0);
  for (int i = 0; i < 20; i++) { /* scrapes meanwhile */
    size_t len;
    free(metrics_render(reg, &len));
  }
  for (int i = 0; i < 4; i++)
    pthread_join(threads[i], NULL);
  static exposition e;
  render_parse(reg, &e);
  assert_true(value_of(&e, "t_n_total", NULL, NULL) == 80000);
  assert_true(value_of(&e, "t_h_count", NULL, NULL) == 80000);
  assert_true(bucket(&e, "t_h", "1") == 80000);
  metrics_registry_free(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counter_and_gauge), cmocka_unit_test(test_exact_text),
      cmocka_unit_test(test_histogram),         cmocka_unit_test(test_label_values_escaped),
      cmocka_unit_test(test_values_read_back),  cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

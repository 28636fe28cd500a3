/* shared/job/masker.h: many secrets (large tries, dense tables), against a
 * naive masker, and masking from several threads. */
#include "masker_fixture.h"

/* ---- large tries ---------------------------------------------------------- */

/* Many forms over a wide alphabet (64 bytes: nodes with dense tables), chains that fail
 * into forms added later, and a relink after more forms came. */
static void test_many_forms_against_naive(void **state) {
  unsigned seed = 99;
  enum { N_FORMS = 1500 };
  char **forms = calloc(2 * N_FORMS, sizeof(char *));
  size_t n_forms = 0;
  masker *m = masker_new();
  for (int phase = 0; phase < 2; phase++) {
    for (int i = 0; i < N_FORMS; i++) {
      size_t fl = 3 + (size_t)(rand_r(&seed) % 6);
      char *f = calloc(fl + 1, 1);
      for (size_t k = 0; k < fl; k++)
        f[k] = (char)('0' + rand_r(&seed) % 64);
      masker_add_exact(m, f, fl);
      forms[n_forms++] = f;
    }
    for (int round = 0; round < 20; round++) {
      char text[400];
      size_t len = (size_t)(rand_r(&seed) % sizeof(text));
      for (size_t k = 0; k < len; k++)
        text[k] = (char)('0' + rand_r(&seed) % 66);
      char what[48];
      snprintf(what, sizeof(what), "phase %d round %d", phase, round);
      bool hidden = expect_like_naive(m, forms, n_forms, text, len, what);
      assert_int_equal(masker_contains(m, text, len), hidden);
    }
  }
  assert_true(masker_footprint(m) > 0);
  for (size_t f = 0; f < n_forms; f++)
    free(forms[f]);
  free(forms);
  masker_free(m);
}

/* Long forms over two letters: branches deep in the trie (chains that start
 * far below the root, whose parents the link reaches late) and fail links to
 * deep nodes of forms registered later. */
static void test_deep_branches_against_naive(void **state) {
  unsigned seed = 2024;
  for (int round = 0; round < 40; round++) {
    enum { N_FORMS = 60 };
    char *forms[N_FORMS];
    masker *m = masker_new();
    for (int i = 0; i < N_FORMS; i++) {
      size_t fl = 8 + (size_t)(rand_r(&seed) % 30);
      forms[i] = calloc(fl + 1, 1);
      /* most forms continue an earlier one for a while */
      size_t shared = i > 0 && rand_r(&seed) % 4 ? (size_t)(rand_r(&seed) % fl) : 0;
      const char *base = forms[i > 0 ? rand_r(&seed) % i : 0];
      for (size_t k = 0; k < fl; k++)
        forms[i][k] = k < shared && k < strlen(base) ? base[k] : (char)('a' + rand_r(&seed) % 2);
      masker_add_exact(m, forms[i], fl);
    }
    char text[600];
    size_t len = (size_t)(rand_r(&seed) % sizeof(text));
    for (size_t k = 0; k < len; k++)
      text[k] = (char)('a' + rand_r(&seed) % 2);
    if (len > 40 && round % 2) /* plant a form */
      memcpy(text + 10, forms[round % N_FORMS], strlen(forms[round % N_FORMS]));
    char what[32];
    snprintf(what, sizeof(what), "round %d", round);
    expect_like_naive(m, forms, N_FORMS, text, len, what);
    for (int i = 0; i < N_FORMS; i++)
      free(forms[i]);
    masker_free(m);
  }
}

typedef struct apply_job {
  const masker *m;
  const char *text;
  char *out;
} apply_job;

static void *apply_thread(void *arg) {
  apply_job *job = arg;
  size_t n;
  job->out = masker_apply(job->m, job->text, strlen(job->text), &n);
  return NULL;
}

/* The link happens on the first use, which may be in several threads at once. */
static void test_first_use_from_threads(void **state) {
  masker *m = masker_new();
  char secret[32];
  for (int i = 0; i < 2000; i++) {
    snprintf(secret, sizeof(secret), "tok-%05d-%08x", i, (unsigned)i * 2654435761u);
    masker_add_secret(m, secret);
  }
  snprintf(secret, sizeof(secret), "tok-%05d-%08x", 77, 77u * 2654435761u);
  char text[64];
  snprintf(text, sizeof(text), "a %s b", secret);
  pthread_t threads[4];
  apply_job jobs[4];
  for (int t = 0; t < 4; t++) {
    jobs[t] = (apply_job){.m = m, .text = text};
    assert_int_equal(pthread_create(&threads[t], NULL, apply_thread, &jobs[t]), 0);
  }
  for (int t = 0; t < 4; t++) {
    pthread_join(threads[t], NULL);
    assert_string_equal(jobs[t].out, "a [hidden] b");
    free(jobs[t].out);
  }
  masker_free(m);
}

/* Prints a figure, asserts only the result: time is for benchmarks. */
static void test_ten_megabytes(void **state) {
  masker *m = masker_new();
  char secret[32];
  for (int i = 0; i < 200; i++) {
    snprintf(secret, sizeof(secret), "secret-%03d-%08x", i, (unsigned)i * 2654435761u);
    masker_add_secret(m, secret);
  }
  size_t len = 10u << 20;
  char *text = malloc(len);
  const char *filler = "INFO processing row 123456 of table in.c-main.data, all good; ";
  size_t fl = strlen(filler);
  size_t planted = 0, next_plant = 0;
  for (size_t i = 0; i < len;) {
    if (i >= next_plant && i + 40 < len) {
      next_plant = i + 4096;
      int n = snprintf(text + i, 40, "secret-%03d-%08x", (int)(planted % 200),
                       (unsigned)(planted % 200) * 2654435761u);
      i += (size_t)n;
      planted++;
      continue;
    }
    size_t take = fl < len - i ? fl : len - i;
    memcpy(text + i, filler, take);
    i += take;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t out_len;
  char *out = masker_apply(m, text, len, &out_len);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  size_t hidden = 0;
  for (char *p = out; (p = memmem(p, out_len - (size_t)(p - out), "[hidden]", 8)); p += 8)
    hidden++;
  print_message("masker_apply: 10 MiB, %zu forms, %zu secrets hidden in %.1f ms\n", masker_forms(m),
                hidden, ms);
  assert_int_equal(hidden, planted);
  free(out);
  free(text);
  masker_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_many_forms_against_naive),
      cmocka_unit_test(test_deep_branches_against_naive),
      cmocka_unit_test(test_first_use_from_threads),
      cmocka_unit_test(test_ten_megabytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* What the masker's unit tests share (test_masker.c, test_masker_stream.c,
 * test_masker_large.c): expectations that fail the test, a sample masker,
 * and a naive masker to compare with. */
#pragma once

#include "job/masker.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <pthread.h>

/* Masks a C string and compares with the expected C string. */
static inline void expect_masked(const masker *m, const char *text, const char *want) {
  size_t n = 0;
  char *got = masker_apply(m, text, strlen(text), &n);
  if (n != strlen(want) || memcmp(got, want, n) != 0)
    fail_msg("masking \"%s\": got \"%s\", want \"%s\"", text, got, want);
  assert_int_equal(got[n], '\0');
  free(got);
}

static inline json_t *json_from(const char *text) {
  json_error_t jerr;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
  if (!v)
    fail_msg("test JSON %s: %s", text, jerr.text);
  return v;
}

static inline masker *sample_masker(void) {
  masker *m = masker_new();
  masker_add_secret(m, "p4ssw0rd!");
  masker_add_secret(m, "tok\"en\\x");
  masker_add_exact(m, "abab", 4);
  masker_add_exact(m, "babx", 4);
  return m;
}

/* The naive reference: every occurrence of every form, regions that share a
 * byte merged, touching ones kept apart. */
static inline char *naive_mask(char **forms, size_t n_forms, const char *text, size_t len,
                               size_t *out_len) {
  size_t *ends = calloc(len + 1, sizeof(size_t));
  for (size_t i = 0; i < len; i++) {
    for (size_t f = 0; f < n_forms; f++) {
      size_t fl = strlen(forms[f]);
      if (fl <= len - i && memcmp(text + i, forms[f], fl) == 0 && ends[i] < i + fl)
        ends[i] = i + fl;
    }
  }
  char *out = malloc(len * 8 + 1);
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    if (ends[i] == 0) {
      out[o++] = text[i++];
      continue;
    }
    size_t end = ends[i];
    for (size_t k = i; k < end; k++) {
      if (ends[k] > end)
        end = ends[k];
    }
    memcpy(out + o, MASKER_HIDDEN, MASKER_HIDDEN_LEN);
    o += MASKER_HIDDEN_LEN;
    i = end;
  }
  free(ends);
  out[o] = '\0';
  *out_len = o;
  return out;
}

/* masker_apply against naive_mask on the same text; fails the test, naming
 * `what` (the round), when they differ. Returns whether anything was hidden. */
static inline bool expect_like_naive(const masker *m, char **forms, size_t n_forms,
                                     const char *text, size_t len, const char *what) {
  size_t got_len, want_len;
  char *got = masker_apply(m, text, len, &got_len);
  char *want = naive_mask(forms, n_forms, text, len, &want_len);
  if (got_len != want_len || memcmp(got, want, got_len) != 0)
    fail_msg("%s: text %.*s\n got  %s\n want %s", what, (int)len, text, got, want);
  bool hidden = strstr(want, MASKER_HIDDEN) != NULL;
  free(got);
  free(want);
  return hidden;
}

/* Benchmark: setting up a masker with very many secrets, and masking with it.
 * Prints figures; it is not a test and asserts nothing.
 *
 *   bench_masker [N ...]          (default: 1000 10000 100000 1000000)
 *   BENCH_TEXT_MB=64              size of the text masked after set-up
 *
 * For each N and each of two kinds of secrets (random: printable values of 16
 * to 40 bytes; prefix: the same behind one 64-byte prefix that every secret
 * shares, the adversarial case for a trie) it builds a JSON config with N '#'
 * keys, times masker_add_config on it and masks a text of random printable
 * bytes with masker_apply, against a memcpy of the same bytes into a fresh
 * buffer (the baseline, in the same process). Each case runs in a child
 * process, so its peak RSS (getrusage) is its own; the config document
 * (jansson) is part of that peak, "masker" is what the masker holds. */
#include "job/masker.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PREFIX_LEN 64

static uint64_t rng_next(uint64_t *s) {
  /* xorshift64*: fast, and the same values in every run */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CPU time of this process: the machine is shared, and wall time counts the
 * time others had the cores. */
static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double peak_rss_mb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0; /* kB on Linux */
}

static void random_printable(uint64_t *rng, char *out, size_t len) {
  for (size_t i = 0; i < len; i++)
    out[i] = (char)(0x20 + rng_next(rng) % 95);
}

/* N '#' keys; values of 16 to 40 printable bytes, after the shared prefix if any. */
static json_t *build_config(size_t n, const char *prefix, uint64_t *rng, size_t *secret_bytes) {
  json_t *params = json_object();
  char key[32];
  char value[PREFIX_LEN + 41];
  size_t plen = prefix ? PREFIX_LEN : 0;
  if (prefix)
    memcpy(value, prefix, plen);
  *secret_bytes = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = 16 + rng_next(rng) % 25;
    random_printable(rng, value + plen, len);
    snprintf(key, sizeof(key), "#k%zu", i);
    json_object_set_new_nocheck(params, key, json_stringn(value, plen + len));
    *secret_bytes += plen + len;
  }
  return json_pack("{s:o}", "parameters", params);
}

static void run_case(size_t n, bool shared_prefix, size_t text_len) {
  uint64_t rng = 0x9e3779b97f4a7c15ull ^ (n * 2 + shared_prefix);
  char prefix[PREFIX_LEN];
  random_printable(&rng, prefix, sizeof(prefix));
  size_t secret_bytes;
  json_t *config = build_config(n, shared_prefix ? prefix : NULL, &rng, &secret_bytes);

  masker *m = masker_new();
  double t0 = now_s(), c0 = cpu_s();
  size_t added = masker_add_config(m, config);
  double added_at = now_s(), added_cpu = cpu_s();
  /* the first use links the automaton (masker.h) */
  size_t probe_len;
  free(masker_apply(m, "x", 1, &probe_len));
  double setup = now_s() - t0, link = now_s() - added_at;
  double setup_cpu = cpu_s() - c0, link_cpu = cpu_s() - added_cpu;
  json_decref(config);

  char *text = malloc(text_len);
  if (!text)
    abort();
  random_printable(&rng, text, text_len);

  double t1 = now_s();
  size_t out_len;
  char *out = masker_apply(m, text, text_len, &out_len);
  double apply_s = now_s() - t1;
  size_t hidden = 0;
  for (char *p = out;
       (p = memmem(p, out_len - (size_t)(p - out), MASKER_HIDDEN, MASKER_HIDDEN_LEN));
       p += MASKER_HIDDEN_LEN)
    hidden++;
  free(out);

  double t2 = now_s();
  char *copy = malloc(text_len + 1);
  if (!copy)
    abort();
  memcpy(copy, text, text_len);
  double memcpy_s = now_s() - t2;
  if (copy[text_len / 2] != text[text_len / 2])
    abort();
  free(copy);

#ifndef BENCH_OLD_MASKER
  double t3 = now_s();
  bool found = masker_contains(m, text, text_len);
  double contains_s = now_s() - t3;
  double masker_mb = (double)masker_footprint(m) / (1 << 20);
#else
  bool found = hidden > 0;
  double contains_s = 0;
  double masker_mb = 0;
#endif

  double mb = (double)text_len / (1 << 20);
  printf("%-6s %8zu %9.3f %9.3f %9.3f %9.3f %9.0f %9zu %9.1f %9.1f %9.1f %9.1f %9.1f %9.0f  "
         "%zu/%d\n",
         shared_prefix ? "prefix" : "random", n, setup, setup_cpu, link, link_cpu,
         setup * 1e9 / (double)(n ? n : 1), masker_forms(m), (double)secret_bytes / (1 << 20),
         masker_mb, peak_rss_mb(), mb / apply_s, contains_s > 0 ? mb / contains_s : 0.0,
         mb / memcpy_s, hidden, (int)found);
  if (added != n)
    printf("  (registered %zu of %zu values)\n", added, n);
  fflush(stdout);
  free(text);
  masker_free(m);
}

int main(int argc, char **argv) {
  size_t defaults[] = {1000, 10000, 100000, 1000000};
  size_t n_cases = argc > 1 ? (size_t)(argc - 1) : sizeof(defaults) / sizeof(defaults[0]);
  const char *env = getenv("BENCH_TEXT_MB");
  size_t text_len = (size_t)((env ? atof(env) : 64) * (1 << 20));
  if (text_len < 1024)
    text_len = 1024;
  printf("text: %.1f MiB of random printable bytes; setup = masker_add_config and the link "
         "(the first use); _s: wall, _cpu: this process's CPU time\n",
         (double)text_len / (1 << 20));
  printf("%-6s %8s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s  %s\n", "kind", "N", "setup_s",
         "setup_cpu", "(link_s)", "(link_cpu)", "ns/secret", "forms", "secret_MB", "masker_MB",
         "peakRSS_MB", "apply_MB/s", "scan_MB/s", "memcpy_MB/s", "hidden/found");
  fflush(stdout);
  for (size_t c = 0; c < n_cases; c++) {
    size_t n = argc > 1 ? (size_t)strtoull(argv[c + 1], NULL, 10) : defaults[c];
    for (int prefix = 0; prefix <= 1; prefix++) {
      pid_t pid = fork();
      if (pid < 0) {
        perror("fork");
        return 1;
      }
      if (pid == 0) {
        run_case(n, prefix, text_len);
        _exit(0);
      }
      int status;
      waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("%-6s %8zu  (failed: status %d)\n", prefix ? "prefix" : "random", n, status);
    }
  }
  return 0;
}

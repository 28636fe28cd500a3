/* Benchmark: upload throughput of the worker's s3:// artifact store against
 * raw single PUTs of the same bytes to the same S3 server, interleaved in
 * one run so both see the same machine. Prints figures; it is not a test and
 * asserts nothing.
 *
 *   bench_s3 [--big] [SIZE_MIB ...]      (default: 16 64 256)
 *   BW_BENCH_S3_ROUNDS=3                 rounds of the sizes, interleaved
 *   BW_BENCH_S3_BIG=1 (or --big)         adds a 5 GiB file, BW_BENCH_S3_BIG_ROUNDS=1 rounds
 *   BW_BENCH_S3_SERVER_PID=PID           the S3 server's process: its VmRSS is sampled
 *   BW_BENCH_S3_PREFIX=bench-s3/X        where the objects go (deleted after each upload)
 *   BW_BENCH_S3_DIR=/tmp                 where the files are made
 * The server and keys come from the stack's STACK_S3_* variables.
 *
 * The baseline is what `aws s3 cp` of a small file does: one signed PUT by
 * curl --aws-sigv4 with the payload's sha256 known beforehand (a new curl
 * process each time: its start, a few ms, is part of its figure). The worker
 * is artifact_store_put_fd with the sha256 known too, as the pipeline calls
 * it, at part sizes 16 MiB and 64 MiB (the default): one PUT up to the part
 * size, a multipart upload above it, each part hashed and then sent.
 *
 * MB is 10^6 bytes. cpu: user + system time per MB, of this process for the
 * worker (getrusage), of the curl process for the baseline. VmHWM: the peak
 * RSS of this process during that upload (reset before it through
 * /proc/self/clear_refs). server: the peak VmRSS of the S3 server process
 * during the upload, sampled every 20 ms. */
#include "clients/artifact_store.h"
#include "core/cleanup.h"
#include "core/config.h"
#include "core/digest.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MIB (1024LL * 1024LL)
#define GIB (1024LL * MIB)
#define BIG_SIZE (5 * GIB)
#define ROUNDS_MAX 20
#define SIZES_MAX 16
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

enum { WAY_RAW, WAY_PART_16M, WAY_PART_64M, WAYS };
static const int64_t way_part[WAYS] = {0, 16 * MIB, 64 * MIB};
static const char *const way_name[WAYS] = {"raw curl PUT", "worker part 16M", "worker part 64M"};
static const char *const way_tag[WAYS] = {"raw", "w16", "w64"};

typedef struct run {
  double mbps;
  double cpu_ms_per_mb;
  long rss_kb;    /* worker: VmHWM during the upload; raw: curl's ru_maxrss */
  long server_kb; /* the server's peak VmRSS, 0 when not watched */
  int parts;
} run;

typedef struct size_case {
  int64_t bytes;
  int rounds;
  char *path;
  char sha[DIGEST_SHA256_HEX_LEN + 1];
  run runs[WAYS][ROUNDS_MAX];
} size_case;

typedef struct bench {
  char *endpoint; /* no trailing '/' */
  const char *bucket;
  char *sigv4;       /* "aws:amz:REGION:s3" */
  char *curl_config; /* user = "ID:SECRET", fed to curl -K - */
  const char *prefix;
  const char *dir;
  pid_t server_pid; /* 0: not watched */
  bw_config cfg[WAYS];
  artifact_store *store[WAYS]; /* [WAY_RAW] unused */
} bench;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_of(const struct rusage *ru) {
  return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
         (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

static const char *need_env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) {
    fprintf(stderr, "bench_s3: %s is not set (source $STACK_HOME/stack.env)\n", name);
    exit(2);
  }
  return v;
}

/* A "Name: 123 kB" field of a /proc file (/proc/PID/status, /proc/meminfo), or 0. */
static long proc_kb(const char *path, const char *field) {
  cleanup_fclose FILE *f = fopen(path, "r");
  char line[256];
  size_t n = strlen(field);
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, field, n) == 0 && line[n] == ':')
      return strtol(line + n + 1, NULL, 10);
  return 0;
}

static long status_kb(pid_t pid, const char *field) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/status", pid ? (int)pid : (int)getpid());
  return proc_kb(path, field);
}

/* ---- the server's RSS, sampled on a thread during an upload ------------------------- */

typedef struct watch {
  pid_t pid;
  atomic_bool stop;
  long peak_kb; /* written by the thread, read after the join */
  pthread_t thread;
} watch;

static void *watch_loop(void *arg) {
  watch *w = arg;
  const struct timespec tick = {0, 20 * 1000 * 1000};
  do {
    long kb = status_kb(w->pid, "VmRSS");
    if (kb > w->peak_kb)
      w->peak_kb = kb;
    nanosleep(&tick, NULL);
  } while (!atomic_load(&w->stop));
  return NULL;
}

static void watch_start(watch *w, pid_t pid) {
  w->pid = pid;
  w->peak_kb = 0;
  atomic_store(&w->stop, false);
  if (pid && pthread_create(&w->thread, NULL, watch_loop, w) != 0)
    w->pid = 0;
}

static long watch_stop(watch *w) {
  if (!w->pid)
    return 0;
  atomic_store(&w->stop, true);
  pthread_join(w->thread, NULL);
  return w->peak_kb;
}

/* ---- curl, the baseline and the deletes --------------------------------------------- */

static void write_all(int fd, const char *s) {
  for (size_t len = strlen(s); len > 0;) {
    ssize_t n = write(fd, s, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    s += n;
    len -= (size_t)n;
  }
}

/* curl --aws-sigv4 with the credentials on its stdin (-K -), never on its
 * command line: a PUT of path (-T) whose sha256 is sha, or a DELETE (path
 * NULL). 0 when curl exits 0 (--fail: an HTTP error is not 0). */
static int curl_s3(const bench *b, const char *key, const char *path, const char *sha,
                   struct rusage *ru) {
  cleanup_free char *url = bw_strdup_printf("%s/%s/%s", b->endpoint, b->bucket, key);
  cleanup_free char *hdr = bw_strdup_printf("x-amz-content-sha256: %s", sha ? sha : EMPTY_SHA256);
  char *argv[] = {"curl",
                  "-sS",
                  "--fail",
                  "--aws-sigv4",
                  b->sigv4,
                  "-K",
                  "-",
                  "-H",
                  hdr,
                  path ? "-T" : "-X",
                  path ? (char *)path : "DELETE",
                  url,
                  NULL};
  int in[2];
  if (pipe2(in, O_CLOEXEC) < 0) {
    perror("pipe2");
    exit(1);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, "curl", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  if (rc != 0) {
    fprintf(stderr, "bench_s3: spawn curl: %s\n", strerror(rc));
    exit(1);
  }
  write_all(in[1], b->curl_config);
  close(in[1]);
  int status = 0;
  struct rusage ignored;
  if (wait4(pid, &status, 0, ru ? ru : &ignored) < 0 || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    fprintf(stderr, "bench_s3: %s %s failed\n", path ? "PUT" : "DELETE", key);
    return -1;
  }
  return 0;
}

static void delete_object(const bench *b, const char *key) {
  curl_s3(b, key, NULL, NULL, NULL);
}

static int raw_put(bench *b, const size_case *c, const char *key, run *r) {
  struct rusage ru = {0};
  watch w;
  watch_start(&w, b->server_pid);
  double t0 = now_s();
  int rc = curl_s3(b, key, c->path, c->sha, &ru);
  double secs = now_s() - t0;
  r->server_kb = watch_stop(&w);
  if (rc < 0)
    return -1;
  double mb = (double)c->bytes / 1e6;
  r->mbps = mb / secs;
  r->cpu_ms_per_mb = cpu_of(&ru) * 1000 / mb;
  r->rss_kb = ru.ru_maxrss;
  r->parts = 1;
  return 0;
}

/* ---- the worker's store ------------------------------------------------------------- */

static void reset_peak_rss(void) {
  int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  if (write(fd, "5", 1) < 0) /* 5: reset VmHWM to VmRSS */
    perror("clear_refs");
  close(fd);
}

static int worker_put(bench *b, int way, const size_case *c, const char *key, run *r) {
  cleanup_close int fd = open(c->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    perror(c->path);
    return -1;
  }
  cleanup_error bw_error_t err = NULL;
  artifact_stored stored = {0};
  struct rusage before, after;
  reset_peak_rss();
  watch w;
  watch_start(&w, b->server_pid);
  getrusage(RUSAGE_SELF, &before);
  double t0 = now_s();
  int rc = artifact_store_put_fd(b->store[way], key, fd, c->sha, c->bytes, &stored, &err);
  double secs = now_s() - t0;
  getrusage(RUSAGE_SELF, &after);
  r->server_kb = watch_stop(&w);
  r->rss_kb = status_kb(0, "VmHWM");
  if (rc < 0) {
    fprintf(stderr, "bench_s3: %s: %s\n", way_name[way], bw_error_msg(&err));
    return -1;
  }
  double mb = (double)c->bytes / 1e6;
  r->mbps = mb / secs;
  r->cpu_ms_per_mb = (cpu_of(&after) - cpu_of(&before)) * 1000 / mb;
  r->parts = stored.parts;
  artifact_stored_free(&stored);
  return 0;
}

static void open_stores(bench *b) {
  cleanup_free char *url = bw_strdup_printf("s3://%s/%s/", b->bucket, b->prefix);
  for (int way = WAY_PART_16M; way < WAYS; way++) {
    bw_config *cfg = &b->cfg[way];
    bw_config_init(cfg);
    cleanup_error bw_error_t err = NULL;
    cleanup_free char *part = bw_strdup_printf("%lld", (long long)way_part[way]);
    int rc = bw_config_set(cfg, "artifacts.url", url, "bench", &err);
    rc |= bw_config_set(cfg, "artifacts.s3.endpoint", b->endpoint, "bench", &err);
    rc |= bw_config_set(cfg, "artifacts.s3.region", need_env("STACK_S3_REGION"), "bench", &err);
    rc |=
        bw_config_set(cfg, "artifacts.s3.access.key.env", "STACK_S3_ACCESS_KEY_ID", "bench", &err);
    rc |= bw_config_set(cfg, "artifacts.s3.secret.key.env", "STACK_S3_SECRET_ACCESS_KEY", "bench",
                        &err);
    rc |= bw_config_set(cfg, "artifacts.s3.part.size", part, "bench", &err);
    if (rc != 0 || artifact_store_open_config(cfg, NULL, &b->store[way], &err) < 0) {
      fprintf(stderr, "bench_s3: store: %s\n", bw_error_msg(&err));
      exit(1);
    }
  }
}

/* ---- the files ---------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

/* `bytes` pseudo-random bytes (they do not compress), and their sha256. */
static void make_file(const bench *b, size_case *c) {
  c->path = bw_strdup_printf("%s/data-%lld", b->dir, (long long)c->bytes);
  cleanup_close int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  cleanup_free uint64_t *buf = bw_xmalloc(MIB);
  uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)c->bytes;
  for (int64_t done = 0; fd >= 0 && done < c->bytes;) {
    for (size_t i = 0; i < MIB / sizeof(uint64_t); i++)
      buf[i] = rng_next(&rng);
    size_t want = c->bytes - done < MIB ? (size_t)(c->bytes - done) : (size_t)MIB;
    ssize_t n = write(fd, buf, want);
    if (n <= 0) {
      perror(c->path);
      exit(1);
    }
    done += n;
  }
  if (fd < 0) {
    perror(c->path);
    exit(1);
  }
  double t0 = now_s();
  cleanup_error bw_error_t err = NULL;
  if (digest_sha256_file(c->path, c->sha, NULL, &err) < 0) {
    fprintf(stderr, "bench_s3: %s\n", bw_error_msg(&err));
    exit(1);
  }
  printf("file %lld MiB made; its sha256 here: %.0f MB/s (from the page cache)\n",
         (long long)(c->bytes / MIB), (double)c->bytes / 1e6 / (now_s() - t0));
}

/* The 5 GiB file: room for it here, and for what the server keeps of it
 * (moto spools each object and each part to a file under its /tmp and
 * joins the parts of a multipart upload in memory). */
static bool room_for_big(const bench *b, int64_t bytes) {
  struct statvfs here, spool;
  if (statvfs(b->dir, &here) < 0 || statvfs("/tmp", &spool) < 0)
    return false;
  double gib = (double)GIB, size = (double)bytes;
  double free_here = (double)here.f_bavail * (double)here.f_frsize;
  double free_spool = (double)spool.f_bavail * (double)spool.f_frsize;
  /* The file; the server's object and its parts (or two objects, if the
   * delete of one lags); on one file system, the sum. */
  bool same = here.f_fsid == spool.f_fsid;
  double need_here = size + gib + (same ? 2 * size : 0), need_spool = 2 * size + gib;
  double mem = (double)proc_kb("/proc/meminfo", "MemAvailable") * 1024,
         need_mem = 3 * size + 2 * gib;
  printf("5 GiB check: %.1f GiB free in %s (need %.1f), %.1f GiB in /tmp%s (need %.1f); "
         "%.1f GiB of memory available (need %.1f: the server holds up to 3 copies)\n",
         free_here / gib, b->dir, need_here / gib, free_spool / gib, same ? ", the same" : "",
         need_spool / gib, mem / gib, need_mem / gib);
  return free_here >= need_here && free_spool >= need_spool && mem >= need_mem;
}

/* ---- rounds and figures ------------------------------------------------------------- */

static void print_run(const size_case *c, int way, int round, const run *r) {
  printf("r%d %6lld MiB  %-16s %8.1f MB/s  cpu %6.3f ms/MB  parts %4d  %s %7.1f MB  server "
         "%7.1f MB\n",
         round + 1, (long long)(c->bytes / MIB), way_name[way], r->mbps, r->cpu_ms_per_mb, r->parts,
         way == WAY_RAW ? "curl maxrss" : "VmHWM      ", (double)r->rss_kb / 1024,
         (double)r->server_kb / 1024);
  fflush(stdout);
}

static int one_run(bench *b, size_case *c, int way, int round) {
  cleanup_free char *name =
      bw_strdup_printf("%s-%lldM-r%d", way_tag[way], (long long)(c->bytes / MIB), round + 1);
  cleanup_free char *object = bw_strdup_printf("%s/%s", b->prefix, name);
  run *r = &c->runs[way][round];
  int rc = way == WAY_RAW ? raw_put(b, c, object, r) : worker_put(b, way, c, name, r);
  delete_object(b, object); /* also after a failure: a PUT may have landed */
  if (rc == 0)
    print_run(c, way, round, r);
  return rc;
}

/* Both paths once, unmeasured: the server's first objects, the page cache. */
static void warm_up(bench *b, const size_case *c) {
  cleanup_free char *object = bw_strdup_printf("%s/warm-up", b->prefix);
  run r;
  raw_put(b, c, object, &r);
  delete_object(b, object);
  worker_put(b, WAY_PART_16M, c, "warm-up", &r);
  delete_object(b, object);
}

/* Every way once per round, in an order that rotates with the round so
 * that drift hits each alike. */
static int run_round(bench *b, size_case *cases, int n, int round) {
  for (int i = 0; i < n; i++) {
    if (round >= cases[i].rounds)
      continue;
    for (int k = 0; k < WAYS; k++)
      if (one_run(b, &cases[i], (round + k) % WAYS, round) < 0)
        return -1;
  }
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_summary(const size_case *c) {
  int n = c->rounds;
  printf("%6lld MiB  %-16s %9s  %-26s %8s %9s %5s %9s %9s\n", (long long)(c->bytes / MIB), "",
         "MB/s med", "MB/s per round", "worker/raw", "cpu ms/MB", "parts", "peak RSS", "server");
  for (int way = 0; way < WAYS; way++) {
    double mbps[ROUNDS_MAX], ratio[ROUNDS_MAX], cpu[ROUNDS_MAX];
    long rss = 0, server = 0;
    char rounds[128] = "";
    for (int i = 0; i < n; i++) {
      const run *r = &c->runs[way][i];
      mbps[i] = r->mbps;
      ratio[i] = r->mbps / c->runs[WAY_RAW][i].mbps;
      cpu[i] = r->cpu_ms_per_mb;
      rss = r->rss_kb > rss ? r->rss_kb : rss;
      server = r->server_kb > server ? r->server_kb : server;
      size_t len = strlen(rounds);
      snprintf(rounds + len, sizeof(rounds) - len, "%s%.1f", i ? " " : "", r->mbps);
    }
    char ratio_text[32] = "-";
    if (way != WAY_RAW)
      snprintf(ratio_text, sizeof(ratio_text), "%.3f", median(ratio, n));
    printf("%10s  %-16s %9.1f  %-26s %8s %9.3f %5d %6.1f MB %6.1f MB\n", "", way_name[way],
           median(mbps, n), rounds, ratio_text, median(cpu, n), c->runs[way][0].parts,
           (double)rss / 1024, (double)server / 1024);
  }
}

static void bench_open(bench *b) {
  b->endpoint = bw_strdup(need_env("STACK_S3_ENDPOINT"));
  size_t len = strlen(b->endpoint);
  while (len > 0 && b->endpoint[len - 1] == '/')
    b->endpoint[--len] = '\0';
  b->bucket = need_env("STACK_S3_BUCKET");
  b->sigv4 = bw_strdup_printf("aws:amz:%s:s3", need_env("STACK_S3_REGION"));
  /* curl's config syntax: inside quotes, '\' and '"' are escaped. */
  const char *id = need_env("STACK_S3_ACCESS_KEY_ID"),
             *secret = need_env("STACK_S3_SECRET_ACCESS_KEY");
  cleanup_free char *pair = bw_strdup_printf("%s:%s", id, secret);
  cleanup_free char *quoted = bw_xmalloc(strlen(pair) * 2 + 1);
  char *q = quoted;
  for (const char *p = pair; *p; p++) {
    if (*p == '\\' || *p == '"')
      *q++ = '\\';
    *q++ = *p;
  }
  *q = '\0';
  b->curl_config = bw_strdup_printf("user = \"%s\"\n", quoted);
  explicit_bzero(pair, strlen(pair));
  const char *pid = getenv("BW_BENCH_S3_SERVER_PID");
  b->server_pid = pid && *pid ? (pid_t)atoi(pid) : 0;
  open_stores(b);
}

static void bench_close(bench *b, size_case *cases, int n) {
  for (int i = 0; i < n; i++) {
    if (cases[i].path)
      unlink(cases[i].path);
    free(cases[i].path);
  }
  for (int way = WAY_PART_16M; way < WAYS; way++) {
    artifact_store_free(b->store[way]);
    bw_config_free(&b->cfg[way]);
  }
  explicit_bzero(b->curl_config, strlen(b->curl_config));
  free(b->curl_config);
  free(b->sigv4);
  free(b->endpoint);
}

static int env_int(const char *name, int fallback, int max) {
  const char *v = getenv(name);
  int n = v && *v ? atoi(v) : fallback;
  return n < 1 ? 1 : n > max ? max : n;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *big_env = getenv("BW_BENCH_S3_BIG");
  bool big = big_env && strcmp(big_env, "1") == 0;
  size_case cases[SIZES_MAX + 1];
  memset(cases, 0, sizeof(cases));
  int n = 0, rounds = env_int("BW_BENCH_S3_ROUNDS", 3, ROUNDS_MAX);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--big") == 0)
      big = true;
    else if (n < SIZES_MAX && atoll(argv[i]) > 0)
      cases[n++] = (size_case){.bytes = atoll(argv[i]) * MIB, .rounds = rounds};
    else {
      fprintf(stderr, "usage: bench_s3 [--big] [SIZE_MIB ...]\n");
      return 2;
    }
  }
  static const int64_t defaults[] = {16 * MIB, 64 * MIB, 256 * MIB};
  for (size_t i = 0; n == 0 && i < sizeof(defaults) / sizeof(defaults[0]); i++)
    cases[i] = (size_case){.bytes = defaults[i], .rounds = rounds};
  if (n == 0)
    n = (int)(sizeof(defaults) / sizeof(defaults[0]));

  bench b = {0};
  const char *base = getenv("BW_BENCH_S3_DIR");
  cleanup_free char *dir_template =
      bw_strdup_printf("%s/bench-s3-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(dir_template)) {
    perror("mkdtemp");
    return 1;
  }
  b.dir = dir_template;
  const char *prefix = getenv("BW_BENCH_S3_PREFIX");
  cleanup_free char *own_prefix =
      bw_strdup_printf("bench-s3/%d-%ld", (int)getpid(), (long)time(NULL));
  b.prefix = prefix && *prefix ? prefix : own_prefix;
  bench_open(&b);
  if (big && !room_for_big(&b, BIG_SIZE)) {
    fprintf(stderr, "bench_s3: no room for the 5 GiB file here (see above)\n");
    bench_close(&b, cases, 0);
    rmdir(b.dir);
    return 1;
  }
  printf("S3 server %s, bucket %s, objects under %s/ (each deleted after its upload)\n", b.endpoint,
         b.bucket, b.prefix);
  if (b.server_pid)
    printf("server process %d: VmRSS %.1f MB before the run\n", (int)b.server_pid,
           (double)status_kb(b.server_pid, "VmRSS") / 1024);
  for (int i = 0; i < n; i++)
    make_file(&b, &cases[i]);
  printf("rounds: %d, interleaved (the order of raw and worker rotates each round); "
         "VmHWM of this process at start %.1f MB\n",
         rounds, (double)status_kb(0, "VmHWM") / 1024);
  warm_up(&b, &cases[0]);
  int rc = 0;
  for (int round = 0; rc == 0 && round < rounds; round++)
    rc = run_round(&b, cases, n, round);
  int all = n;
  if (rc == 0 && big) {
    cases[all] =
        (size_case){.bytes = BIG_SIZE, .rounds = env_int("BW_BENCH_S3_BIG_ROUNDS", 1, ROUNDS_MAX)};
    make_file(&b, &cases[all]);
    all++;
    for (int round = 0; rc == 0 && round < cases[n].rounds; round++)
      rc = run_round(&b, &cases[n], 1, round);
  }
  if (rc == 0) {
    printf("\nsummary (median over the rounds; worker/raw: the median of each round's ratio)\n");
    for (int i = 0; i < all; i++)
      print_summary(&cases[i]);
  }
  bench_close(&b, cases, all);
  rmdir(b.dir);
  return rc == 0 ? 0 : 1;
}

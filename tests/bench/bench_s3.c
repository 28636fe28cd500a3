/* Benchmark: upload throughput of the worker's s3:// artifact store against
 * raw single PUTs of the same bytes to the same S3 server (STACK_S3_* of
 * stack.env), interleaved so both see the same machine. Prints figures.
 *
 *   bench_s3 [--big] [SIZE_MIB ...]      (default: 16 64 256; tests/bench/bench_s3.sh)
 *   BW_BENCH_S3_ROUNDS=3                 rounds over the sizes
 *   BW_BENCH_S3_BIG=1 (or --big)         + 5 GiB if there is room (_BIG_MIB=5120, _BIG_ROUNDS=1)
 *   BW_BENCH_S3_SERVER_PID=PID           the S3 server's process, whose VmRSS is sampled
 *   BW_BENCH_S3_PREFIX=bench-s3/ID       where the objects go (each deleted after its upload)
 *   BW_BENCH_S3_DIR=/tmp                 where the files are made
 *
 * The baseline, like `aws s3 cp`: one curl --aws-sigv4 -T FILE with the
 * sha256 known beforehand (a new curl each time: its start is in its
 * figure). The worker: artifact_store_put_fd with the sha256 known, as the
 * pipeline calls it, at part sizes 16 MiB and 64 MiB (the default).
 *
 * MB is 10^6 bytes. cpu: user + system time per MB, of this process for the
 * worker (getrusage), of curl for the baseline. VmHWM: this process's peak
 * RSS during the upload (reset before it by /proc/self/clear_refs). server:
 * the server's peak VmRSS during the upload (sampled every 20 ms). */
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
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MIB (1024LL * 1024LL)
#define GIB (1024LL * MIB)
#define ROUNDS_MAX 20
#define SIZES_MAX 16
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

enum { WAY_RAW, WAY_PART_16M, WAY_PART_64M, WAYS };
static const char *const way_part[WAYS] = {"", "16777216", "67108864"};
static const char *const way_name[WAYS] = {"raw curl PUT", "worker part 16M", "worker part 64M"};
static const char *const way_tag[WAYS] = {"raw", "w16", "w64"};

typedef struct run {
  double mbps;
  double cpu_ms_per_mb;
  long rss_kb;    /* worker: VmHWM during the upload; raw: 0 */
  long server_kb; /* the server's peak VmRSS; 0 when not watched */
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

static void die(const char *what, const char *why) {
  fprintf(stderr, "bench_s3: %s: %s\n", what, why);
  exit(1);
}

static const char *need_env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v)
    die(name, "not set (source $STACK_HOME/stack.env)");
  return v;
}

/* A "Name: 123 kB" field of /proc/PID/status (pid 0: this process) or of
 * /proc/meminfo (pid -1); 0 when missing. */
static long proc_kb(pid_t pid, const char *field) {
  char path[64] = "/proc/meminfo";
  if (pid >= 0)
    snprintf(path, sizeof(path), "/proc/%d/status", pid ? (int)pid : (int)getpid());
  cleanup_fclose FILE *f = fopen(path, "r");
  char line[256];
  size_t n = strlen(field);
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, field, n) == 0 && line[n] == ':')
      return strtol(line + n + 1, NULL, 10);
  return 0;
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
    long kb = proc_kb(w->pid, "VmRSS");
    w->peak_kb = kb > w->peak_kb ? kb : w->peak_kb;
    nanosleep(&tick, NULL);
  } while (!atomic_load(&w->stop));
  return NULL;
}

static void watch_start(watch *w, pid_t pid) {
  *w = (watch){.pid = pid};
  if (pid > 0 && pthread_create(&w->thread, NULL, watch_loop, w) != 0)
    w->pid = 0;
}

static long watch_stop(watch *w) {
  if (w->pid <= 0)
    return 0;
  atomic_store(&w->stop, true);
  pthread_join(w->thread, NULL);
  return w->peak_kb;
}

/* ---- curl: the baseline and the deletes --------------------------------------------- */

/* curl --aws-sigv4, the credentials on its stdin (-K -), never on its command line: a PUT
 * of path (-T) whose sha256 is sha, or a DELETE (path NULL). 0: curl exited 0 (--fail). */
static int curl_s3(const bench *b, const char *key, const char *path, const char *sha,
                   struct rusage *ru) {
  cleanup_free char *url = bw_strdup_printf("%s/%s/%s", b->endpoint, b->bucket, key);
  cleanup_free char *hdr = bw_strdup_printf("x-amz-content-sha256: %s", sha ? sha : EMPTY_SHA256);
  char *argv[] = {"curl", "-sS", "--fail", "--aws-sigv4", b->sigv4, "-K", "-",
                  "-H",   hdr,   "-X",     "DELETE",      url,      NULL};
  argv[9] = path ? "-T" : "-X"; /* a PUT of path, or a DELETE */
  argv[10] = path ? (char *)path : "DELETE";
  int in[2];
  if (pipe2(in, O_CLOEXEC) < 0)
    die("pipe2", strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, "curl", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  if (rc != 0)
    die("spawn curl", strerror(rc));
  size_t len = strlen(b->curl_config); /* far less than a pipe holds */
  if (write(in[1], b->curl_config, len) != (ssize_t)len)
    perror("bench_s3: write to curl");
  close(in[1]);
  int status = 0;
  struct rusage ignored;
  if (wait4(pid, &status, 0, ru ? ru : &ignored) < 0 || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    fprintf(stderr, "bench_s3: curl %s %s failed\n", path ? "PUT" : "DELETE", key);
    return -1;
  }
  return 0;
}

static int raw_put(bench *b, const size_case *c, const char *key, run *r) {
  struct rusage ru = {0};
  watch w;
  watch_start(&w, b->server_pid);
  double t0 = now_s();
  int rc = curl_s3(b, key, c->path, c->sha, &ru);
  double secs = now_s() - t0, mb = (double)c->bytes / 1e6;
  /* No RSS: curl's ru_maxrss counts this process's, which it shared until its exec. */
  *r = (run){.mbps = mb / secs,
             .cpu_ms_per_mb = cpu_of(&ru) * 1000 / mb,
             .server_kb = watch_stop(&w),
             .parts = 1};
  return rc;
}

/* ---- the worker's store ------------------------------------------------------------- */

static void reset_peak_rss(void) {
  cleanup_close int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd >= 0 && write(fd, "5", 1) < 0) /* 5: VmHWM back to VmRSS */
    perror("bench_s3: clear_refs");
}

static int worker_put(bench *b, int way, const size_case *c, const char *key, run *r) {
  cleanup_close int fd = open(c->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    die(c->path, strerror(errno));
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
  double mb = (double)c->bytes / 1e6;
  *r = (run){.mbps = mb / secs,
             .cpu_ms_per_mb = (cpu_of(&after) - cpu_of(&before)) * 1000 / mb,
             .rss_kb = proc_kb(0, "VmHWM"),
             .server_kb = watch_stop(&w),
             .parts = stored.parts};
  artifact_stored_free(&stored);
  if (rc < 0)
    fprintf(stderr, "bench_s3: %s: %s\n", way_name[way], bw_error_msg(&err));
  return rc;
}

static void open_stores(bench *b) {
  cleanup_free char *url = bw_strdup_printf("s3://%s/%s/", b->bucket, b->prefix);
  for (int way = WAY_PART_16M; way < WAYS; way++) {
    const char *settings[][2] = {{"artifacts.url", url},
                                 {"artifacts.s3.endpoint", b->endpoint},
                                 {"artifacts.s3.region", need_env("STACK_S3_REGION")},
                                 {"artifacts.s3.access.key.env", "STACK_S3_ACCESS_KEY_ID"},
                                 {"artifacts.s3.secret.key.env", "STACK_S3_SECRET_ACCESS_KEY"},
                                 {"artifacts.s3.part.size", way_part[way]}};
    bw_config_init(&b->cfg[way]);
    cleanup_error bw_error_t err = NULL;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(settings) / sizeof(settings[0]); i++)
      rc = bw_config_set(&b->cfg[way], settings[i][0], settings[i][1], "bench", &err);
    if (rc < 0 || artifact_store_open_config(&b->cfg[way], NULL, &b->store[way], &err) < 0)
      die("store", bw_error_msg(&err));
  }
}

/* ---- the files ---------------------------------------------------------------------- */

/* `bytes` pseudo-random bytes (a splitmix-like sequence: they do not compress), and their sha256.
 */
static void make_file(const bench *b, size_case *c) {
  c->path = bw_strdup_printf("%s/data-%lld", b->dir, (long long)c->bytes);
  cleanup_close int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  cleanup_free uint64_t *buf = bw_xmalloc(MIB);
  uint64_t s = 0x9e3779b97f4a7c15ull ^ (uint64_t)c->bytes;
  for (int64_t done = 0; done < c->bytes;) {
    for (size_t i = 0; i < MIB / sizeof(uint64_t); i++) {
      uint64_t z = (s += 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
      buf[i] = z ^ (z >> 31);
    }
    size_t want = c->bytes - done < MIB ? (size_t)(c->bytes - done) : (size_t)MIB;
    ssize_t n = fd < 0 ? -1 : write(fd, buf, want);
    if (n <= 0)
      die(c->path, strerror(errno));
    done += n;
  }
  double t0 = now_s();
  cleanup_error bw_error_t err = NULL;
  if (digest_sha256_file(c->path, c->sha, NULL, &err) < 0)
    die("sha256", bw_error_msg(&err));
  printf("file %lld MiB made; its sha256 takes %.0f MB/s here (page cache)\n",
         (long long)(c->bytes / MIB), (double)c->bytes / 1e6 / (now_s() - t0));
}

/* Room for the big file, and for what the server keeps of it: moto spools
 * each object and part to a file under /tmp, but holds a PUT's body and
 * the joined parts of a multipart upload in memory: 2.2x to 2.3x the size at
 * its peak (measured at 2 GiB), 3.5x at 1 GiB in a server that held 1 GiB. */
static bool room_for_big(const bench *b, int64_t bytes) {
  struct statvfs here, spool;
  if (statvfs(b->dir, &here) < 0 || statvfs("/tmp", &spool) < 0)
    return false;
  double gib = (double)GIB, size = (double)bytes;
  double free_here = (double)here.f_bavail * (double)here.f_frsize;
  double free_spool = (double)spool.f_bavail * (double)spool.f_frsize;
  bool same = here.f_fsid == spool.f_fsid; /* then the file and the spool add up */
  double need_here = size + gib + (same ? 2 * size : 0), need_spool = 2 * size + gib;
  double mem = (double)proc_kb(-1, "MemAvailable") * 1024, need_mem = 3 * size + 2 * gib;
  printf("%.1f GiB check: %.1f GiB free in %s (need %.1f), %.1f GiB in /tmp%s (need %.1f); "
         "%.1f GiB of memory available (need %.1f)\n",
         size / gib, free_here / gib, b->dir, need_here / gib, free_spool / gib,
         same ? ", the same" : "", need_spool / gib, mem / gib, need_mem / gib);
  return free_here >= need_here && free_spool >= need_spool && mem >= need_mem;
}

/* ---- rounds and figures ------------------------------------------------------------- */

static int one_run(bench *b, size_case *c, int way, int round) {
  cleanup_free char *name =
      bw_strdup_printf("%s-%lldM-r%d", way_tag[way], (long long)(c->bytes / MIB), round + 1);
  cleanup_free char *object = bw_strdup_printf("%s/%s", b->prefix, name);
  run *r = &c->runs[way][round];
  int rc = way == WAY_RAW ? raw_put(b, c, object, r) : worker_put(b, way, c, name, r);
  curl_s3(b, object, NULL, NULL, NULL); /* also after a failure: a PUT may have landed */
  char rss[32] = "-";
  if (way != WAY_RAW)
    snprintf(rss, sizeof(rss), "%.1f MB", (double)r->rss_kb / 1024);
  printf("r%d %6lld MiB  %-16s %8.1f MB/s  cpu %6.3f ms/MB  parts %4d  VmHWM %9s  server %7.1f "
         "MB%s\n",
         round + 1, (long long)(c->bytes / MIB), way_name[way], r->mbps, r->cpu_ms_per_mb, r->parts,
         rss, (double)r->server_kb / 1024, rc == 0 ? "" : "  (FAILED: the attempt's figures)");
  return rc;
}

/* Every way once per round, in an order that rotates with the round so
 * that drift hits each alike. */
static int run_round(bench *b, size_case *cases, int n, int round) {
  for (int i = 0; i < n; i++)
    for (int k = 0; k < WAYS; k++)
      if (one_run(b, &cases[i], (round + k) % WAYS, round) < 0)
        return -1;
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
  printf("%6lld MiB  %-16s %8s  %-24s %10s %9s %5s %9s %9s\n", (long long)(c->bytes / MIB), "",
         "MB/s", "MB/s per round", "worker/raw", "cpu ms/MB", "parts", "peak RSS", "server");
  for (int way = 0; way < WAYS; way++) {
    double mbps[ROUNDS_MAX], ratio[ROUNDS_MAX], cpu[ROUNDS_MAX];
    long rss = 0, server = 0;
    char rounds[128] = "", ratio_text[32] = "-", rss_text[32] = "-";
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
    if (way != WAY_RAW) {
      snprintf(ratio_text, sizeof(ratio_text), "%.3f", median(ratio, n));
      snprintf(rss_text, sizeof(rss_text), "%.1f MB", (double)rss / 1024);
    }
    printf("%10s  %-16s %8.1f  %-24s %10s %9.3f %5d %9s %6.1f MB\n", "", way_name[way],
           median(mbps, n), rounds, ratio_text, median(cpu, n), c->runs[way][0].parts, rss_text,
           (double)server / 1024);
  }
}

static void bench_open(bench *b, const char *dir, const char *prefix) {
  b->dir = dir;
  b->prefix = prefix;
  b->endpoint = bw_strdup(need_env("STACK_S3_ENDPOINT"));
  for (size_t len = strlen(b->endpoint); len > 0 && b->endpoint[len - 1] == '/';)
    b->endpoint[--len] = '\0';
  b->bucket = need_env("STACK_S3_BUCKET");
  b->sigv4 = bw_strdup_printf("aws:amz:%s:s3", need_env("STACK_S3_REGION"));
  /* curl's config syntax: inside quotes, '\' and '"' are escaped. */
  cleanup_free char *pair = bw_strdup_printf("%s:%s", need_env("STACK_S3_ACCESS_KEY_ID"),
                                             need_env("STACK_S3_SECRET_ACCESS_KEY"));
  char *q = b->curl_config = bw_xcalloc(strlen(pair) * 2 + 16, 1);
  q = stpcpy(q, "user = \"");
  for (const char *p = pair; *p; *q++ = *p++)
    if (*p == '\\' || *p == '"')
      *q++ = '\\';
  strcpy(q, "\"\n");
  explicit_bzero(pair, strlen(pair));
  const char *pid = getenv("BW_BENCH_S3_SERVER_PID");
  b->server_pid = pid && *pid ? (pid_t)atoi(pid) : 0;
  open_stores(b);
}

static void bench_close(bench *b, size_case *cases, int n) {
  for (int i = 0; i < n; i++) { /* each case below n has its file */
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
  rmdir(b->dir);
}

static int env_int(const char *name, int fallback) {
  const char *v = getenv(name);
  int n = v && *v ? atoi(v) : fallback;
  return n < 1 ? 1 : n > ROUNDS_MAX ? ROUNDS_MAX : n;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *big_env = getenv("BW_BENCH_S3_BIG");
  bool big = big_env && strcmp(big_env, "1") == 0;
  int rounds = env_int("BW_BENCH_S3_ROUNDS", 3), n = 0;
  size_case cases[SIZES_MAX + 1] = {{0}};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--big") == 0) {
      big = true;
    } else if (n < SIZES_MAX && atoll(argv[i]) > 0) {
      cases[n++] = (size_case){.bytes = atoll(argv[i]) * MIB, .rounds = rounds};
    } else {
      fprintf(stderr, "usage: bench_s3 [--big] [SIZE_MIB ...]\n");
      return 2;
    }
  }
  static const int64_t defaults[] = {16 * MIB, 64 * MIB, 256 * MIB};
  if (n == 0)
    for (int i = 0; i < 3; i++)
      cases[n++] = (size_case){.bytes = defaults[i], .rounds = rounds};

  const char *base = getenv("BW_BENCH_S3_DIR"), *prefix = getenv("BW_BENCH_S3_PREFIX");
  cleanup_free char *dir = bw_strdup_printf("%s/bench-s3-XXXXXX", base && *base ? base : "/tmp");
  cleanup_free char *own_prefix =
      bw_strdup_printf("bench-s3/%d-%ld", (int)getpid(), (long)time(NULL));
  bench b = {0};
  bench_open(&b, dir, prefix && *prefix ? prefix : own_prefix); /* exits without the folder */
  if (!mkdtemp(dir))
    die("mkdtemp", strerror(errno));
  const char *big_mib = getenv("BW_BENCH_S3_BIG_MIB");
  int64_t big_size = big_mib && atoll(big_mib) > 0 ? atoll(big_mib) * MIB : 5 * GIB;
  if (big && !room_for_big(&b, big_size)) {
    bench_close(&b, cases, 0);
    die("the big file", "no room for it here (above)");
  }
  printf("S3 server %s, bucket %s, objects under %s/ (each deleted after its upload)\n", b.endpoint,
         b.bucket, b.prefix);
  for (int i = 0; i < n; i++)
    make_file(&b, &cases[i]);
  printf("rounds: %d, interleaved (the order rotates each round); VmRSS: this process %.1f MB, "
         "the server (pid %d) %.1f MB\n",
         rounds, (double)proc_kb(0, "VmRSS") / 1024, (int)b.server_pid,
         b.server_pid > 0 ? (double)proc_kb(b.server_pid, "VmRSS") / 1024 : 0.0);
  /* Both paths once, unmeasured: the server's first objects, the page cache. */
  run warm;
  cleanup_free char *warm_key = bw_strdup_printf("%s/warm-up", b.prefix);
  raw_put(&b, &cases[0], warm_key, &warm);
  worker_put(&b, WAY_PART_16M, &cases[0], "warm-up", &warm); /* the same key */
  curl_s3(&b, warm_key, NULL, NULL, NULL);

  int rc = 0, all = n;
  for (int round = 0; rc == 0 && round < rounds; round++)
    rc = run_round(&b, cases, n, round);
  if (rc == 0 && big) {
    cases[all++] = (size_case){.bytes = big_size, .rounds = env_int("BW_BENCH_S3_BIG_ROUNDS", 1)};
    make_file(&b, &cases[n]);
    for (int round = 0; rc == 0 && round < cases[n].rounds; round++)
      rc = run_round(&b, &cases[n], 1, round);
  }
  if (rc == 0) {
    printf("\nsummary (medians over the rounds; worker/raw: the median of each round's ratio; "
           "peak RSS: the worker's VmHWM)\n");
    for (int i = 0; i < all; i++)
      print_summary(&cases[i]);
    if (b.server_pid > 0)
      printf("server process %d: VmRSS %.1f MB after the run\n", (int)b.server_pid,
             (double)proc_kb(b.server_pid, "VmRSS") / 1024);
  }
  bench_close(&b, cases, all);
  return rc == 0 ? 0 : 1;
}

/* Benchmark: wall time per job of `bundle-worker run` on a container that
 * runs `true`, against the same lifecycle done with raw Engine API calls
 * (create, start, wait, remove), interleaved in one run so both see the same
 * machine. Prints figures; it is not a test and asserts nothing.
 *
 *   bench_run BUNDLE_WORKER_BIN REQUEST.json IMAGE [ITERATIONS]
 * The environment must configure bundle-worker (BUNDLE_WORKER_CONFIG, ...). */
#include "core/cleanup.h"
#include "clients/docker_client.h"
#include "core/timeutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double mean(const double *v, int n) {
  double s = 0;
  for (int i = 0; i < n; i++)
    s += v[i];
  return s / n;
}

static double raw_lifecycle(docker_client *dc, const char *image, const char *data_dir) {
  int64_t t0 = bw_time_monotonic_ms();
  bw_error_t err = NULL;
  /* The same container the worker creates for bundle.true (no network, the
   * same limits, user, init process, /data bound, labels): only the runner
   * around it differs. */
  cleanup_free char *bind = bw_strdup_printf("%s:/data", data_dir);
  cleanup_json json_t *body = json_pack(
      "{s:s, s:[s], s:b, s:s, s:s, s:{s:s}, s:{s:s, s:I, s:I, s:I, s:I, s:b, s:[s], s:[s], "
      "s:[s]}}",
      "Image", image, "Cmd", "/bin/true", "NetworkDisabled", 1, "User", "65534:65534", "WorkingDir",
      "/data", "Labels", "io.bundle-worker.bench", "raw", "HostConfig", "NetworkMode", "none",
      "Memory", (json_int_t)(64 << 20), "MemorySwap", (json_int_t)(64 << 20), "NanoCpus",
      (json_int_t)1000000000, "PidsLimit", (json_int_t)1024, "Init", 1, "CapDrop", "ALL",
      "SecurityOpt", "no-new-privileges", "Binds", bind);
  cleanup_docker_response docker_response created;
  if (docker_call_ok(dc, "POST", "/containers/create", body, &created, &err) < 0) {
    fprintf(stderr, "raw create: %s\n", bw_error_msg(&err));
    exit(1);
  }
  const char *id = json_string_value(json_object_get(created.json, "Id"));
  cleanup_free char *start = bw_strdup_printf("/containers/%s/start", id);
  cleanup_free char *wait = bw_strdup_printf("/containers/%s/wait", id);
  cleanup_free char *rm = bw_strdup_printf("/containers/%s?force=1", id);
  cleanup_docker_response docker_response r1, r2, r3;
  if (docker_call_ok(dc, "POST", start, NULL, &r1, &err) < 0 ||
      docker_call_ok(dc, "POST", wait, NULL, &r2, &err) < 0 ||
      docker_call_ok(dc, "DELETE", rm, NULL, &r3, &err) < 0) {
    fprintf(stderr, "raw lifecycle: %s\n", bw_error_msg(&err));
    exit(1);
  }
  return (double)(bw_time_monotonic_ms() - t0);
}

static double worker_run(const char *bin, const char *request) {
  int64_t t0 = bw_time_monotonic_ms();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  char *argv[] = {(char *)bin, "run", (char *)request, NULL};
  pid_t pid;
  if (posix_spawn(&pid, bin, &fa, NULL, argv, environ) != 0) {
    perror("spawn bundle-worker");
    exit(1);
  }
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "bundle-worker run failed (status %d)\n", status);
    exit(1);
  }
  return (double)(bw_time_monotonic_ms() - t0);
}

typedef struct raw_pool {
  const char *image;
  const char *data_dir;
  const char *socket;
  atomic_int next;
  int total;
} raw_pool;

static void *raw_worker(void *arg) {
  raw_pool *pool = arg;
  bw_error_t err = NULL;
  docker_client *dc = NULL;
  if (docker_client_open(&dc, pool->socket, 60000, &err) < 0) {
    fprintf(stderr, "%s\n", bw_error_msg(&err));
    exit(1);
  }
  while (atomic_fetch_add(&pool->next, 1) < pool->total)
    raw_lifecycle(dc, pool->image, pool->data_dir);
  docker_client_free(dc);
  return NULL;
}

/* bench_run --raw-concurrent IMAGE JOBS CONCURRENCY: the raw lifecycle of
 * JOBS containers on CONCURRENCY threads; prints jobs per second. */
static int raw_concurrent(const char *image, int jobs, int concurrency) {
  char data_dir[] = "/tmp/bench-data-XXXXXX";
  if (!mkdtemp(data_dir))
    return 1;
  const char *sock = getenv("BUNDLE_WORKER_DOCKER_SOCKET");
  raw_pool pool = {.image = image,
                   .data_dir = data_dir,
                   .socket = sock ? sock : "/var/run/docker.sock",
                   .total = jobs};
  pthread_t *threads = calloc((size_t)concurrency, sizeof(pthread_t));
  int64_t t0 = bw_time_monotonic_ms();
  for (int i = 0; i < concurrency; i++)
    pthread_create(&threads[i], NULL, raw_worker, &pool);
  for (int i = 0; i < concurrency; i++)
    pthread_join(threads[i], NULL);
  double secs = (double)(bw_time_monotonic_ms() - t0) / 1000.0;
  printf("%.3f\n", jobs / secs);
  free(threads);
  rmdir(data_dir);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "--raw-concurrent") == 0)
    return raw_concurrent(argv[2], atoi(argv[3]), atoi(argv[4]));
  if (argc < 4) {
    fprintf(stderr, "usage: bench_run BUNDLE_WORKER_BIN REQUEST.json IMAGE [ITERATIONS]\n");
    return 2;
  }
  int n = argc > 4 ? atoi(argv[4]) : 20;
  if (n < 2)
    n = 2;
  const char *sock = getenv("BUNDLE_WORKER_DOCKER_SOCKET");
  bw_error_t err = NULL;
  docker_client *dc = NULL;
  if (docker_client_open(&dc, sock ? sock : "/var/run/docker.sock", 60000, &err) < 0) {
    fprintf(stderr, "%s\n", bw_error_msg(&err));
    return 1;
  }
  char data_dir[] = "/tmp/bench-data-XXXXXX";
  if (!mkdtemp(data_dir)) {
    perror("mkdtemp");
    return 1;
  }
  /* Warm both paths once (image present, caches warm). */
  raw_lifecycle(dc, argv[3], data_dir);
  worker_run(argv[1], argv[2]);
  double *raw = calloc((size_t)n, sizeof(double));
  double *ours = calloc((size_t)n, sizeof(double));
  for (int i = 0; i < n; i++) {
    /* Alternate which goes first so drift hits both alike. */
    if (i % 2 == 0) {
      raw[i] = raw_lifecycle(dc, argv[3], data_dir);
      ours[i] = worker_run(argv[1], argv[2]);
    } else {
      ours[i] = worker_run(argv[1], argv[2]);
      raw[i] = raw_lifecycle(dc, argv[3], data_dir);
    }
  }
  double raw_mean = mean(raw, n), ours_mean = mean(ours, n);
  double raw_median = median(raw, n), ours_median = median(ours, n);
  printf("iterations: %d (interleaved)\n", n);
  printf("raw Engine API lifecycle (create, start, wait, remove): mean %.0f ms, median %.0f ms\n",
         raw_mean, raw_median);
  printf("bundle-worker run (whole job, process start to exit):  mean %.0f ms, median %.0f ms\n",
         ours_mean, ours_median);
  printf("ratio bundle-worker / raw: mean %.3f, median %.3f (target <= 1.15)\n",
         ours_mean / raw_mean, ours_median / raw_median);
  free(raw);
  free(ours);
  rmdir(data_dir);
  docker_client_free(dc);
  return 0;
}

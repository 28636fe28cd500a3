#include "service/pull_locks.h"

#include "core/random_id.h"

#include "core/cleanup.h"
#include "clients/redis_store.h"
#include "core/timeutil.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- the locks ---- */

/* SET NX PX; a key that already carries our token (a release that could not
 * reach Redis, or a refresh) is ours: extend it. 1 extended, 2 set, 0 held
 * by another token. */
static const char take_script[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end\n"
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 2 end\n"
    "return 0\n";

static const char release_script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                     "  return redis.call('DEL', KEYS[1])\n"
                                     "end\n"
                                     "return 0\n";

typedef enum hold_state {
  HOLD_ACQUIRING, /* the owner is polling for the Redis key */
  HOLD_REDIS,     /* held, Redis key included */
  HOLD_LOCAL,     /* held in-process only: Redis failed */
  HOLD_RELEASING, /* the owner is deleting the Redis key */
} hold_state;

/* One per image being acquired or held by a thread of this process; while it
 * exists, other threads asking for the image wait. */
typedef struct hold {
  struct hold *next;
  char *image;
  char *key;
  pthread_t owner;
  hold_state state;
  bool refreshing; /* pull_locks_refresh works on it: release waits */
  bool lost;       /* the last refresh found another token on the key */
} hold;

struct pull_locks {
  const bw_logger *log;
  char *host;
  char *prefix;
  char token[33];
  redis_store_conn conn;
  pthread_mutex_t mu; /* guards holds and stats; never held during Redis I/O */
  pthread_cond_t changed;
  hold *holds;
  pull_locks_stats stats;
};

pull_locks *pull_locks_new(const bw_config *cfg, const bw_logger *log, const char *host,
                           const char *prefix) {
  pull_locks *pl = bw_xcalloc(1, sizeof(*pl));
  cleanup_error bw_error_t err = NULL;
  if (bw_random_id(pl->token, &err) < 0) {
    bw_log_error(log, "pull locks: %s", bw_error_msg(&err));
    free(pl);
    return NULL;
  }
  pl->log = log;
  pl->host = bw_strdup(host);
  pl->prefix = bw_strdup(prefix);
  redis_store_conn_init(&pl->conn, cfg, log, "image pulls are serialised in this process only");
  pthread_mutex_init(&pl->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&pl->changed, &attr);
  pthread_condattr_destroy(&attr);
  return pl;
}

static hold *hold_find(pull_locks *pl, const char *image) {
  for (hold *h = pl->holds; h; h = h->next)
    if (strcmp(h->image, image) == 0)
      return h;
  return NULL;
}

static void hold_unlink(pull_locks *pl, hold *h) {
  for (hold **pp = &pl->holds; *pp; pp = &(*pp)->next) {
    if (*pp == h) {
      *pp = h->next;
      return;
    }
  }
}

static void hold_free(hold *h) {
  free(h->image);
  free(h->key);
  free(h);
}

/* Waits on pl->changed (pl->mu held) for at most `ms`. */
static void wait_changed(pull_locks *pl, int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  pthread_cond_timedwait(&pl->changed, &pl->mu, &ts);
}

/* 1 extended, 2 set, 0 another token holds it, -1 Redis failed. */
static int key_take(pull_locks *pl, const char *key, bw_error_t *err) {
  char ttl[24];
  snprintf(ttl, sizeof(ttl), "%ld", PULL_LOCKS_TTL_MS);
  const char *argv[] = {"EVAL", take_script, "1", key, pl->token, ttl};
  cleanup_redis_reply redisReply *r = redis_store_conn_run(&pl->conn, 6, argv, err);
  if (!r)
    return -1;
  if (r->type != REDIS_REPLY_INTEGER)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "redis EVAL: unexpected reply type %d", r->type);
  return (int)r->integer;
}

static int key_release(pull_locks *pl, const char *key, bw_error_t *err) {
  const char *argv[] = {"EVAL", release_script, "1", key, pl->token};
  cleanup_redis_reply redisReply *r = redis_store_conn_run(&pl->conn, 5, argv, err);
  return r ? 0 : -1;
}

static int64_t poll_interval_ms(void) {
  unsigned char b = 0;
  if (getrandom(&b, 1, GRND_NONBLOCK) != 1)
    b = 128;
  return PULL_LOCKS_POLL_MIN_MS + b * (PULL_LOCKS_POLL_MAX_MS - PULL_LOCKS_POLL_MIN_MS) / 255;
}

static int wait_error(const char *image, long wait_timeout_ms, const bw_cancel *cancel,
                      bw_error_t *err) {
  if (bw_cancel_level(cancel))
    return bw_error_set(err, BW_ERR_CANCELLED, "pull lock %s: cancelled while waiting", image);
  return bw_error_set(err, BW_ERR_TIMEOUT, "pull lock %s: still held by another pull after %ld ms",
                      image, wait_timeout_ms);
}

/* Step 1: become the one thread of this process that works on `image`. */
static hold *claim_in_process(pull_locks *pl, const char *image, int64_t deadline,
                              const bw_cancel *cancel, bool *waited) {
  pthread_mutex_lock(&pl->mu);
  while (hold_find(pl, image)) {
    *waited = true;
    int64_t left = deadline - bw_time_monotonic_ms();
    if ((bw_cancel_level(cancel)) || left <= 0) {
      pthread_mutex_unlock(&pl->mu);
      return NULL;
    }
    wait_changed(pl, left < PULL_LOCKS_POLL_MIN_MS ? left : PULL_LOCKS_POLL_MIN_MS);
  }
  hold *h = bw_xcalloc(1, sizeof(*h));
  h->image = bw_strdup(image);
  h->key = bw_strdup_printf("%spull:%s:%s", pl->prefix, pl->host, image);
  h->owner = pthread_self();
  h->state = HOLD_ACQUIRING;
  h->next = pl->holds;
  pl->holds = h;
  pthread_mutex_unlock(&pl->mu);
  return h;
}

/* Step 2: the Redis key. 1 held in Redis, 0 in-process only, -1 gave up. */
static int take_key(pull_locks *pl, hold *h, int64_t deadline, const bw_cancel *cancel,
                    bool *waited) {
  for (;;) {
    cleanup_error bw_error_t rerr = NULL;
    int r = key_take(pl, h->key, &rerr);
    if (r > 0)
      return 1;
    if (r < 0) {
      bw_log_debug(pl->log, "pull lock %s: in-process only: %s", h->image, bw_error_msg(&rerr));
      return 0;
    }
    *waited = true;
    int64_t left = deadline - bw_time_monotonic_ms();
    if ((bw_cancel_level(cancel)) || left <= 0)
      return -1;
    int64_t pause = poll_interval_ms();
    bw_time_sleep_ms(pause < left ? pause : left, cancel);
  }
}

int pull_locks_acquire(pull_locks *pl, const char *image, long wait_timeout_ms,
                       const bw_cancel *cancel, bw_error_t *err) {
  if (!image || !*image)
    return bw_error_set(err, BW_ERR_INVALID, "pull lock: image name is empty");
  int64_t deadline =
      wait_timeout_ms < 0 ? INT64_MAX : bw_time_monotonic_ms() + (int64_t)wait_timeout_ms;
  bool waited = false;
  hold *h = claim_in_process(pl, image, deadline, cancel, &waited);
  if (!h)
    return wait_error(image, wait_timeout_ms, cancel, err);
  int r = take_key(pl, h, deadline, cancel, &waited);

  pthread_mutex_lock(&pl->mu);
  if (r < 0) {
    hold_unlink(pl, h);
    hold_free(h);
    pthread_cond_broadcast(&pl->changed);
  } else {
    h->state = r > 0 ? HOLD_REDIS : HOLD_LOCAL;
    pl->stats.acquisitions++;
    pl->stats.waits += waited;
    pl->stats.fallbacks += r == 0;
  }
  pthread_mutex_unlock(&pl->mu);
  if (r < 0)
    return wait_error(image, wait_timeout_ms, cancel, err);
  return 0;
}

void pull_locks_release(pull_locks *pl, const char *image) {
  pthread_mutex_lock(&pl->mu);
  hold *h = hold_find(pl, image);
  if (!h || !pthread_equal(h->owner, pthread_self()) || h->state == HOLD_ACQUIRING ||
      h->state == HOLD_RELEASING) {
    pthread_mutex_unlock(&pl->mu);
    bw_log_debug(pl->log, "pull lock %s: release by a thread that does not hold it: ignored",
                 image);
    return;
  }
  while (h->refreshing)
    pthread_cond_wait(&pl->changed, &pl->mu);
  bool in_redis = h->state == HOLD_REDIS;
  h->state = HOLD_RELEASING;
  pthread_mutex_unlock(&pl->mu);

  /* Keep the entry until the key is gone: another thread of ours taking the
   * image meanwhile would find our token on the key and count it as its own. */
  if (in_redis) {
    cleanup_error bw_error_t err = NULL;
    if (key_release(pl, h->key, &err) < 0)
      bw_log_debug(pl->log, "pull lock %s: release: %s (the key expires on its own)", image,
                   bw_error_msg(&err));
  }
  pthread_mutex_lock(&pl->mu);
  hold_unlink(pl, h);
  pthread_cond_broadcast(&pl->changed);
  pthread_mutex_unlock(&pl->mu);
  hold_free(h);
}

static void refresh_one(pull_locks *pl, hold *h) {
  cleanup_error bw_error_t err = NULL;
  int r = key_take(pl, h->key, &err); /* h->key is stable while h->refreshing */
  pthread_mutex_lock(&pl->mu);
  h->refreshing = false;
  if (r > 0) {
    if (h->state == HOLD_LOCAL)
      bw_log_info(pl->log, "pull lock %s: Redis key taken after the outage", h->image);
    h->state = HOLD_REDIS;
    h->lost = false;
  } else if (r == 0 && !h->lost) {
    h->lost = true;
    pl->stats.lost++;
    bw_log_warn(pl->log, "pull lock %s: key %s is held by another worker: pulls may overlap",
                h->image, h->key);
  }
  pthread_cond_broadcast(&pl->changed);
  pthread_mutex_unlock(&pl->mu);
}

void pull_locks_refresh(pull_locks *pl) {
  pthread_mutex_lock(&pl->mu);
  size_t n = 0;
  for (hold *h = pl->holds; h; h = h->next)
    n += h->state == HOLD_REDIS || h->state == HOLD_LOCAL;
  if (n == 0) {
    pthread_mutex_unlock(&pl->mu);
    return;
  }
  cleanup_free hold **todo = bw_xcalloc(n, sizeof(*todo));
  size_t i = 0;
  for (hold *h = pl->holds; h; h = h->next) {
    if (h->state == HOLD_REDIS || h->state == HOLD_LOCAL) {
      h->refreshing = true; /* a release waits: h stays valid */
      todo[i++] = h;
    }
  }
  pthread_mutex_unlock(&pl->mu);
  for (i = 0; i < n; i++)
    refresh_one(pl, todo[i]);
}

void pull_locks_stats_get(pull_locks *pl, pull_locks_stats *out) {
  pthread_mutex_lock(&pl->mu);
  *out = pl->stats;
  pthread_mutex_unlock(&pl->mu);
}

void pull_locks_free(pull_locks *pl) {
  if (!pl)
    return;
  while (pl->holds) {
    hold *h = pl->holds;
    pl->holds = h->next;
    cleanup_error bw_error_t err = NULL;
    if (h->state == HOLD_REDIS)
      key_release(pl, h->key, &err);
    hold_free(h);
  }
  redis_store_conn_destroy(&pl->conn);
  pthread_cond_destroy(&pl->changed);
  pthread_mutex_destroy(&pl->mu);
  free(pl->host);
  free(pl->prefix);
  free(pl);
}

/* shared/clients/job_store.h against the stack's real redis-server: worker
 * heartbeats, cancel flags, and Redis down. */
#include "job_store_fixture.h"

/* ---- workers, cancel flags, Redis down ---- */

static bool has_worker(const json_t *arr, const char *id) {
  size_t i;
  json_t *w;
  json_array_foreach(arr, i, w) {
    if (strcmp(field(w, "id"), id) == 0)
      return true;
  }
  return false;
}

static void heartbeat_expiry_drops_the_worker(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  cleanup_json json_t *info1 = json_pack("{s:s, s:i}", "id", "w1", "slots", 2);
  cleanup_json json_t *info2 = json_pack("{s:s, s:i}", "id", "w2", "slots", 4);
  assert_int_equal(job_store_heartbeat(f->js, "w1", info1, 300, &err), 0);
  assert_int_equal(job_store_heartbeat(f->js, "w2", info2, 30000, &err), 0);
  cleanup_json json_t *both = NULL;
  assert_int_equal(job_store_workers(f->js, &both, &err), 0);
  assert_int_equal(json_array_size(both), 2);
  assert_true(has_worker(both, "w1"));
  assert_true(has_worker(both, "w2"));
  assert_true(json_equal(json_array_get(both, 0), info1)); /* oldest heartbeat first */

  usleep(450 * 1000);
  cleanup_json json_t *one = NULL;
  assert_int_equal(job_store_workers(f->js, &one, &err), 0);
  assert_int_equal(json_array_size(one), 1);
  assert_true(has_worker(one, "w2"));
  assert_int_equal(json_integer_value(json_object_get(json_array_get(one, 0), "slots")), 4);

  /* A heartbeat brings it back; the set itself expires when all are gone. */
  assert_int_equal(job_store_heartbeat(f->js, "w1", info1, 30000, &err), 0);
  cleanup_json json_t *again = NULL;
  assert_int_equal(job_store_workers(f->js, &again, &err), 0);
  assert_int_equal(json_array_size(again), 2);
  assert_true(redis_int(f, "PTTL", "workers", "") > JOB_STORE_WORKERS_WINDOW_MS - 60000);
}

static void heartbeats_older_than_an_hour_leave_the_set(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  cleanup_redis_reply redisReply *r =
      redisCommand(f->redis, "ZADD %sworkers 1000 ancient", f->prefix);
  assert_non_null(r);
  cleanup_json json_t *info = json_pack("{s:s}", "id", "w1");
  assert_int_equal(job_store_heartbeat(f->js, "w1", info, 30000, &err), 0);
  cleanup_redis_reply redisReply *score =
      redisCommand(f->redis, "ZSCORE %sworkers ancient", f->prefix);
  assert_int_equal(score->type, REDIS_REPLY_NIL);
  assert_int_equal(redis_int(f, "ZCARD", "workers", ""), 1);
}

static void no_workers_is_an_empty_array(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  cleanup_json json_t *arr = NULL;
  assert_int_equal(job_store_workers(f->js, &arr, &err), 0);
  assert_true(json_is_array(arr));
  assert_int_equal(json_array_size(arr), 0);
}

static void cancel_flags_in_one_mget(void **state) {
  fixture *f = *state;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(job_store_cancel_request(f->js, "c2", &err), 0);
  assert_int_equal(job_store_cancel_request(f->js, "c4", &err), 0);
  const char *const ids[] = {"c1", "c2", "c3", "c4"};
  bool flags[4] = {true, false, true, false};
  assert_int_equal(job_store_cancel_requested(f->js, ids, 4, flags, &err), 0);
  assert_false(flags[0]);
  assert_true(flags[1]);
  assert_false(flags[2]);
  assert_true(flags[3]);
  long long ttl = redis_int(f, "TTL", "cancel:", "c2");
  assert_true(ttl > 86400 - 60 && ttl <= 86400);
  assert_int_equal(job_store_cancel_requested(f->js, NULL, 0, NULL, &err), 0);
}

static void redis_down_is_unavailable(void **state) {
  fixture *f = *state;
  bw_config cfg;
  stack_config(&cfg);
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(bw_config_set(&cfg, "redis.port", "1", "test", &err), 0);
  bw_logger quiet;
  bw_logger_init(&quiet, BW_LOG_ERROR, 2, "test");
  job_store *js = job_store_new(&cfg, &quiet, f->prefix);
  job_claim_request req = {.job_id = "x", .worker_id = "w1", .attempt = 1, .ttl_ms = 1000};
  job_claim c;
  assert_int_equal(job_store_claim(js, &req, &c, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(err->msg, "claim job x"));
  assert_non_null(strstr(err->msg, "127.0.0.1:1"));
  bw_error_release(&err);
  bool b;
  assert_int_equal(job_store_lease_alive(js, "x", &b, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  job_store_free(js);
  bw_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(heartbeat_expiry_drops_the_worker, setup, teardown),
      cmocka_unit_test_setup_teardown(heartbeats_older_than_an_hour_leave_the_set, setup, teardown),
      cmocka_unit_test_setup_teardown(no_workers_is_an_empty_array, setup, teardown),
      cmocka_unit_test_setup_teardown(cancel_flags_in_one_mget, setup, teardown),
      cmocka_unit_test_setup_teardown(redis_down_is_unavailable, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

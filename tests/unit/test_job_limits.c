/* shared/job/job_limits.h: memory sizes, limit objects, defaults, formatting. */
#include "job/job_limits.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MIB (1024LL * 1024)

static json_t *json_from(const char *text) {
  json_error_t jerr;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
  if (!v)
    fail_msg("test JSON %s: %s", text, jerr.text);
  return v;
}

/* Parses a limits object given as JSON text into *out. */
static int parse_limits_text(const char *text, job_limits *out, bw_error_t *err) {
  json_t *obj = json_from(text);
  int rc = job_limits_parse(obj, "limits", out, err);
  json_decref(obj);
  return rc;
}

static void test_memory_accepted(void **state) {
  static const struct {
    const char *json;
    int64_t bytes;
  } cases[] = {
      {"536870912", 512 * MIB}, {"\"512m\"", 512 * MIB},   {"\"512M\"", 512 * MIB},
      {"\"1g\"", 1024 * MIB},   {"\"1G\"", 1024 * MIB},    {"\"4096k\"", 4 * MIB},
      {"\"512mb\"", 512 * MIB}, {"\"512MiB\"", 512 * MIB}, {"\"512mib\"", 512 * MIB},
      {"\"4194304\"", 4 * MIB}, {"\"4194304b\"", 4 * MIB}, {"\"8GB\"", 8192 * MIB},
      {"4194304", 4 * MIB},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *v = json_from(cases[i].json);
    bw_error_t err = NULL;
    int64_t bytes = 0;
    if (job_limits_parse_memory(v, "limits.memory", &bytes, &err) < 0)
      fail_msg("%s: %s", cases[i].json, bw_error_msg(&err));
    assert_int_equal(bytes, cases[i].bytes);
    json_decref(v);
  }
}

static void test_memory_64k_is_below_the_floor(void **state) {
  json_t *v = json_string("64k"); /* parses as 65536, refused as under 4m */
  bw_error_t err = NULL;
  int64_t bytes = 0;
  assert_int_equal(job_limits_parse_memory(v, "limits.memory", &bytes, &err), -1);
  assert_string_equal(
      err->msg, "limits.memory: expected bytes or a size like \"512m\" (at least 4m), got \"64k\"");
  assert_int_equal(bytes, 0);
  bw_error_release(&err);
  json_decref(v);
}

static void test_memory_negative_message_is_exact(void **state) {
  json_t *v = json_integer(-3);
  bw_error_t err = NULL;
  int64_t bytes = 0;
  assert_int_equal(job_limits_parse_memory(v, "limits.memory", &bytes, &err), -1);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  assert_string_equal(
      err->msg, "limits.memory: expected bytes or a size like \"512m\" (at least 4m), got -3");
  bw_error_release(&err);
  json_decref(v);
}

static void test_memory_rejected(void **state) {
  static const char *const cases[] = {
      "-3",
      "\"abc\"",
      "\"12x\"",
      "\"\"",
      "1.5",
      "100",
      "\"100\"",
      "4194303",
      "0",
      "\"-5m\"",
      "\" 5m\"",
      "\"+5m\"",
      "\"5 m\"",
      "\"5mm\"",
      "\"5mbb\"",
      "\"4194304bb\"",
      "\"4194304bib\"",
      "\"5tb\"",
      "\"0x10m\"",
      "null",
      "true",
      "[]",
      "{}",
      "\"99999999999g\"",
      "\"99999999999999999999999\"",
      "\"9223372036854775807k\"",
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *v = json_from(cases[i]);
    bw_error_t err = NULL;
    int64_t bytes = 77;
    if (job_limits_parse_memory(v, "limits.memory", &bytes, &err) == 0)
      fail_msg("%s: accepted as %lld", cases[i], (long long)bytes);
    assert_int_equal(bytes, 77); /* untouched on failure */
    assert_non_null(strstr(err->msg, "limits.memory: "));
    bw_error_release(&err);
    json_decref(v);
  }
}

static void test_parse_full_object(void **state) {
  job_limits l = {0};
  bw_error_t err = NULL;
  assert_int_equal(parse_limits_text("{\"memory\": \"1g\", \"cpus\": 1.5, \"timeout_seconds\": 600,"
                                     " \"pids\": 256, \"network\": \"bridge\"}",
                                     &l, &err),
                   0);
  assert_null(err);
  assert_int_equal(l.memory_bytes, 1024 * MIB);
  assert_true(l.cpus == 1.5);
  assert_int_equal(l.timeout_seconds, 600);
  assert_int_equal(l.pids, 256);
  assert_string_equal(l.network, "bridge");
  job_limits_free(&l);
  assert_null(l.network);
}

static void test_parse_leaves_unset_fields(void **state) {
  job_limits l = {.memory_bytes = 5 * MIB, .cpus = 2, .timeout_seconds = 9, .pids = 3};
  bw_error_t err = NULL;
  assert_int_equal(parse_limits_text("{\"cpus\": 4}", &l, &err), 0);
  assert_int_equal(l.memory_bytes, 5 * MIB);
  assert_true(l.cpus == 4);
  assert_int_equal(l.timeout_seconds, 9);
  assert_int_equal(l.pids, 3);
  assert_null(l.network);
}

static void test_parse_network_replaces_earlier(void **state) {
  job_limits l = {0};
  bw_error_t err = NULL;
  assert_int_equal(parse_limits_text("{\"network\": \"a\"}", &l, &err), 0);
  assert_int_equal(parse_limits_text("{\"network\": \"b\"}", &l, &err), 0);
  assert_string_equal(l.network, "b");
  job_limits_free(&l);
}

static void test_parse_timeout_at_cap(void **state) {
  job_limits l = {0};
  bw_error_t err = NULL;
  assert_int_equal(parse_limits_text("{\"timeout_seconds\": 86400}", &l, &err), 0);
  assert_int_equal(l.timeout_seconds, LIMITS_TIMEOUT_CAP_S);
}

static void test_parse_rejected(void **state) {
  static const struct {
    const char *json;
    const char *message_part;
  } cases[] = {
      {"{\"cpus\": 0}", "limits.cpus: expected a number above 0 and up to 256, got 0"},
      {"{\"cpus\": -1}", "limits.cpus: "},
      {"{\"cpus\": \"2\"}", "limits.cpus: expected a number above 0 and up to 256, got \"2\""},
      {"{\"cpus\": 257}", "limits.cpus: "},
      {"{\"timeout_seconds\": 86401}",
       "limits.timeout_seconds: expected an integer from 1 to 86400"},
      {"{\"timeout_seconds\": 0}", "limits.timeout_seconds: "},
      {"{\"timeout_seconds\": 1.5}", "limits.timeout_seconds: "},
      {"{\"pids\": 0}", "limits.pids: "},
      {"{\"pids\": 4194305}", "limits.pids: "},
      {"{\"memory\": -3}", "limits.memory: expected bytes"},
      {"{\"network\": \"\"}", "limits.network: expected a network name"},
      {"{\"network\": 3}", "limits.network: expected a network name"},
      {"{\"swap\": 1}", "limits.swap: unknown limit"},
      {"[]", "limits: expected an object"},
      {"\"512m\"", "limits: expected an object"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    job_limits l = {0};
    bw_error_t err = NULL;
    if (parse_limits_text(cases[i].json, &l, &err) == 0)
      fail_msg("%s: accepted", cases[i].json);
    assert_int_equal(err->kind, BW_ERR_INVALID);
    if (!strstr(err->msg, cases[i].message_part))
      fail_msg("%s: message '%s' lacks '%s'", cases[i].json, err->msg, cases[i].message_part);
    bw_error_release(&err);
    job_limits_free(&l);
  }
}

static void test_apply_defaults_fills_unset_only(void **state) {
  job_limits l = {.cpus = 3, .network = NULL};
  job_limits d = {.memory_bytes = 256 * MIB,
                  .cpus = 1,
                  .timeout_seconds = 3600,
                  .pids = 1024,
                  .network = "none"};
  job_limits_apply_defaults(&l, &d);
  assert_int_equal(l.memory_bytes, 256 * MIB);
  assert_true(l.cpus == 3);
  assert_int_equal(l.timeout_seconds, 3600);
  assert_int_equal(l.pids, 1024);
  assert_string_equal(l.network, "none");
  assert_ptr_not_equal(l.network, d.network); /* a copy, owned by l */
  job_limits_free(&l);
}

static void test_apply_defaults_keeps_set_network(void **state) {
  job_limits l = {.network = strdup("bridge")};
  job_limits d = {.network = "none"};
  job_limits_apply_defaults(&l, &d);
  assert_string_equal(l.network, "bridge");
  job_limits_free(&l);
  job_limits_free(NULL);
}

static void test_format_bytes(void **state) {
  static const struct {
    int64_t bytes;
    const char *text;
  } cases[] = {
      {1024 * MIB, "1g"},     {512 * MIB, "512m"},    {64 * 1024, "64k"},
      {1536 * MIB, "1536m"},  {1000, "1000 bytes"},   {0, "0 bytes"},
      {-1024, "-1024 bytes"}, {4 * 1024 * MIB, "4g"}, {MIB + 1024, "1025k"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char buf[32];
    job_limits_format_bytes(cases[i].bytes, buf, sizeof(buf));
    assert_string_equal(buf, cases[i].text);
  }
}

static void test_format_bytes_truncates_to_buffer(void **state) {
  char buf[4];
  job_limits_format_bytes(123456, buf, sizeof(buf));
  assert_string_equal(buf, "123");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_memory_accepted),
      cmocka_unit_test(test_memory_64k_is_below_the_floor),
      cmocka_unit_test(test_memory_negative_message_is_exact),
      cmocka_unit_test(test_memory_rejected),
      cmocka_unit_test(test_parse_full_object),
      cmocka_unit_test(test_parse_leaves_unset_fields),
      cmocka_unit_test(test_parse_network_replaces_earlier),
      cmocka_unit_test(test_parse_timeout_at_cap),
      cmocka_unit_test(test_parse_rejected),
      cmocka_unit_test(test_apply_defaults_fills_unset_only),
      cmocka_unit_test(test_apply_defaults_keeps_set_network),
      cmocka_unit_test(test_format_bytes),
      cmocka_unit_test(test_format_bytes_truncates_to_buffer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

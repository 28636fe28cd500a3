/* libFuzzer target for run requests (shared/job/job_request.c): the bytes a
 * client puts on the bundle.runs topic. Parsing must never crash, and an
 * accepted request must resolve against a small component registry without
 * crashing either (rejections are fine). */
#include "job/components.h"
#include "job/job_request.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char registry_json[] =
    "{\"components\": {\"c1\": {\"image\": \"127.0.0.1:5000/x/y\", \"tag\": \"1.0\","
    " \"allowed_tags\": {\"pattern\": \"1\\\\.[0-9]+\"}, \"networks\": [\"none\", \"bridge\"],"
    " \"max_limits\": {\"memory\": \"1g\", \"cpus\": 2, \"timeout_seconds\": 7200}}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static component_registry reg;
  static int loaded;
  if (!loaded) {
    json_t *root = json_loads(registry_json, 0, NULL);
    bw_error_t err = NULL;
    if (!root || components_load_json(root, "fuzz", &reg, &err) < 0) {
      fprintf(stderr, "fuzz_request: registry: %s\n", bw_error_msg(&err));
      abort();
    }
    json_decref(root);
    loaded = 1;
  }
  job_request req;
  bw_error_t err = NULL;
  if (job_request_parse((const char *)data, size, &req, &err) == 0) {
    job_plan plan;
    if (job_plan_resolve(&req, &reg, &plan, &err) == 0)
      job_plan_free(&plan);
  }
  bw_error_release(&err);
  job_request_free(&req);
  return 0;
}

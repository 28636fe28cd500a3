/* libFuzzer target for the bytes a job controls around its data folder:
 *   - a manifest sidecar (outputs_manifest_parse; state.json follows the
 *     same rule), which must give an object or a printable error;
 *   - an "inputs" array of a run request (inputs_parse), when the bytes are
 *     a JSON array: every parsed input must pass the checks again;
 *   - the bytes as an input path and as a store key.
 * Links: bwshared (jansson, libcurl for curl_url, libcrypto). */
#include "clients/artifact_store.h"
#include "pipeline/inputs.h"
#include "pipeline/outputs.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_manifest(const char *text, size_t size) {
  json_t *manifest = NULL;
  bw_error_t err = NULL;
  if (outputs_manifest_parse(text, size, &manifest, &err) == 0) {
    if (!json_is_object(manifest))
      abort();
    json_decref(manifest);
    return;
  }
  if (manifest)
    abort();
  for (const char *c = bw_error_msg(&err); *c; c++)
    if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
      abort(); /* errors quoting the job's bytes must stay printable */
  bw_error_release(&err);
}

static void fuzz_inputs(const char *text, size_t size) {
  json_t *doc = json_loadb(text, size, 0, NULL);
  if (!json_is_array(doc)) {
    json_decref(doc);
    return;
  }
  job_input *list = NULL;
  size_t count = 0;
  bw_error_t err = NULL;
  if (inputs_parse(doc, &list, &count, &err) == 0) {
    for (size_t i = 0; i < count; i++)
      if (!list[i].url || inputs_path_problem(list[i].path, strlen(list[i].path)))
        abort();
    inputs_free(list, count);
  } else if (list || count || !err) {
    abort();
  }
  bw_error_release(&err);
  json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  fuzz_manifest(text, size);
  fuzz_inputs(text, size);
  (void)inputs_path_problem(text, size); /* length-bounded: no NUL needed */
  char *key = strndup(text, size);
  if (key) {
    (void)artifact_store_key_problem(key);
    free(key);
  }
  return 0;
}

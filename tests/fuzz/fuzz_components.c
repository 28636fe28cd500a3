/* libFuzzer: a components file's bytes through json_loadb and
 * components_load_json, then the lookups a run request makes. */
#include "job/components.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_error_t jerr;
  json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return 0;
  component_registry reg;
  bw_error_t err = NULL;
  if (components_load_json(root, "fuzz.json", &reg, &err) == 0) {
    static const char *const probes[] = {"latest", "1.0", "1.2x", "", "stable"};
    for (size_t i = 0; i < reg.count; i++) {
      const component *c = &reg.items[i];
      if (components_find(&reg, c->id) != c)
        __builtin_trap(); /* ids are unique keys */
      for (size_t k = 0; k < sizeof(probes) / sizeof(probes[0]); k++)
        (void)component_tag_allowed(c, probes[k]);
      if (!component_tag_allowed(c, c->default_tag))
        __builtin_trap();
      if (!component_network_allowed(c, c->defaults.network))
        __builtin_trap();
      (void)component_pull_policy_name(c->pull);
    }
    components_free(&reg);
  } else if (!err || !err->msg) {
    __builtin_trap();
  }
  bw_error_release(&err);
  json_decref(root);
  return 0;
}

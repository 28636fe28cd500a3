/* libFuzzer: a config file's text through bw_config_load_string. */
#include "core/config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* librdkafka loads plugin.library.paths the moment it is set: keep the
   * fuzzer from dlopen()ing whatever it spells. */
  if (memmem(data, size, "plugin", 6))
    return 0;
  bw_config cfg;
  bw_config_init(&cfg);
  bw_error_t err = NULL;
  if (bw_config_load_string(&cfg, "fuzz.conf", (const char *)data, size, &err) == 0) {
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull) {
      bw_config_print(&cfg, devnull);
      fclose(devnull);
    }
  } else if (!err || !err->msg) {
    __builtin_trap(); /* a failure always says why */
  }
  bw_error_release(&err);
  bw_config_free(&cfg);
  return 0;
}

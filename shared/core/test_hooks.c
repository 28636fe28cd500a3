#include "core/test_hooks.h"

#ifdef BW_TEST_HOOKS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bw_test_crash_point(const char *point, const char *job_id) {
  const char *spec = getenv("BW_TEST_CRASH");
  if (!spec || !job_id)
    return;
  size_t plen = strlen(point);
  for (const char *p = spec; *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    const char *colon = memchr(p, ':', n);
    if (colon && (size_t)(colon - p) == plen && strncmp(p, point, plen) == 0) {
      size_t prefix = n - plen - 1;
      if (strncmp(job_id, colon + 1, prefix) == 0) {
        static const char msg[] = "bundle-worker: BW_TEST_CRASH: dying on purpose\n";
        (void)!write(2, msg, sizeof(msg) - 1);
        abort();
      }
    }
    p += n + (end ? 1 : 0);
  }
}
#else
typedef int bw_test_hooks_unused; /* ISO C wants something in a translation unit */
#endif

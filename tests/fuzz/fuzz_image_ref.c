/* libFuzzer: image references through image_ref_parse. A reference that
 * parses must print as a normalised string that parses back to itself. */
#include "job/image_ref.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0'; /* stops at an embedded NUL, as a C caller would */
  image_ref ref;
  bw_error_t err = NULL;
  if (image_ref_parse(text, &ref, &err) == 0) {
    char *s = image_ref_string(&ref);
    image_ref again;
    if (image_ref_parse(s, &again, &err) < 0)
      __builtin_trap(); /* the normalised form must parse */
    if (!same(ref.domain, again.domain) || !same(ref.path, again.path) ||
        !same(ref.tag, again.tag) || !same(ref.digest, again.digest))
      __builtin_trap(); /* ... to the same reference */
    char *repo = image_ref_repository(&ref);
    (void)image_ref_registry_host(&ref);
    free(repo);
    free(s);
    image_ref_free(&again);
    image_ref_free(&ref);
  } else if (!err || err->kind != BW_ERR_INVALID) {
    __builtin_trap();
  }
  bw_error_release(&err);
  free(text);
  return 0;
}

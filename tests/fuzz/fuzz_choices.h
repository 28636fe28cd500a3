/* The fuzz targets that build their input from choices (a document, a
 * credentials file) read the choices here: one byte at a time from what is
 * left of libFuzzer's input, 0 once it runs out. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct src {
  const uint8_t *p;
  size_t n;
} src;

static inline unsigned take(src *s) {
  if (!s->n)
    return 0;
  s->n--;
  return *s->p++;
}

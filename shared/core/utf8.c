#include "core/utf8.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

size_t bw_utf8_sequence_len(const unsigned char *s, size_t len) {
  if (len == 0)
    return 0;
  unsigned char c = s[0];
  if (c < 0x80)
    return 1;
  size_t n;
  unsigned int cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0; /* a continuation byte, 0xC0/0xC1 (always overlong) or above 0xF4 */
  }
  if (len < n)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) /* overlong */
    return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) /* a UTF-16 surrogate */
    return 0;
  if (cp > 0x10FFFF)
    return 0;
  return n;
}

bool bw_utf8_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    size_t n = bw_utf8_sequence_len(p + i, len - i);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

char *bw_utf8_sanitize(const char *s, size_t len, bool replace_nul, size_t *out_len) {
  const size_t repl = sizeof(BW_UTF8_REPLACEMENT) - 1;
  /* Every input byte becomes at most `repl` output bytes. */
  if (len > (((size_t)-1) - 1) / repl)
    abort();
  char *out = bw_xmalloc(len * repl + 1);
  const unsigned char *p = (const unsigned char *)s;
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t n = bw_utf8_sequence_len(p + i, len - i);
    if (n == 0 || (replace_nul && p[i] == 0)) {
      memcpy(out + o, BW_UTF8_REPLACEMENT, repl);
      o += repl;
      i++;
      continue;
    }
    memcpy(out + o, p + i, n);
    o += n;
    i += n;
  }
  out[o] = '\0';
  if (out_len)
    *out_len = o;
  return out;
}

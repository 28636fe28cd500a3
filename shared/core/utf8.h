/* UTF-8 for text that came from outside (container output, file names,
 * messages quoting a job's bytes): JSON needs valid UTF-8, and jansson
 * refuses anything else, so such text is made valid before it goes into an
 * event instead of being dropped or mangled whole. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define BW_UTF8_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* Length of the valid UTF-8 sequence at s[0..len) (1 to 4), or 0 when the
 * bytes there do not start one: a stray continuation byte, a truncated or
 * overlong sequence, a surrogate, a code point above U+10FFFF. The same
 * rules as jansson's (and RFC 3629). */
size_t bw_utf8_sequence_len(const unsigned char *s, size_t len);

/* True when all of s[0..len) is valid UTF-8 (NUL bytes included). */
bool bw_utf8_valid(const char *s, size_t len);

/* A new NUL-terminated copy of s[0..len) in which every byte that is not
 * part of a valid sequence becomes U+FFFD, and so does every NUL byte when
 * replace_nul (the copy is then a C string that means the same as the
 * bytes). *out_len (may be NULL) gets the length. Aborts when out of memory. */
char *bw_utf8_sanitize(const char *s, size_t len, bool replace_nul, size_t *out_len);

/* libFuzzer target for shared/masker.c.
 *
 * Input: byte 0 picks the mode and the chunking. In secret mode, up to four
 * secrets follow as [length byte][bytes], registered with every derived form,
 * and the rest is the text; in exact mode the same, registered as they are. In
 * config mode, the bytes up to the first NUL are a JSON document for
 * masker_add_config and the rest is the text.
 *
 * Checks: masking in pieces (masker_stream, chunk sizes from the input) gives
 * exactly masker_apply's result; in exact mode that result is the naive one
 * (every occurrence found by memcmp, regions sharing a byte merged); no
 * registered secret survives in the output (for secrets that share no byte
 * with "[hidden]", which could otherwise be spelled across the token); the
 * output is NUL-terminated. */
#include "masker.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct out_buf {
  char *buf;
  size_t len;
  size_t cap;
} out_buf;

static void out_sink(void *ctx, const char *bytes, size_t len, bool hidden) {
  out_buf *o = ctx;
  if (hidden && (len != MASKER_HIDDEN_LEN || memcmp(bytes, MASKER_HIDDEN, len) != 0))
    abort();
  if (o->len + len > o->cap) {
    o->cap = (o->len + len) * 2 + 16;
    o->buf = realloc(o->buf, o->cap);
    if (!o->buf)
      abort();
  }
  memcpy(o->buf + o->len, bytes, len);
  o->len += len;
}

static bool shares_byte_with_token(const uint8_t *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (memchr(MASKER_HIDDEN, s[i], MASKER_HIDDEN_LEN))
      return true;
  }
  return false;
}

/* Every occurrence of every form by brute force; regions that share a byte
 * are one "[hidden]", regions that only touch stay apart. */
static void naive_check(const uint8_t *const *forms, const size_t *lens, size_t n_forms,
                        const uint8_t *text, size_t len, const char *got, size_t got_len) {
  size_t *ends = calloc(len + 1, sizeof(size_t));
  char *want = malloc(len * MASKER_HIDDEN_LEN + 1);
  if (!ends || !want)
    abort();
  for (size_t i = 0; i < len; i++) {
    for (size_t f = 0; f < n_forms; f++) {
      if (lens[f] >= MASKER_MIN_SECRET && lens[f] <= len - i &&
          memcmp(text + i, forms[f], lens[f]) == 0 && ends[i] < i + lens[f])
        ends[i] = i + lens[f];
    }
  }
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    if (ends[i] == 0) {
      want[o++] = (char)text[i++];
      continue;
    }
    size_t end = ends[i];
    for (size_t k = i; k < end; k++) {
      if (ends[k] > end)
        end = ends[k];
    }
    memcpy(want + o, MASKER_HIDDEN, MASKER_HIDDEN_LEN);
    o += MASKER_HIDDEN_LEN;
    i = end;
  }
  if (o != got_len || (o && memcmp(want, got, o) != 0))
    abort();
  free(ends);
  free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t mode = data[0];
  data++;
  size--;
  masker *m = masker_new();
  const uint8_t *secrets[4];
  size_t secret_lens[4];
  size_t n_secrets = 0;
  if (mode & 0x80) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t jlen = nul ? (size_t)(nul - data) : size;
    json_t *config = json_loadb((const char *)data, jlen, JSON_DECODE_ANY, NULL);
    masker_add_config(m, config);
    json_decref(config);
    data += nul ? jlen + 1 : jlen;
    size -= nul ? jlen + 1 : jlen;
  } else {
    while (n_secrets < (size_t)(mode & 3) + 1 && size > 0) {
      size_t len = data[0] % 24;
      if (len > size - 1)
        len = size - 1;
      secrets[n_secrets] = data + 1;
      secret_lens[n_secrets] = len;
      if (mode & 0x40)
        masker_add_exact(m, (const char *)data + 1, len);
      else
        masker_add_secret_len(m, (const char *)data + 1, len);
      n_secrets++;
      data += 1 + len;
      size -= 1 + len;
    }
  }

  size_t want_len;
  char *want = masker_apply(m, (const char *)data, size, &want_len);
  if (want[want_len] != '\0')
    abort();

  out_buf o = {0};
  masker_stream *s = masker_stream_new(m, out_sink, &o);
  uint32_t rng = mode * 2654435761u + 1;
  for (size_t at = 0; at < size;) {
    rng = rng * 1103515245u + 12345u;
    size_t take = 1 + (rng >> 16) % 64;
    if (take > size - at)
      take = size - at;
    masker_stream_feed(s, (const char *)data + at, take);
    at += take;
  }
  masker_stream_flush(s);
  if (o.len != want_len || (want_len && memcmp(o.buf, want, want_len) != 0))
    abort();

  if (!(mode & 0x80) && (mode & 0x40))
    naive_check(secrets, secret_lens, n_secrets, data, size, want, want_len);

  for (size_t i = 0; i < n_secrets; i++) {
    if (secret_lens[i] < MASKER_MIN_SECRET || shares_byte_with_token(secrets[i], secret_lens[i]))
      continue;
    if (memmem(want, want_len, secrets[i], secret_lens[i]))
      abort();
  }

  masker_stream_free(s);
  free(o.buf);
  free(want);
  masker_free(m);
  return 0;
}

#include "core/buffer.h"
#include "core/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void bw_buffer_init(bw_buffer *b, size_t cap_bytes) {
  memset(b, 0, sizeof(*b));
  b->cap_bytes = cap_bytes;
}

void bw_buffer_free(bw_buffer *b) {
  if (!b)
    return;
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->allocated = 0;
}

void bw_buffer_reset(bw_buffer *b) {
  b->len = 0;
  b->overflowed = false;
  if (b->data)
    b->data[0] = '\0';
}

bool bw_buffer_append(bw_buffer *b, const void *data, size_t len) {
  size_t take = len;
  /* The room left, not len + b->len, which a huge len would wrap. */
  size_t room = b->cap_bytes > b->len ? b->cap_bytes - b->len : 0;
  if (b->cap_bytes && take > room) {
    take = room;
    b->overflowed = true;
  }
  if (take >= SIZE_MAX - b->len)
    abort(); /* more than memory can hold: out of memory, as bw_xrealloc would say */
  size_t need = b->len + take + 1;
  if (need > b->allocated || !b->data) {
    size_t grow = b->allocated < SIZE_MAX / 2 ? b->allocated * 2 : need;
    size_t size = grow > need ? grow : need;
    if (size < 64)
      size = 64;
    b->data = bw_xrealloc(b->data, size);
    b->allocated = size;
  }
  memcpy(b->data + b->len, data, take);
  b->len += take;
  b->data[b->len] = '\0';
  return take == len;
}

size_t bw_buffer_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  if (nmemb && size > SIZE_MAX / nmemb)
    return 0; /* a product that wraps: more than any buffer holds */
  size_t len = size * nmemb;
  if (!bw_buffer_append(userdata, ptr, len))
    return 0;
  return len;
}

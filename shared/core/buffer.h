/* A growable byte buffer with a hard cap, used as a libcurl sink. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct bw_buffer {
  char *data; /* always NUL-terminated when non-NULL */
  size_t len;
  size_t cap_bytes; /* 0: unlimited */
  bool overflowed;  /* more was offered than cap_bytes */
  size_t allocated; /* bytes behind data: grows by doubling, so appends are linear */
} bw_buffer;

void bw_buffer_init(bw_buffer *b, size_t cap_bytes);
void bw_buffer_free(bw_buffer *b);
void bw_buffer_reset(bw_buffer *b);
/* Appends what fits under the cap (reading no more of data than that);
 * returns false when something was cut. Without a cap, a length the buffer
 * could never hold aborts, as out of memory does. */
bool bw_buffer_append(bw_buffer *b, const void *data, size_t len);
/* libcurl CURLOPT_WRITEFUNCTION adapter; userdata is a bw_buffer. Stops the
 * transfer (returns 0) when the cap is passed, or when size * nmemb wraps. */
size_t bw_buffer_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata);

static inline void bw_cleanup_bufferp(bw_buffer *b) {
  bw_buffer_free(b);
}
#define cleanup_buffer __attribute__((cleanup(bw_cleanup_bufferp)))

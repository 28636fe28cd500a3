#include "core/random_id.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

int bw_random_hex(char *out, size_t nbytes, bw_error_t *err) {
  static const char digits[] = "0123456789abcdef";
  unsigned char raw[64];
  size_t done = 0;
  while (done < nbytes) {
    size_t want = nbytes - done < sizeof(raw) ? nbytes - done : sizeof(raw);
    size_t got = 0;
    while (got < want) {
      ssize_t n = getrandom(raw + got, want - got, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return bw_error_set_errno(err, BW_ERR_INTERNAL, errno, "getrandom");
      got += (size_t)n;
    }
    for (size_t i = 0; i < want; i++) {
      out[2 * (done + i)] = digits[raw[i] >> 4];
      out[2 * (done + i) + 1] = digits[raw[i] & 15];
    }
    done += want;
  }
  out[2 * nbytes] = '\0';
  return 0;
}

int bw_random_id(char out[BW_RANDOM_ID_LEN + 1], bw_error_t *err) {
  return bw_random_hex(out, BW_RANDOM_ID_LEN / 2, err);
}

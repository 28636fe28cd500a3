#include "core/fdio.h"

#include <errno.h>
#include <unistd.h>

int bw_write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  for (size_t done = 0; done < len;) {
    ssize_t n = write(fd, p + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    done += (size_t)n;
  }
  return 0;
}

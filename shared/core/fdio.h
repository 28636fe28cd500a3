/* Whole writes to a file descriptor: the one loop that retries short writes
 * and EINTR, for every writer of the worker's own files and terminals. */
#pragma once

#include <stddef.h>

/* Writes all len bytes; 0, or -1 with errno set (nothing says how much of
 * the data went out). */
int bw_write_all(int fd, const void *data, size_t len);

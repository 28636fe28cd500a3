/* Writing under a folder without ever following a symlink: what a job left
 * in its data folder (a link named like a folder) must not redirect a write
 * of the worker's outside it. Used for inputs (under in/) and for the file://
 * artifact store. */
#pragma once

#include "core/error.h"

/* Opens each folder of `path` but its last component, from root_fd, making
 * missing ones (0755), with O_NOFOLLOW. On success *dir_fd is the parent
 * (close-on-exec; the caller closes it) and *base points into path at the
 * last component. On failure returns -1 with *bad_errno and *bad_prefix (the
 * part of path up to the folder that failed; free() it): ELOOP or ENOTDIR
 * mean a symlink or a file stood where a folder should; EINVAL, a ".."
 * component (any one, the last too), which would climb out of root_fd: it is
 * refused before anything is made. */
int safe_fs_open_parent(int root_fd, const char *path, int *dir_fd, const char **base,
                        int *bad_errno, char **bad_prefix);

/* A fresh exclusive temporary file in dir_fd named ".bw-TAG-<random>.part"
 * (written to name); its name does not derive from the destination's, so a
 * 255-byte destination still fits. Returns the fd or -1. */
int safe_fs_open_temp(int dir_fd, const char *tag, char name[64], bw_error_t *err);

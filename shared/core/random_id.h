/* Random identifiers from the kernel's CSPRNG (getrandom): lease and lock
 * tokens, event ids. One place, so that no module rolls its own. */
#pragma once

#include "core/error.h"

#include <stddef.h>

#define BW_RANDOM_ID_LEN 32 /* hex digits of a 128-bit id, without the NUL */

/* Writes 2 * nbytes lowercase hex digits and a NUL to out (2 * nbytes + 1
 * bytes). Fails only when the kernel refuses (BW_ERR_INTERNAL). */
int bw_random_hex(char *out, size_t nbytes, bw_error_t *err);
/* A 128-bit id: out gets BW_RANDOM_ID_LEN hex digits and a NUL. */
int bw_random_id(char out[BW_RANDOM_ID_LEN + 1], bw_error_t *err);

/* What inputs.c (http, https, file) and inputs_s3.c (s3) share; only they
 * include this header. */
#pragma once

#include "pipeline/inputs.h"

/* Writes an input's bytes into fd (an empty temporary file); 0, or -1 with
 * *err set. */
typedef int (*inputs_fill_fn)(void *ctx, int fd, bw_error_t *err);

/* Makes in/PATH from what fill writes: the temporary file next to it, under
 * folders opened without following links from in_fd, renamed into place
 * only when fill succeeds (removed otherwise). A path outside in/ or a
 * folder that is a link is BW_ERR_USER. */
int inputs_store_at(int in_fd, const char *path, inputs_fill_fn fill, void *ctx, bw_error_t *err);

/* One s3:// input: an object into in/PATH, or every object under a prefix
 * into the folder in/PATH/ (inputs_s3.c). */
int inputs_fetch_s3(int in_fd, const job_input *in, int64_t max_bytes, const inputs_options *o,
                    bw_error_t *err);

/* A component's registry credentials (job/components.h names where they
 * are: environment variables or a file), read when an image is pulled. */
#pragma once

#include "core/error.h"
#include "job/components.h"

/* Resolves the component's credentials for `registry_host` (environment
 * variables or a file: {"username","password"} or a docker config.json with
 * "auths"). *user and *pass stay NULL when the component has none. Messages
 * never carry a secret. */
int registry_credentials_of(const component *c, const char *registry_host, char **user, char **pass,
                            bw_error_t *err);

/* The one identifier rule, for every id the worker puts into file names,
 * container names, Redis keys and labels: job ids, output ids, component
 * ids, configuration ids (worker.id, ...); and the one rule for environment
 * variable names. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* 1 to max bytes of ASCII letters, digits, '.', '_' and '-'; never "." or
 * "..", which would name a folder above the one it is meant for. */
bool bw_id_valid(const char *s, size_t max);

/* An environment variable name: an ASCII letter or '_', then letters,
 * digits and '_'; 1 to 128 bytes. */
bool bw_env_name_valid(const char *s);

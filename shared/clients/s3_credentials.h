/* Where the S3 client's credentials come from, by reference only (never a
 * configuration value): the environment variables that
 * artifacts.s3.access.key.env, .secret.key.env and .session.token.env name
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN by default),
 * else the profile artifacts.s3.profile of the AWS credentials file
 * artifacts.s3.credentials.file. No message ever holds a key or token. */
#pragma once

#include "core/config.h"
#include "core/error.h"

#include <stddef.h>

typedef struct s3_credentials {
  char *access_key_id;
  char *secret_key;
  char *session_token; /* NULL when there is none */
  char *source;        /* "environment (AWS_ACCESS_KEY_ID)" or "FILE [profile]", for messages */
} s3_credentials;

/* BW_ERR_INVALID when neither source gives a key id and a secret, or the
 * file is malformed (the message names the file and line, and which
 * variables were looked at). */
int s3_credentials_resolve(const bw_config *cfg, s3_credentials *out, bw_error_t *err);

/* Reads one profile from the text of an AWS credentials (or config) file:
 * "[NAME]" or "[profile NAME]" sections, "key = value" lines, '#' and ';'
 * comments. `name` is the file's name for messages. BW_ERR_INVALID for a
 * line that is none of these, a profile without both keys, or no such
 * profile. */
int s3_credentials_parse(const char *text, size_t len, const char *profile, const char *name,
                         s3_credentials *out, bw_error_t *err);

/* Wipes and frees; accepts a zeroed or freed struct. */
void s3_credentials_free(s3_credentials *c);

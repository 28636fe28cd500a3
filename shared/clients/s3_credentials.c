#include "clients/s3_credentials.h"

#include "core/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A credentials file is a few hundred bytes; anything this large is not one. */
#define CREDENTIALS_FILE_MAX (1u << 20)

static void wipe_free(char **s) {
  if (*s)
    explicit_bzero(*s, strlen(*s));
  free(*s);
  *s = NULL;
}

void s3_credentials_free(s3_credentials *c) {
  if (!c)
    return;
  wipe_free(&c->access_key_id);
  wipe_free(&c->secret_key);
  wipe_free(&c->session_token);
  free(c->source);
  c->source = NULL;
}

static const char *trim(char *s, size_t *len) {
  while (*len && (*s == ' ' || *s == '\t')) {
    s++;
    (*len)--;
  }
  while (*len && (s[*len - 1] == ' ' || s[*len - 1] == '\t' || s[*len - 1] == '\r'))
    (*len)--;
  return s;
}

/* "[default]" or "[profile default]": does this section name `profile`? */
static bool section_is(const char *inner, size_t len, const char *profile) {
  if (len > 8 && strncmp(inner, "profile ", 8) == 0) {
    inner += 8;
    len -= 8;
    while (len && *inner == ' ') {
      inner++;
      len--;
    }
  }
  return strlen(profile) == len && strncmp(inner, profile, len) == 0;
}

static void keep_value(s3_credentials *out, const char *key, size_t key_len, const char *value,
                       size_t value_len) {
  static const struct {
    const char *name;
    size_t offset;
  } keys[] = {
      {"aws_access_key_id", offsetof(s3_credentials, access_key_id)},
      {"aws_secret_access_key", offsetof(s3_credentials, secret_key)},
      {"aws_session_token", offsetof(s3_credentials, session_token)},
  };
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    if (strlen(keys[i].name) != key_len || strncmp(keys[i].name, key, key_len) != 0)
      continue;
    char **slot = (char **)((char *)out + keys[i].offset);
    wipe_free(slot);
    *slot = bw_strdup_bytes(value, value_len);
  }
}

static int parse_lines(char *copy, size_t len, const char *profile, const char *name,
                       s3_credentials *out, bw_error_t *err) {
  bool in_profile = false, found = false;
  size_t line_no = 0;
  for (char *line = copy, *next; line; line = next) {
    line_no++;
    char *nl = memchr(line, '\n', len - (size_t)(line - copy));
    next = nl ? nl + 1 : NULL;
    size_t n = nl ? (size_t)(nl - line) : len - (size_t)(line - copy);
    const char *t = trim(line, &n);
    if (n == 0 || t[0] == '#' || t[0] == ';')
      continue;
    if (memchr(t, '\0', n)) {
      return bw_error_set(err, BW_ERR_INVALID, "%s:%zu: a NUL byte", name, line_no);
    }
    if (t[0] == '[') {
      if (t[n - 1] != ']') {
        return bw_error_set(err, BW_ERR_INVALID, "%s:%zu: a section without ']'", name, line_no);
      }
      size_t inner_len = n - 2;
      const char *inner = trim((char *)t + 1, &inner_len);
      in_profile = section_is(inner, inner_len, profile);
      found = found || in_profile;
      continue;
    }
    const char *eq = memchr(t, '=', n);
    if (!eq) {
      return bw_error_set(err, BW_ERR_INVALID, "%s:%zu: expected key = value or [profile]", name,
                          line_no);
    }
    if (!in_profile)
      continue;
    size_t key_len = (size_t)(eq - t), value_len = n - key_len - 1;
    const char *key = trim((char *)t, &key_len);
    const char *value = trim((char *)eq + 1, &value_len);
    keep_value(out, key, key_len, value, value_len);
  }
  if (!found) {
    return bw_error_set(err, BW_ERR_INVALID, "%s: no profile [%s]", name, profile);
  }
  if (!out->access_key_id || !*out->access_key_id || !out->secret_key || !*out->secret_key) {
    return bw_error_set(err, BW_ERR_INVALID,
                        "%s: profile [%s] needs aws_access_key_id and aws_secret_access_key", name,
                        profile);
  }
  if (out->session_token && !*out->session_token)
    wipe_free(&out->session_token);
  out->source = bw_strdup_printf("%s [%s]", name, profile);
  return 0;
}

int s3_credentials_parse(const char *text, size_t len, const char *profile, const char *name,
                         s3_credentials *out, bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  char *copy = bw_strdup_bytes(text, len);
  int rc = parse_lines(copy, len, profile, name, out, err);
  explicit_bzero(copy, len);
  free(copy);
  if (rc < 0)
    s3_credentials_free(out);
  return rc;
}

static int read_small_file(const char *path, char **text, size_t *len, bw_error_t *err) {
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return bw_error_set_errno(err, BW_ERR_INVALID, errno, "S3 credentials: open %s", path);
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CREDENTIALS_FILE_MAX)
    return bw_error_set(err, BW_ERR_INVALID,
                        "S3 credentials: %s is not a regular file of at most 1 MiB", path);
  char *buf = bw_xmalloc((size_t)st.st_size + 1);
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  buf[got] = '\0';
  *text = buf;
  *len = got;
  return 0;
}

int s3_credentials_resolve(const bw_config *cfg, s3_credentials *out, bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  const char *id = getenv(cfg->s3_access_key_env);
  const char *secret = getenv(cfg->s3_secret_key_env);
  if (id && *id && secret && *secret) {
    out->access_key_id = bw_strdup(id);
    out->secret_key = bw_strdup(secret);
    const char *token = *cfg->s3_session_token_env ? getenv(cfg->s3_session_token_env) : NULL;
    if (token && *token)
      out->session_token = bw_strdup(token);
    out->source = bw_strdup_printf("environment (%s)", cfg->s3_access_key_env);
    return 0;
  }
  if (!*cfg->s3_credentials_file)
    return bw_error_set(err, BW_ERR_INVALID,
                        "S3 credentials: %s and %s are not both set and "
                        "artifacts.s3.credentials.file is empty",
                        cfg->s3_access_key_env, cfg->s3_secret_key_env);
  char *text = NULL;
  size_t len = 0;
  if (read_small_file(cfg->s3_credentials_file, &text, &len, err) < 0)
    return -1;
  int rc = s3_credentials_parse(text, len, cfg->s3_profile, cfg->s3_credentials_file, out, err);
  explicit_bzero(text, len);
  free(text);
  return rc < 0 ? bw_error_prefix(err, "S3 credentials") : 0;
}

/* The worker configuration from files and the environment, and printed
 * (config.h, config_keys.h). */
#include "core/config_keys.h"

#include "core/cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    s[--n] = '\0';
  return s;
}

/* One line of a config file: blank, `# comment`, or `key = value`. */
static int parse_line(bw_config *cfg, const char *name, size_t lineno, char *line,
                      bw_error_t *err) {
  char *text = trim(line);
  if (*text == '\0' || *text == '#')
    return 0;
  char *eq = strchr(text, '=');
  if (!eq)
    return bw_error_set(err, BW_ERR_INVALID, "%s:%zu: expected 'key = value', got '%s'", name,
                        lineno, text);
  *eq = '\0';
  char *key = trim(text);
  char *value = trim(eq + 1);
  if (*key == '\0')
    return bw_error_set(err, BW_ERR_INVALID, "%s:%zu: missing key before '='", name, lineno);
  cleanup_free char *origin = bw_strdup_printf("%s:%zu", name, lineno);
  const key_spec *spec = bw_config_key_find(key, NULL);
  const char *slash = strrchr(name, '/');
  if (spec && spec->type == KEY_PATH && *value && *value != '/' && slash) {
    cleanup_free char *joined = bw_strdup_printf("%.*s/%s", (int)(slash - name), name, value);
    return bw_config_set(cfg, key, joined, origin, err);
  }
  return bw_config_set(cfg, key, value, origin, err);
}

int bw_config_load_string(bw_config *cfg, const char *name, const char *text, size_t len,
                          bw_error_t *err) {
  if (memchr(text, '\0', len))
    return bw_error_set(err, BW_ERR_INVALID, "%s: contains a NUL byte: not a text file", name);
  size_t lineno = 0;
  size_t pos = 0;
  while (pos < len) {
    const char *start = text + pos;
    const char *nl = memchr(start, '\n', len - pos);
    size_t line_len = nl ? (size_t)(nl - start) : len - pos;
    lineno++;
    cleanup_free char *line = strndup(start, line_len);
    if (!line)
      abort();
    if (parse_line(cfg, name, lineno, line, err) < 0)
      return -1;
    pos += line_len + (nl ? 1 : 0);
  }
  return 0;
}

int bw_config_load_file(bw_config *cfg, const char *path, bw_error_t *err) {
  cleanup_fclose FILE *f = fopen(path, "re");
  if (!f)
    return bw_error_set_errno(err, BW_ERR_INVALID, errno, "config file %s", path);
  cleanup_free char *text = NULL;
  size_t len = 0;
  cleanup_fclose FILE *mem = open_memstream(&text, &len);
  if (!mem)
    abort();
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
    fwrite(buf, 1, n, mem);
  if (ferror(f))
    return bw_error_set_errno(err, BW_ERR_INVALID, errno, "config file %s: read", path);
  fclose(mem);
  mem = NULL;
  return bw_config_load_string(cfg, path, text, len, err);
}

/* BUNDLE_WORKER_REDIS_PORT <-> redis.port: upper case, '.' as '_'. */
static char *env_name_for(const char *key) {
  char *name = bw_strdup_printf("%s%s", BW_CONFIG_ENV_PREFIX, key);
  for (char *p = name + strlen(BW_CONFIG_ENV_PREFIX); *p; p++)
    *p = (*p == '.') ? '_' : (char)toupper((unsigned char)*p);
  return name;
}

/* The few string-settable librdkafka properties spelt with '_' (log_level,
 * enabled_events): restore the '_' that the variable name could not keep. */
static void kafka_env_name_fix(char *name) {
  static const char *const underscored[] = {"log_level", "enabled_events"};
  for (size_t i = 0; i < sizeof(underscored) / sizeof(underscored[0]); i++) {
    const char *u = underscored[i];
    if (strlen(u) != strlen(name))
      continue;
    size_t k = 0;
    while (u[k] && (u[k] == name[k] || (u[k] == '_' && name[k] == '.')))
      k++;
    if (!u[k]) {
      memcpy(name, u, strlen(u));
      return;
    }
  }
}

static int apply_env_var(bw_config *cfg, const char *name, const char *value, bw_error_t *err) {
  cleanup_free char *origin = bw_strdup_printf("environment %s", name);
  for (size_t i = 0; i < bw_config_key_count; i++) {
    cleanup_free char *env_name = env_name_for(bw_config_keys[i].name);
    if (strcmp(env_name, name) == 0)
      return bw_config_set(cfg, bw_config_keys[i].name, value, origin, err);
  }
  static const char kafka_prefix[] = BW_CONFIG_ENV_PREFIX "KAFKA_";
  if (strncmp(name, kafka_prefix, sizeof(kafka_prefix) - 1) == 0) {
    /* librdkafka property names use '.' (but for a couple), so '_' maps back. */
    cleanup_free char *key = bw_strdup_printf("kafka.%s", name + sizeof(kafka_prefix) - 1);
    for (char *p = key + 6; *p; p++)
      *p = (*p == '_') ? '.' : (char)tolower((unsigned char)*p);
    kafka_env_name_fix(key + 6);
    return bw_config_set(cfg, key, value, origin, err);
  }
  return bw_error_set(err, BW_ERR_INVALID,
                      "%s: no such configuration key (bundle-worker config keys lists them)",
                      origin);
}

int bw_config_apply_env(bw_config *cfg, char *const *envp, bw_error_t *err) {
  const size_t prefix_len = strlen(BW_CONFIG_ENV_PREFIX);
  for (; envp && *envp; envp++) {
    const char *entry = *envp;
    if (strncmp(entry, BW_CONFIG_ENV_PREFIX, prefix_len) != 0)
      continue;
    const char *eq = strchr(entry, '=');
    if (!eq)
      continue;
    cleanup_free char *name = strndup(entry, (size_t)(eq - entry));
    if (!name)
      abort();
    if (strcmp(name, BW_CONFIG_ENV_FILE) == 0)
      continue;
    if (apply_env_var(cfg, name, eq + 1, err) < 0)
      return -1;
  }
  return 0;
}

static void print_value(const bw_config *cfg, const key_spec *spec, FILE *out) {
  const void *src = (const char *)cfg + spec->offset;
  switch (spec->type) {
  case KEY_STRING:
  case KEY_PATH:
  case KEY_ID:
  case KEY_LISTEN:
  case KEY_CHOICE:
  case KEY_NET_ALLOW:
    fprintf(out, "%s", *(char *const *)src ? *(char *const *)src : "");
    break;
  case KEY_SECRET:
    fprintf(out, "%s", (*(char *const *)src && **(char *const *)src) ? "[hidden]" : "");
    break;
  case KEY_INT:
    fprintf(out, "%ld", *(const long *)src);
    break;
  case KEY_BOOL:
    fprintf(out, "%s", *(const bool *)src ? "true" : "false");
    break;
  case KEY_LOG_LEVEL:
    fprintf(out, "%s", bw_log_level_name(*(const bw_log_level *)src));
    break;
  }
}

/* librdkafka properties that carry secrets. */
static bool kafka_key_secret(const char *name) {
  return strstr(name, "password") || strstr(name, "secret") || strstr(name, "sasl.jaas") ||
         strstr(name, ".pem") || strstr(name, "token");
}

void bw_config_print(const bw_config *cfg, FILE *out) {
  for (size_t i = 0; i < bw_config_key_count; i++) {
    fprintf(out, "%s = ", bw_config_keys[i].name);
    print_value(cfg, &bw_config_keys[i], out);
    fprintf(out, "    # from %s\n", cfg->origins[i]);
  }
  for (size_t i = 0; i < cfg->kafka_count; i++)
    fprintf(out, "kafka.%s = %s\n", cfg->kafka[i].key,
            kafka_key_secret(cfg->kafka[i].key) ? "[hidden]" : cfg->kafka[i].value);
}

void bw_config_print_keys(FILE *out) {
  for (size_t i = 0; i < bw_config_key_count; i++) {
    cleanup_free char *env_name = env_name_for(bw_config_keys[i].name);
    fprintf(out, "%-30s %-36s default: %s\n    %s\n", bw_config_keys[i].name, env_name,
            bw_config_keys[i].default_value ? bw_config_keys[i].default_value : "(host name)",
            bw_config_keys[i].doc);
  }
  fprintf(out, "%-30s %-36s\n    %s\n", "kafka.PROPERTY", BW_CONFIG_ENV_PREFIX "KAFKA_PROPERTY",
          "any librdkafka property, passed as is (bootstrap.servers, security.protocol, ...)");
}

const char *bw_config_kafka_get(const bw_config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->kafka_count; i++)
    if (strcmp(cfg->kafka[i].key, name) == 0)
      return cfg->kafka[i].value;
  return NULL;
}

static bool listen_host_valid(const char *host, size_t n, bool bracketed) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)host[i];
    if (!isalnum(c) && c != '.' && c != '-' && c != '_' && !(bracketed && (c == ':' || c == '%')))
      return false;
  }
  return true;
}

int bw_config_listen_parse(const char *value, char **host, int *port) {
  *host = NULL;
  *port = 0;
  if (!*value || strcmp(value, "off") == 0)
    return 0;
  const char *colon = strrchr(value, ':');
  if (!colon)
    return -1;
  const char *h = value;
  size_t n = (size_t)(colon - value);
  bool bracketed = n >= 2 && h[0] == '[' && h[n - 1] == ']';
  if (bracketed) {
    h++;
    n -= 2;
  }
  if ((bracketed && n == 0) || !listen_host_valid(h, n, bracketed) ||
      (!bracketed && memchr(h, ':', n)))
    return -1;
  long p;
  if (strlen(colon + 1) > 5 || !isdigit((unsigned char)colon[1]) ||
      bw_config_parse_long(colon + 1, &p) < 0 || p > 65535)
    return -1;
  *host = strndup(h, n);
  if (!*host)
    abort();
  *port = (int)p;
  return 1;
}

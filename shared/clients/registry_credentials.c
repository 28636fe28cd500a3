#include "clients/registry_credentials.h"

#include "core/cleanup.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* {"auths": {"HOST": {"auth": base64("user:pass")} or {"username","password"}}} */
static int credentials_from_docker_config(const json_t *auths, const char *host, const char *path,
                                          char **user, char **pass, bw_error_t *err) {
  json_t *entry = json_object_get(auths, host);
  if (!entry && strcmp(host, "registry-1.docker.io") == 0)
    entry = json_object_get(auths, "https://index.docker.io/v1/");
  if (!entry)
    return bw_error_set(err, BW_ERR_INVALID, "credentials file %s: no entry for registry %s", path,
                        host);
  const char *u = json_string_value(json_object_get(entry, "username"));
  const char *p = json_string_value(json_object_get(entry, "password"));
  if (u && p) {
    *user = bw_strdup(u);
    *pass = bw_strdup(p);
    return 0;
  }
  const char *b64 = json_string_value(json_object_get(entry, "auth"));
  if (!b64)
    return bw_error_set(err, BW_ERR_INVALID, "credentials file %s: entry %s has no auth", path,
                        host);
  size_t len = strlen(b64);
  cleanup_free unsigned char *plain = bw_xcalloc(len + 4, 1);
  int n = EVP_DecodeBlock(plain, (const unsigned char *)b64, (int)len);
  char *colon = n > 0 ? memchr(plain, ':', (size_t)n) : NULL;
  if (!colon)
    return bw_error_set(err, BW_ERR_INVALID,
                        "credentials file %s: entry %s: auth is not base64 of user:password", path,
                        host);
  *colon = '\0';
  *user = bw_strdup((char *)plain);
  /* EVP_DecodeBlock counts padding as NUL bytes; strlen stops at them. */
  *pass = bw_strdup(colon + 1);
  return 0;
}

int registry_credentials_of(const component *c, const char *registry_host, char **user, char **pass,
                            bw_error_t *err) {
  *user = NULL;
  *pass = NULL;
  if (c->auth_username_env) {
    const char *u = getenv(c->auth_username_env);
    const char *p = getenv(c->auth_password_env);
    if (!u || !p)
      return bw_error_set(err, BW_ERR_INVALID,
                          "component %s: credentials: environment variable %s is not set", c->id,
                          !u ? c->auth_username_env : c->auth_password_env);
    *user = bw_strdup(u);
    *pass = bw_strdup(p);
    return 0;
  }
  if (!c->auth_file)
    return 0;
  json_error_t jerr;
  cleanup_json json_t *root = json_load_file(c->auth_file, 0, &jerr);
  if (!root)
    /* jerr.text may quote the file's bytes; keep it out of the message. */
    return bw_error_set(err, BW_ERR_INVALID,
                        "component %s: credentials file %s: not readable JSON (line %d)", c->id,
                        c->auth_file, jerr.line);
  json_t *auths = json_object_get(root, "auths");
  if (auths) {
    if (credentials_from_docker_config(auths, registry_host, c->auth_file, user, pass, err) < 0)
      return bw_error_prefix(err, "component %s", c->id);
    return 0;
  }
  const char *u = json_string_value(json_object_get(root, "username"));
  const char *p = json_string_value(json_object_get(root, "password"));
  if (!u || !p)
    return bw_error_set(err, BW_ERR_INVALID,
                        "component %s: credentials file %s: expected {\"username\", "
                        "\"password\"} or a docker config.json with \"auths\"",
                        c->id, c->auth_file);
  *user = bw_strdup(u);
  *pass = bw_strdup(p);
  return 0;
}

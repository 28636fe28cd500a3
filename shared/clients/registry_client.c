#include "clients/registry_client.h"

#include "core/buffer.h"
#include "core/cleanup.h"

#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ACCEPT_MANIFESTS                                                                           \
  "Accept: application/vnd.oci.image.index.v1+json, "                                              \
  "application/vnd.docker.distribution.manifest.list.v2+json, "                                    \
  "application/vnd.docker.distribution.manifest.v2+json, "                                         \
  "application/vnd.oci.image.manifest.v1+json"

void registry_manifest_free(registry_manifest *m) {
  if (!m)
    return;
  free(m->digest);
  free(m->media_type);
  m->digest = m->media_type = NULL;
}

static bool host_is_loopback(const char *host) {
  return strncmp(host, "localhost", 9) == 0 || strncmp(host, "127.", 4) == 0 ||
         strncmp(host, "[::1]", 5) == 0;
}

typedef struct headers_seen {
  char *digest;
  char *content_type;
  char *challenge; /* WWW-Authenticate */
} headers_seen;

static void headers_seen_free(headers_seen *h) {
  free(h->digest);
  free(h->content_type);
  free(h->challenge);
  memset(h, 0, sizeof(*h));
}

static char *header_value(const char *line, size_t len, const char *name) {
  size_t n = strlen(name);
  if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
    return NULL;
  const char *v = line + n + 1;
  const char *end = line + len;
  while (v < end && isspace((unsigned char)*v))
    v++;
  while (end > v && isspace((unsigned char)end[-1]))
    end--;
  return strndup(v, (size_t)(end - v));
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userdata) {
  headers_seen *h = userdata;
  size_t len = size * nmemb;
  char *v;
  if ((v = header_value(line, len, "Docker-Content-Digest"))) {
    free(h->digest);
    h->digest = v;
  } else if ((v = header_value(line, len, "Content-Type"))) {
    free(h->content_type);
    h->content_type = v;
  } else if ((v = header_value(line, len, "WWW-Authenticate"))) {
    free(h->challenge);
    h->challenge = v;
  }
  return len;
}

/* Picks `key="value"` out of a Bearer challenge. */
static char *challenge_param(const char *challenge, const char *key) {
  cleanup_free char *needle = bw_strdup_printf("%s=\"", key);
  const char *p = strstr(challenge, needle);
  if (!p)
    return NULL;
  p += strlen(needle);
  const char *end = strchr(p, '"');
  return end ? strndup(p, (size_t)(end - p)) : NULL;
}

static void set_common(CURL *h, long timeout_ms) {
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
}

/* The bearer-token flow: GET realm?service=..&scope=.. with basic auth. */
static int fetch_token(const char *challenge, const char *user, const char *pass, long timeout_ms,
                       char **token, bw_error_t *err) {
  cleanup_free char *realm = challenge_param(challenge, "realm");
  cleanup_free char *service = challenge_param(challenge, "service");
  cleanup_free char *scope = challenge_param(challenge, "scope");
  if (!realm)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "registry: bearer challenge without a realm");
  cleanup_curl CURL *h = curl_easy_init();
  if (!h)
    abort();
  char *esc_service = curl_easy_escape(h, service ? service : "", 0);
  char *esc_scope = curl_easy_escape(h, scope ? scope : "", 0);
  cleanup_free char *url =
      bw_strdup_printf("%s?service=%s&scope=%s", realm, esc_service, esc_scope);
  curl_free(esc_service);
  curl_free(esc_scope);
  cleanup_buffer bw_buffer body;
  bw_buffer_init(&body, 1 << 20);
  set_common(h, timeout_ms);
  curl_easy_setopt(h, CURLOPT_URL, url);
  if (user && pass) {
    curl_easy_setopt(h, CURLOPT_USERNAME, user);
    curl_easy_setopt(h, CURLOPT_PASSWORD, pass);
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bw_buffer_curl_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "registry token service %s: %s", realm,
                        curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status == 401 || status == 403)
    return bw_error_set(err, BW_ERR_USER, "registry token service %s: unauthorized (%ld)", realm,
                        status);
  cleanup_json json_t *doc = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
  const char *t = json_string_value(json_object_get(doc, "token"));
  if (!t)
    t = json_string_value(json_object_get(doc, "access_token"));
  if (status != 200 || !t)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "registry token service %s: status %ld, no token",
                        realm, status);
  *token = bw_strdup(t);
  return 0;
}

static int manifest_request(const char *url, const char *user, const char *pass, const char *token,
                            long timeout_ms, headers_seen *seen, long *status, bw_error_t *err) {
  cleanup_curl CURL *h = curl_easy_init();
  if (!h)
    abort();
  cleanup_slist struct curl_slist *headers = curl_slist_append(NULL, ACCEPT_MANIFESTS);
  cleanup_free char *bearer = token ? bw_strdup_printf("Authorization: Bearer %s", token) : NULL;
  if (bearer)
    headers = curl_slist_append(headers, bearer);
  set_common(h, timeout_ms);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_NOBODY, 1L); /* HEAD: the digest is in the headers */
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  if (!token && user && pass) {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERNAME, user);
    curl_easy_setopt(h, CURLOPT_PASSWORD, pass);
  }
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, seen);
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "registry %s: %s", url, curl_easy_strerror(rc));
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  return 0;
}

int registry_manifest_head(const image_ref *ref, const char *user, const char *pass,
                           long timeout_ms, registry_manifest *out, bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  const char *host = image_ref_registry_host(ref);
  const char *reference = ref->digest ? ref->digest : ref->tag;
  cleanup_free char *url =
      bw_strdup_printf("%s://%s/v2/%s/manifests/%s", host_is_loopback(host) ? "http" : "https",
                       host, ref->path, reference);
  headers_seen seen = {0};
  long status = 0;
  int rc = manifest_request(url, user, pass, NULL, timeout_ms, &seen, &status, err);
  if (rc == 0 && status == 401 && seen.challenge && strncasecmp(seen.challenge, "Bearer", 6) == 0) {
    cleanup_free char *token = NULL;
    cleanup_free char *challenge = steal_pointer(&seen.challenge);
    headers_seen_free(&seen);
    rc = fetch_token(challenge, user, pass, timeout_ms, &token, err);
    if (rc == 0)
      rc = manifest_request(url, NULL, NULL, token, timeout_ms, &seen, &status, err);
  }
  if (rc < 0) {
    headers_seen_free(&seen);
    return -1;
  }
  out->status = status;
  out->digest = steal_pointer(&seen.digest);
  out->media_type = steal_pointer(&seen.content_type);
  headers_seen_free(&seen);
  if (status == 401 || status == 403)
    return bw_error_set(err, BW_ERR_USER, "registry %s: %s/%s: unauthorized (%ld)%s", host,
                        ref->path, reference, status, user ? "" : ": no credentials were given");
  if (status == 404)
    return bw_error_set(err, BW_ERR_USER, "registry %s: %s:%s: manifest not found", host, ref->path,
                        reference);
  if (status != 200)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "registry %s: %s:%s: status %ld", host, ref->path,
                        reference, status);
  return 0;
}

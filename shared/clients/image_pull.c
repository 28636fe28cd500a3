#include "clients/image_pull.h"

#include "core/buffer.h"
#include "core/cleanup.h"
#include "core/timeutil.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PROGRESS_LINE_CAP (1u << 20)

void image_pull_result_free(image_pull_result *r) {
  if (!r)
    return;
  free(r->image_id);
  free(r->digest);
  r->image_id = r->digest = NULL;
}

bool image_error_is_user(const char *m) {
  static const char *const user_side[] = {"not found",
                                          "manifest unknown",
                                          "unauthorized",
                                          "authentication required",
                                          "no basic auth",
                                          "denied",
                                          "repository does not exist",
                                          "incorrect username or password",
                                          "invalid reference format",
                                          "name unknown",
                                          NULL};
  for (size_t i = 0; user_side[i]; i++)
    if (strcasestr(m, user_side[i]))
      return true;
  return false;
}

char *image_registry_auth_header(const char *user, const char *pass, const char *server) {
  cleanup_json json_t *doc = json_pack("{s:s, s:s, s:s}", "username", user ? user : "", "password",
                                       pass ? pass : "", "serveraddress", server);
  cleanup_free char *text = json_dumps(doc, JSON_COMPACT);
  if (!text)
    abort();
  size_t len = strlen(text);
  char *encoded = bw_xcalloc(4 * ((len + 2) / 3) + 1, 1);
  EVP_EncodeBlock((unsigned char *)encoded, (const unsigned char *)text, (int)len);
  /* The engine decodes with the URL-safe alphabet. */
  for (char *p = encoded; *p; p++)
    *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
  char *header = bw_strdup_printf("X-Registry-Auth: %s", encoded);
  explicit_bzero(text, len);
  free(encoded);
  return header;
}

int image_pull_inspect(docker_client *dc, const char *name, json_t **out, bw_error_t *err) {
  *out = NULL;
  cleanup_free char *esc = docker_escape(dc, name);
  cleanup_free char *path = bw_strdup_printf("/images/%s/json", esc);
  cleanup_docker_response docker_response resp;
  if (docker_call(dc, "GET", path, NULL, &resp, err) < 0)
    return -1;
  if (resp.status == 404)
    return 0;
  if (resp.status != 200 || !resp.json)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "inspect image %s: %ld: %s", name, resp.status,
                        docker_response_message(&resp));
  *out = json_incref(resp.json);
  return 0;
}

bool image_has_repo_digest(const json_t *inspect, const char *repository, const char *digest) {
  cleanup_free char *want = bw_strdup_printf("%s@%s", repository, digest);
  json_t *list = json_object_get(inspect, "RepoDigests");
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    const char *s = json_string_value(v);
    if (!s)
      continue;
    /* The engine drops the docker.io/ (and library/) prefix for Docker Hub images. */
    if (strcmp(s, want) == 0 ||
        (strncmp(want, "docker.io/", 10) == 0 &&
         (strcmp(s, want + 10) == 0 ||
          (strncmp(want + 10, "library/", 8) == 0 && strcmp(s, want + 18) == 0))))
      return true;
  }
  return false;
}

/* Reads the progress stream line by line: each line is a JSON object. */
typedef struct progress_reader {
  bw_buffer line;
  char *error;   /* first error message seen */
  char *message; /* the "message" of a failed request's JSON body */
  char *digest;  /* from "Digest: sha256:..." */
} progress_reader;

static void progress_line(progress_reader *pr, const char *text, size_t len) {
  cleanup_json json_t *obj = json_loadb(text, len, 0, NULL);
  if (!obj)
    return;
  const char *error = json_string_value(json_object_get(obj, "error"));
  if (!error)
    error = json_string_value(json_object_get(json_object_get(obj, "errorDetail"), "message"));
  if (error && !pr->error)
    pr->error = bw_strdup(error);
  const char *message = json_string_value(json_object_get(obj, "message"));
  if (message && !pr->message)
    pr->message = bw_strdup(message);
  const char *status = json_string_value(json_object_get(obj, "status"));
  if (status && strncmp(status, "Digest: ", 8) == 0) {
    free(pr->digest);
    pr->digest = bw_strdup(status + 8);
  }
}

static int progress_data(void *ctx, const char *data, size_t len) {
  progress_reader *pr = ctx;
  for (size_t i = 0; i < len; i++) {
    if (data[i] == '\n') {
      progress_line(pr, pr->line.data ? pr->line.data : "", pr->line.len);
      bw_buffer_reset(&pr->line);
    } else if (!bw_buffer_append(&pr->line, &data[i], 1)) {
      return -1; /* a "line" of a megabyte is not a progress message */
    }
  }
  return 0;
}

/* One attempt. Returns 0, or -1 with err set (kind USER for non-retryable). */
static int pull_once(docker_client *dc, const image_ref *ref, const image_pull_opts *opts,
                     char **digest_out, bw_error_t *err) {
  cleanup_free char *repo = image_ref_repository(ref);
  cleanup_free char *esc_repo = docker_escape(dc, repo);
  cleanup_free char *esc_tag = docker_escape(dc, ref->digest ? ref->digest : ref->tag);
  cleanup_free char *path =
      bw_strdup_printf("/images/create?fromImage=%s&tag=%s", esc_repo, esc_tag);
  cleanup_free char *auth = image_registry_auth_header(opts->username, opts->password, ref->domain);
  progress_reader pr = {0};
  bw_buffer_init(&pr.line, PROGRESS_LINE_CAP);
  docker_stream_opts so = {
      .method = "POST",
      .path = path,
      .header = opts->username ? auth : NULL,
      .total_timeout_ms = opts->total_timeout_ms,
      .inactivity_timeout_s = opts->inactivity_timeout_s,
      .on_data = progress_data,
      .ctx = &pr,
  };
  long status = docker_stream(dc, &so, err);
  if (status >= 0 && pr.line.len > 0) /* a last line without its newline */
    progress_line(&pr, pr.line.data, pr.line.len);
  int rc = 0;
  if (status < 0) {
    rc = -1;
  } else if (status != 200) {
    /* The body of a failed request is one JSON object with "message". */
    const char *msg = pr.message ? pr.message : pr.error ? pr.error : "no message";
    rc = bw_error_set(err, image_error_is_user(msg) ? BW_ERR_USER : BW_ERR_UNAVAILABLE,
                      "engine answered %ld: %s", status, msg);
  } else if (pr.error) {
    rc = bw_error_set(err, image_error_is_user(pr.error) ? BW_ERR_USER : BW_ERR_UNAVAILABLE, "%s",
                      pr.error);
  }
  if (rc == 0 && pr.digest)
    *digest_out = steal_pointer(&pr.digest);
  bw_buffer_free(&pr.line);
  free(pr.error);
  free(pr.message);
  free(pr.digest);
  return rc;
}

int image_pull(docker_client *dc, const image_ref *ref, const image_pull_opts *in_opts,
               image_pull_result *out, bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  image_pull_opts opts = *in_opts;
  if (opts.total_timeout_ms <= 0)
    opts.total_timeout_ms = 30L * 60 * 1000;
  if (opts.inactivity_timeout_s <= 0)
    opts.inactivity_timeout_s = 120;
  if (opts.max_attempts <= 0)
    opts.max_attempts = 4;
  if (opts.backoff_initial_ms <= 0)
    opts.backoff_initial_ms = 500;
  if (opts.backoff_max_ms <= 0)
    opts.backoff_max_ms = 60000;
  int64_t start = bw_time_monotonic_ms();
  long backoff = opts.backoff_initial_ms;
  cleanup_free char *name = image_ref_string(ref);
  const bw_cancel *saved_cancel = dc->cancel;
  dc->cancel = opts.cancel;
  int rc = -1;
  for (int attempt = 1; attempt <= opts.max_attempts; attempt++) {
    out->attempts = attempt;
    bw_error_release(err);
    if (pull_once(dc, ref, &opts, &out->digest, err) == 0) {
      rc = 0;
      break;
    }
    bw_error_kind kind = (*err)->kind;
    if (kind == BW_ERR_USER || kind == BW_ERR_CANCELLED || attempt == opts.max_attempts)
      break;
    bw_time_sleep_ms(backoff, opts.cancel);
    if (bw_cancel_level(opts.cancel)) {
      bw_error_set(err, BW_ERR_CANCELLED, "cancelled while waiting to retry");
      break;
    }
    backoff = backoff * 2 > opts.backoff_max_ms ? opts.backoff_max_ms : backoff * 2;
  }
  dc->cancel = saved_cancel;
  out->duration_ms = bw_time_monotonic_ms() - start;
  if (rc < 0)
    return bw_error_prefix(err, "pull %s (attempt %d of %d)", name, out->attempts,
                           opts.max_attempts);
  cleanup_json json_t *inspect = NULL;
  cleanup_free char *local = image_ref_local_name(ref);
  if (image_pull_inspect(dc, local, &inspect, err) < 0)
    return bw_error_prefix(err, "pull %s", name);
  if (!inspect)
    return bw_error_set(err, BW_ERR_UNAVAILABLE,
                        "pull %s: the engine said it pulled the image, "
                        "but has no such image",
                        name);
  out->image_id = bw_strdup(json_string_value(json_object_get(inspect, "Id")));
  return 0;
}

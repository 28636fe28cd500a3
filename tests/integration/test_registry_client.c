/* shared/clients/registry_client.h against the stack's real registry
 * (STACK_REGISTRY, htpasswd basic auth): a manifest with the stack's
 * credentials (its digest checked against the curl program's own answer), a
 * wrong password and none at all (clear errors that never carry the
 * password, nor its base64 in a header echoed back), unknown repositories,
 * tags and digests, and a registry that is down or silent. */
#include "stack_env.h"

#include "clients/registry_client.h"
#include "core/cleanup.h"
#include "core/random_id.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define ACCEPT                                                                                     \
  "application/vnd.oci.image.index.v1+json, "                                                      \
  "application/vnd.docker.distribution.manifest.list.v2+json, "                                    \
  "application/vnd.docker.distribution.manifest.v2+json, "                                         \
  "application/vnd.oci.image.manifest.v1+json"

static void parse(const char *text, image_ref *ref) {
  cleanup_error bw_error_t err = NULL;
  if (image_ref_parse(text, ref, &err) < 0)
    fail_msg("%s: %s", text, bw_error_msg(&err));
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The Docker-Content-Digest the curl program gets for the same manifest,
 * with the credentials in a 0600 config file (never on a command line). */
static char *digest_by_curl(const char *repo_path, const char *reference) {
  char conf[] = "/tmp/bw-reg-curl-XXXXXX";
  int fd = mkstemp(conf);
  assert_true(fd >= 0);
  FILE *fp = fdopen(fd, "w");
  fprintf(fp, "user = \"%s:%s\"\n", stack_env("STACK_REGISTRY_USER"),
          stack_env("STACK_REGISTRY_PASSWORD"));
  fclose(fp);
  cleanup_free char *cmd =
      bw_strdup_printf("curl -sfI -K %s -H 'Accept: %s' http://%s/v2/%s/manifests/%s", conf, ACCEPT,
                       stack_env("STACK_REGISTRY"), repo_path, reference);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  char line[512];
  char *digest = NULL;
  while (fgets(line, sizeof(line), p))
    if (strncasecmp(line, "Docker-Content-Digest:", 22) == 0) {
      char *v = line + 22;
      v += strspn(v, " ");
      v[strcspn(v, "\r\n")] = '\0';
      digest = bw_strdup(v);
    }
  int st = pclose(p);
  unlink(conf);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  assert_non_null(digest);
  return digest;
}

static bool is_digest(const char *d) {
  return d && strncmp(d, "sha256:", 7) == 0 && strlen(d) == 7 + 64 &&
         strspn(d + 7, "0123456789abcdef") == 64;
}

static void test_a_manifest_with_the_stack_credentials(void **state) {
  cleanup_free char *name = stack_image("exit");
  cleanup_image_ref image_ref ref;
  parse(name, &ref);
  cleanup_error bw_error_t err = NULL;
  registry_manifest m;
  if (registry_manifest_head(&ref, stack_env("STACK_REGISTRY_USER"),
                             stack_env("STACK_REGISTRY_PASSWORD"), 10000, &m, &err) < 0)
    fail_msg("%s", bw_error_msg(&err));
  assert_null(err);
  assert_int_equal(m.status, 200);
  assert_true(is_digest(m.digest));
  assert_non_null(m.media_type);
  assert_non_null(strstr(ACCEPT, m.media_type)); /* one of the kinds asked for */
  cleanup_free char *by_curl = digest_by_curl(ref.path, ref.tag);
  assert_string_equal(m.digest, by_curl);

  /* The same manifest by its digest. */
  cleanup_free char *pinned = bw_strdup_printf("%s/%s@%s", ref.domain, ref.path, m.digest);
  cleanup_image_ref image_ref by_digest;
  parse(pinned, &by_digest);
  registry_manifest again;
  assert_int_equal(registry_manifest_head(&by_digest, stack_env("STACK_REGISTRY_USER"),
                                          stack_env("STACK_REGISTRY_PASSWORD"), 10000, &again,
                                          &err),
                   0);
  assert_string_equal(again.digest, m.digest);
  registry_manifest_free(&again);
  registry_manifest_free(&m);
  assert_null(m.digest);
  registry_manifest_free(&m); /* twice */
  registry_manifest_free(NULL);
}

/* base64 of "user:pass", as a Basic Authorization header carries it. */
static char *basic_token(const char *user, const char *pass) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  cleanup_free char *in = bw_strdup_printf("%s:%s", user, pass);
  size_t n = strlen(in);
  char *out = calloc(1, 4 * (n / 3 + 1) + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (i + 1 < n ? (unsigned char)in[i + 1] << 8 : 0) |
                 (i + 2 < n ? (unsigned char)in[i + 2] : 0);
    out[o++] = b64[v >> 18 & 63];
    out[o++] = b64[v >> 12 & 63];
    out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? b64[v & 63] : '=';
  }
  return out;
}

static void expect_secret_absent(const char *msg, const char *user, const char *pass) {
  cleanup_free char *token = basic_token(user, pass);
  if (strstr(msg, pass) || strstr(msg, token))
    fail_msg("the password leaked into [%s]", msg);
}

/* Wrong passwords (plain, and full of URL and JSON metacharacters): a user
 * error that says "unauthorized" and names the image, never the password. */
static void test_a_wrong_password_is_a_clear_user_error_without_it(void **state) {
  cleanup_free char *name = stack_image("exit");
  cleanup_image_ref image_ref ref;
  parse(name, &ref);
  const char *user = stack_env("STACK_REGISTRY_USER");
  char rnd[BW_RANDOM_ID_LEN + 1];
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(bw_random_id(rnd, &err), 0);
  cleanup_free char *plain = bw_strdup_printf("wrong-%s", rnd);
  cleanup_free char *odd = bw_strdup_printf("p@ss:w/rd%%40?#&=\"\\' %s", rnd);
  cleanup_free char *real_plus = bw_strdup_printf("%sx", stack_env("STACK_REGISTRY_PASSWORD"));
  const char *passwords[] = {plain, odd, real_plus};
  for (size_t i = 0; i < 3; i++) {
    registry_manifest m;
    assert_int_equal(registry_manifest_head(&ref, user, passwords[i], 10000, &m, &err), -1);
    assert_non_null(err);
    assert_int_equal(err->kind, BW_ERR_USER);
    assert_int_equal(m.status, 401);
    if (!strstr(err->msg, "unauthorized") || !strstr(err->msg, ref.path) ||
        !strstr(err->msg, stack_env("STACK_REGISTRY")))
      fail_msg("unclear: [%s]", err->msg);
    assert_null(strstr(err->msg, "no credentials were given"));
    expect_secret_absent(err->msg, user, passwords[i]);
    registry_manifest_free(&m);
    bw_error_release(&err);
  }
  /* A wrong user with the right password: the same, and the password still
   * absent. */
  registry_manifest m;
  const char *pass = stack_env("STACK_REGISTRY_PASSWORD");
  assert_int_equal(registry_manifest_head(&ref, "nobody-at-all", pass, 10000, &m, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  expect_secret_absent(err->msg, "nobody-at-all", pass);
  registry_manifest_free(&m);
}

static void test_no_credentials_says_so(void **state) {
  cleanup_free char *name = stack_image("exit");
  cleanup_image_ref image_ref ref;
  parse(name, &ref);
  cleanup_error bw_error_t err = NULL;
  registry_manifest m;
  assert_int_equal(registry_manifest_head(&ref, NULL, NULL, 10000, &m, &err), -1);
  assert_int_equal(err->kind, BW_ERR_USER);
  assert_int_equal(m.status, 401);
  assert_non_null(strstr(err->msg, "unauthorized"));
  assert_non_null(strstr(err->msg, "no credentials were given"));
  registry_manifest_free(&m);
}

/* With good credentials, what does not exist is "not found", the job's
 * fault, naming what was asked for. */
static void test_unknown_repository_tag_and_digest(void **state) {
  const char *prefix = stack_env("STACK_IMAGE_PREFIX");
  cleanup_free char *no_repo = bw_strdup_printf("%s/no-such-repo-4711:1.0", prefix);
  cleanup_free char *no_tag = bw_strdup_printf("%s/exit:no-such-tag", prefix);
  cleanup_free char *no_digest = bw_strdup_printf(
      "%s/exit@sha256:0000000000000000000000000000000000000000000000000000000000000000", prefix);
  const char *names[] = {no_repo, no_tag, no_digest};
  const char *named[] = {"no-such-repo-4711", "no-such-tag", "sha256:0000"};
  for (size_t i = 0; i < 3; i++) {
    cleanup_image_ref image_ref ref;
    parse(names[i], &ref);
    cleanup_error bw_error_t err = NULL;
    registry_manifest m;
    assert_int_equal(registry_manifest_head(&ref, stack_env("STACK_REGISTRY_USER"),
                                            stack_env("STACK_REGISTRY_PASSWORD"), 10000, &m, &err),
                     -1);
    assert_int_equal(err->kind, BW_ERR_USER);
    assert_int_equal(m.status, 404);
    assert_null(m.digest);
    if (!strstr(err->msg, "manifest not found") || !strstr(err->msg, named[i]))
      fail_msg("unclear: [%s]", err->msg);
    expect_secret_absent(err->msg, stack_env("STACK_REGISTRY_USER"),
                         stack_env("STACK_REGISTRY_PASSWORD"));
    registry_manifest_free(&m);
  }
}

/* A port nobody listens on, and a listener that never answers: transport
 * failures (the infrastructure's, not the job's), within the timeout. */
static void test_a_registry_down_or_silent_is_unavailable(void **state) {
  int silent = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(silent, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(silent, 8), 0); /* accepted by the kernel, never answered */
  socklen_t len = sizeof(sa);
  assert_int_equal(getsockname(silent, (struct sockaddr *)&sa, &len), 0);
  int silent_port = ntohs(sa.sin_port);
  int down = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sa.sin_port = 0;
  assert_int_equal(bind(down, (struct sockaddr *)&sa, sizeof(sa)), 0);
  len = sizeof(sa);
  assert_int_equal(getsockname(down, (struct sockaddr *)&sa, &len), 0);
  int down_port = ntohs(sa.sin_port);
  close(down); /* nothing listens there now */
  const int ports[] = {down_port, silent_port};
  const char *pass = stack_env("STACK_REGISTRY_PASSWORD");
  for (size_t i = 0; i < 2; i++) {
    cleanup_free char *name = bw_strdup_printf("127.0.0.1:%d/bundle-test/exit:1.0", ports[i]);
    cleanup_image_ref image_ref ref;
    parse(name, &ref);
    cleanup_error bw_error_t err = NULL;
    registry_manifest m;
    int64_t t0 = now_ms();
    assert_int_equal(
        registry_manifest_head(&ref, stack_env("STACK_REGISTRY_USER"), pass, 500, &m, &err), -1);
    int64_t took = now_ms() - t0;
    assert_true(took < 5000);
    assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
    cleanup_free char *port = bw_strdup_printf("127.0.0.1:%d", ports[i]);
    if (!strstr(err->msg, port))
      fail_msg("unclear: [%s]", err->msg);
    expect_secret_absent(err->msg, stack_env("STACK_REGISTRY_USER"), pass);
    registry_manifest_free(&m);
  }
  close(silent);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_manifest_with_the_stack_credentials),
      cmocka_unit_test(test_a_wrong_password_is_a_clear_user_error_without_it),
      cmocka_unit_test(test_no_credentials_says_so),
      cmocka_unit_test(test_unknown_repository_tag_and_digest),
      cmocka_unit_test(test_a_registry_down_or_silent_is_unavailable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* shared/job/image_ref.h: parsing and normalising image references as Docker does. */
#include "job/image_ref.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST "sha256:" HEX64

typedef struct valid_case {
  const char *text;
  const char *domain;
  const char *path;
  const char *tag; /* NULL: none */
  const char *digest;
  const char *string;
} valid_case;

static const valid_case valid_cases[] = {
    {"hello-world", "docker.io", "library/hello-world", "latest", NULL,
     "docker.io/library/hello-world:latest"},
    {"ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", NULL,
     "docker.io/library/ubuntu:22.04"},
    {"library/ubuntu", "docker.io", "library/ubuntu", "latest", NULL,
     "docker.io/library/ubuntu:latest"},
    {"docker.io/library/ubuntu", "docker.io", "library/ubuntu", "latest", NULL,
     "docker.io/library/ubuntu:latest"},
    {"docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", NULL,
     "docker.io/library/ubuntu:latest"},
    {"index.docker.io/x/y", "docker.io", "x/y", "latest", NULL, "docker.io/x/y:latest"},
    {"user/repo:tag", "docker.io", "user/repo", "tag", NULL, "docker.io/user/repo:tag"},
    {"quay.io/org/app:1.2", "quay.io", "org/app", "1.2", NULL, "quay.io/org/app:1.2"},
    {"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1",
     "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "team/app", "v1", NULL,
     "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1"},
    {"localhost/app", "localhost", "app", "latest", NULL, "localhost/app:latest"},
    {"localhost:5000/app:dev", "localhost:5000", "app", "dev", NULL, "localhost:5000/app:dev"},
    {"127.0.0.1:5000/bundle-test/sample:1.0", "127.0.0.1:5000", "bundle-test/sample", "1.0", NULL,
     "127.0.0.1:5000/bundle-test/sample:1.0"},
    {"registry.example.com:8443/a/b/c:tag", "registry.example.com:8443", "a/b/c", "tag", NULL,
     "registry.example.com:8443/a/b/c:tag"},
    {"[::1]:5000/app", "[::1]:5000", "app", "latest", NULL, "[::1]:5000/app:latest"},
    {"[fe80::1]/app", "[fe80::1]", "app", "latest", NULL, "[fe80::1]/app:latest"},
    {"app@" DIGEST, "docker.io", "library/app", NULL, DIGEST, "docker.io/library/app@" DIGEST},
    {"quay.io/org/app:2@" DIGEST, "quay.io", "org/app", "2", DIGEST, "quay.io/org/app:2@" DIGEST},
    {"Uppercase/x", "Uppercase", "x", "latest", NULL, "Uppercase/x:latest"},
    {"my-host/x", "docker.io", "my-host/x", "latest", NULL, "docker.io/my-host/x:latest"},
    {"a__b/c-d--e/f.g_h:_T.1-x", "docker.io", "a__b/c-d--e/f.g_h", "_T.1-x", NULL,
     "docker.io/a__b/c-d--e/f.g_h:_T.1-x"},
    /* No slash: "localhost" is the repository and 5000 the tag, as in Docker. */
    {"localhost:5000", "docker.io", "library/localhost", "5000", NULL,
     "docker.io/library/localhost:5000"},
    {"a-b.example:1/x", "a-b.example:1", "x", "latest", NULL, "a-b.example:1/x:latest"},
    {"app@sha512+b64u:" HEX64, "docker.io", "library/app", NULL, "sha512+b64u:" HEX64,
     "docker.io/library/app@sha512+b64u:" HEX64},
};

static void expect_str_or_null(const char *got, const char *want, const char *what,
                               const char *text) {
  if (!want && !got)
    return;
  if (!want || !got || strcmp(got, want) != 0)
    fail_msg("%s: %s is '%s', expected '%s'", text, what, got ? got : "(null)",
             want ? want : "(null)");
}

static void test_valid_references(void **state) {
  for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
    const valid_case *c = &valid_cases[i];
    image_ref ref;
    bw_error_t err = NULL;
    if (image_ref_parse(c->text, &ref, &err) < 0)
      fail_msg("%s: %s", c->text, bw_error_msg(&err));
    expect_str_or_null(ref.domain, c->domain, "domain", c->text);
    expect_str_or_null(ref.path, c->path, "path", c->text);
    expect_str_or_null(ref.tag, c->tag, "tag", c->text);
    expect_str_or_null(ref.digest, c->digest, "digest", c->text);
    char *s = image_ref_string(&ref);
    expect_str_or_null(s, c->string, "string", c->text);
    free(s);
    image_ref_free(&ref);
  }
}

/* A normalised reference parses to itself. */
static void test_string_round_trips(void **state) {
  for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
    image_ref ref;
    bw_error_t err = NULL;
    if (image_ref_parse(valid_cases[i].string, &ref, &err) < 0)
      fail_msg("%s: %s", valid_cases[i].string, bw_error_msg(&err));
    char *s = image_ref_string(&ref);
    assert_string_equal(s, valid_cases[i].string);
    free(s);
    image_ref_free(&ref);
  }
}

static char *repeat(char ch, size_t n) {
  char *s = malloc(n + 1);
  assert_non_null(s);
  memset(s, ch, n);
  s[n] = '\0';
  return s;
}

static void test_tag_of_128_characters_is_valid(void **state) {
  char *tag = repeat('t', 128);
  char *text = bw_strdup_printf("app:%s", tag);
  image_ref ref;
  bw_error_t err = NULL;
  assert_int_equal(image_ref_parse(text, &ref, &err), 0);
  assert_string_equal(ref.tag, tag);
  image_ref_free(&ref);
  free(text);
  free(tag);
}

/* The limit is on the normalised name, "docker.io/library/" (18 characters) included. */
static void test_name_of_255_characters_is_valid(void **state) {
  static const struct {
    const char *prefix;
    size_t path_len;
  } cases[] = {{"", 237}, {"docker.io/library/", 237}, {"quay.io/", 247}, {"a.io/", 250}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *path = repeat('a', cases[i].path_len);
    char *text = bw_strdup_printf("%s%s:1", cases[i].prefix, path);
    image_ref ref;
    bw_error_t err = NULL;
    if (image_ref_parse(text, &ref, &err) < 0)
      fail_msg("%s: %s", text, bw_error_msg(&err));
    char *repo = image_ref_repository(&ref);
    assert_int_equal(strlen(repo), 255);
    free(repo);
    image_ref_free(&ref);
    free(text);
    free(path);
  }
}

typedef struct invalid_case {
  const char *text;
  const char *message_part;
} invalid_case;

static void expect_invalid(const char *text, const char *message_part) {
  image_ref ref;
  bw_error_t err = NULL;
  if (image_ref_parse(text, &ref, &err) == 0) {
    char *s = image_ref_string(&ref);
    image_ref_free(&ref);
    fail_msg("'%s' accepted as %s", text, s);
  }
  assert_non_null(err);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  if (!strstr(err->msg, message_part))
    fail_msg("'%s': message '%s' lacks '%s'", text, err->msg, message_part);
  /* a failed parse leaves nothing to free */
  assert_null(ref.domain);
  assert_null(ref.path);
  assert_null(ref.tag);
  assert_null(ref.digest);
  bw_error_release(&err);
}

static void test_invalid_references(void **state) {
  static const invalid_case cases[] = {
      {"", "empty"},
      {"UPPER", "must be lowercase"},
      {"app:", "tag ''"},
      {"app:-bad", "tag '-bad'"},
      {"app:.bad", "tag '.bad'"},
      {"app:b@d", "digest"},
      {"app:ta/g", "'app:ta' is not a valid host"},
      {"app@sha256:short", "digest 'sha256:short'"},
      {"app@md5", "digest 'md5'"},
      {"app@", "digest ''"},
      {"app@sha256:" HEX64 "0", "digest"},
      {"app@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "digest"},
      {"app@:" HEX64, "digest"},
      {"app@+sha:" HEX64, "digest"},
      {"app@sha..x:" HEX64, "digest"},
      {"app@sha-:" HEX64, "digest"},
      {"app@SHA256:" HEX64, "digest"},
      {"app@md5:0123", "digest"},
      {"a//b", "repository 'a//b'"},
      {"/app", "repository"},
      {"app/", "repository"},
      {"-app", "repository '-app'"},
      {"app-", "repository 'app-'"},
      {"app_", "repository"},
      {"a..b", "repository"},
      {"a___b", "repository"},
      {"a-_b", "repository"},
      {"a-.b", "repository"},
      {"a._b", "repository"},
      {"host:port:5000/x", "'host:port:5000' is not a valid host"},
      {"quay.io/", "repository ''"},
      {"quay.io:/app", "not a valid host"},
      {"quay.io:80a/app", "not a valid host"},
      {"-quay.io/app", "not a valid host"},
      {"quay-.io/app", "not a valid host"},
      {"quay.io-/app", "not a valid host"},
      {"quay..io/app", "not a valid host"},
      {".quay.io/app", "not a valid host"},
      {"qu_ay.io/app", "not a valid host"},
      {"[]:5000/app", "not a valid host"},
      {"[]/app", "repository '[]/app'"},
      {"[zz::1]:5000/app", "not a valid host"},
      {"[::1]x/app", "not a valid host"},
      {"exa mple/app", "repository 'exa mple/app'"},
      {"quay.io/Org/app", "repository 'Org/app'"},
      {":tag", "repository ''"},
      {"@" DIGEST, "repository ''"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    expect_invalid(cases[i].text, cases[i].message_part);
}

static void test_null_is_empty(void **state) {
  image_ref ref;
  bw_error_t err = NULL;
  assert_int_equal(image_ref_parse(NULL, &ref, &err), -1);
  assert_string_equal(err->msg, "image reference is empty");
  bw_error_release(&err);
}

static void test_tag_of_129_characters_is_invalid(void **state) {
  char *tag = repeat('t', 129);
  char *text = bw_strdup_printf("app:%s", tag);
  expect_invalid(text, "1 to 128 characters");
  free(text);
  free(tag);
}

static void test_name_over_255_characters_is_invalid(void **state) {
  static const struct {
    const char *prefix;
    size_t path_len;
  } cases[] = {{"", 238}, {"", 255}, {"library/", 238}, {"quay.io/", 248}, {"a.io/", 4000}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *path = repeat('b', cases[i].path_len);
    char *text = bw_strdup_printf("%s%s", cases[i].prefix, path);
    expect_invalid(text, "name longer than 255");
    free(text);
    free(path);
  }
}

static void test_64_hex_digits_read_as_an_image_id(void **state) {
  expect_invalid(HEX64, "reads as an image id");
  /* with anything more it is a name again, as in Docker */
  image_ref ref;
  bw_error_t err = NULL;
  assert_int_equal(image_ref_parse(HEX64 ":1", &ref, &err), 0);
  image_ref_free(&ref);
  assert_int_equal(image_ref_parse("library/" HEX64, &ref, &err), 0);
  image_ref_free(&ref);
}

static void test_repository_and_registry_host(void **state) {
  static const struct {
    const char *text, *repository, *host;
  } cases[] = {
      {"hello-world", "docker.io/library/hello-world", "registry-1.docker.io"},
      {"index.docker.io/x/y:1", "docker.io/x/y", "registry-1.docker.io"},
      {"quay.io/org/app:1", "quay.io/org/app", "quay.io"},
      {"127.0.0.1:5000/a/b@" DIGEST, "127.0.0.1:5000/a/b", "127.0.0.1:5000"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    image_ref ref;
    bw_error_t err = NULL;
    assert_int_equal(image_ref_parse(cases[i].text, &ref, &err), 0);
    char *repo = image_ref_repository(&ref);
    assert_string_equal(repo, cases[i].repository);
    assert_string_equal(image_ref_registry_host(&ref), cases[i].host);
    free(repo);
    image_ref_free(&ref);
  }
}

static void test_local_name_prefers_digest(void **state) {
  image_ref ref;
  bw_error_t err = NULL;
  assert_int_equal(image_ref_parse("quay.io/org/app:2@" DIGEST, &ref, &err), 0);
  char *name = image_ref_local_name(&ref);
  assert_string_equal(name, "quay.io/org/app@" DIGEST);
  free(name);
  image_ref_free(&ref);
  assert_int_equal(image_ref_parse("ubuntu:22.04", &ref, &err), 0);
  name = image_ref_local_name(&ref);
  assert_string_equal(name, "docker.io/library/ubuntu:22.04");
  free(name);
  image_ref_free(&ref);
}

static void test_tag_valid(void **state) {
  static const struct {
    const char *tag;
    int valid;
  } cases[] = {
      {"latest", 1}, {"1.2.3", 1}, {"_x", 1},  {"V1-rc.2_b", 1}, {"", 0},
      {".x", 0},     {"-x", 0},    {"a:b", 0}, {"a/b", 0},       {"a b", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    if (image_ref_tag_valid(cases[i].tag) != cases[i].valid)
      fail_msg("tag '%s': expected valid=%d", cases[i].tag, cases[i].valid);
}

static void test_digest_valid(void **state) {
  static const struct {
    const char *digest;
    int valid;
  } cases[] = {
      {DIGEST, 1},
      {"sha512:" HEX64 HEX64, 1},
      {"blake3:0123456789abcdef0123456789abcdef", 1},
      {"x.y_z-w+v:0123456789abcdef0123456789abcdef", 1},
      {"sha256:" HEX64 "00", 0},
      {"blake3:0123456789abcdef0123456789abcde", 0}, /* 31 hex */
      {"sha256", 0},
      {":" HEX64, 0},
      {"a__b:0123456789abcdef0123456789abcdef", 0},
      {"a.:0123456789abcdef0123456789abcdef", 0},
      {"sha256:" HEX64 ":", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    if (image_ref_digest_valid(cases[i].digest) != cases[i].valid)
      fail_msg("digest '%s': expected valid=%d", cases[i].digest, cases[i].valid);
}

static void test_free_accepts_null_and_twice(void **state) {
  image_ref_free(NULL);
  image_ref ref;
  bw_error_t err = NULL;
  assert_int_equal(image_ref_parse("app", &ref, &err), 0);
  image_ref_free(&ref);
  image_ref_free(&ref);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_references),
      cmocka_unit_test(test_string_round_trips),
      cmocka_unit_test(test_tag_of_128_characters_is_valid),
      cmocka_unit_test(test_name_of_255_characters_is_valid),
      cmocka_unit_test(test_invalid_references),
      cmocka_unit_test(test_null_is_empty),
      cmocka_unit_test(test_tag_of_129_characters_is_invalid),
      cmocka_unit_test(test_name_over_255_characters_is_invalid),
      cmocka_unit_test(test_64_hex_digits_read_as_an_image_id),
      cmocka_unit_test(test_repository_and_registry_host),
      cmocka_unit_test(test_local_name_prefers_digest),
      cmocka_unit_test(test_tag_valid),
      cmocka_unit_test(test_digest_valid),
      cmocka_unit_test(test_free_accepts_null_and_twice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

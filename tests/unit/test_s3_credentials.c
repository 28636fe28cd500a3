/* shared/clients/s3_credentials.h: one profile of an AWS credentials (or
 * config) file, s3_credentials_parse: "[NAME]" and "[profile NAME]",
 * comments, blanks around '=', CRLF, missing keys and profiles, a NUL byte,
 * duplicates, the session token; no message ever holds a key or a token.
 * Then s3_credentials_resolve: the variables first, else the file. */
#include "clients/s3_credentials.h"

#include "core/cleanup.h"
#include "core/config.h"
#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define FILE_NAME "creds.ini"

/* Parses `text` (len: strlen, or the given length) for `profile`. */
static int parse_len(const char *text, size_t len, const char *profile, s3_credentials *c,
                     bw_error_t *err) {
  return s3_credentials_parse(text, len, profile, FILE_NAME, c, err);
}

static void expect_keys(const char *text, const char *profile, const char *id, const char *secret,
                        const char *token) {
  s3_credentials c;
  cleanup_error bw_error_t err = NULL;
  if (parse_len(text, strlen(text), profile, &c, &err) != 0)
    fail_msg("[%s] of \"%s\": %s", profile, text, bw_error_msg(&err));
  assert_string_equal(c.access_key_id, id);
  assert_string_equal(c.secret_key, secret);
  if (token)
    assert_string_equal(c.session_token, token);
  else
    assert_null(c.session_token);
  cleanup_free char *source = bw_strdup_printf(FILE_NAME " [%s]", profile);
  assert_string_equal(c.source, source);
  s3_credentials_free(&c);
}

/* Fails with exactly `want`, leaves nothing behind, and none of `secrets`
 * (NULL-ended) is in the message. */
static void expect_refused_len(const char *text, size_t len, const char *profile, const char *want,
                               const char *const *secrets) {
  s3_credentials c;
  memset(&c, 0x5a, sizeof(c));
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(parse_len(text, len, profile, &c, &err), -1);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  if (strcmp(err->msg, want) != 0)
    fail_msg("got \"%s\", want \"%s\"", err->msg, want);
  assert_null(c.access_key_id);
  assert_null(c.secret_key);
  assert_null(c.session_token);
  assert_null(c.source);
  for (size_t i = 0; secrets && secrets[i]; i++)
    if (strstr(err->msg, secrets[i]))
      fail_msg("the message \"%s\" holds \"%s\"", err->msg, secrets[i]);
}

static void expect_refused(const char *text, const char *profile, const char *want,
                           const char *const *secrets) {
  expect_refused_len(text, strlen(text), profile, want, secrets);
}

#define NEEDS(p) FILE_NAME ": profile [" p "] needs aws_access_key_id and aws_secret_access_key"

static const char *const example_secrets[] = {"AKIAIOSFODNN7EXAMPLE",
                                              "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                              "IQoJb3JpZ2luX2VjEJr", NULL};

/* ---- sections ---- */

static void test_default_profile(void **state) {
  expect_keys("[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
              "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
              "default", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL);
  /* No newline at the end; the keys in either order. */
  expect_keys("[default]\naws_secret_access_key=s\naws_access_key_id=a", "default", "a", "s", NULL);
}

static void test_named_profiles(void **state) {
  static const char *const text =
      "[default]\naws_access_key_id = d-id\naws_secret_access_key = d\n"
      "[profile dev]\naws_access_key_id = dev-id\n"
      "aws_secret_access_key = dev\n"
      "[prod]\naws_access_key_id = prod-id\n"
      "aws_secret_access_key = prod\n"
      "[ spaced ]\naws_access_key_id = s-id\naws_secret_access_key = s\n"
      "[profile   wide]\naws_access_key_id = w-id\n"
      "aws_secret_access_key = w\n";
  expect_keys(text, "default", "d-id", "d", NULL);
  expect_keys(text, "dev", "dev-id", "dev", NULL);    /* config's "[profile NAME]" */
  expect_keys(text, "prod", "prod-id", "prod", NULL); /* credentials' "[NAME]" */
  expect_keys(text, "spaced", "s-id", "s", NULL);
  expect_keys(text, "wide", "w-id", "w", NULL);
  /* Names match whole and as spelt. */
  expect_refused(text, "pro", FILE_NAME ": no profile [pro]", example_secrets);
  expect_refused(text, "Prod", FILE_NAME ": no profile [Prod]", example_secrets);
  expect_refused(text, "profile dev", FILE_NAME ": no profile [profile dev]", NULL);
  expect_refused("[profiledev]\naws_access_key_id = a\naws_secret_access_key = s\n", "dev",
                 FILE_NAME ": no profile [dev]", NULL);
}

static void test_keys_of_other_profiles_stay_there(void **state) {
  /* Keys before any section, and in other sections, are not the profile's. */
  expect_refused("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                 "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
                 "[default]\n[other]\naws_session_token = IQoJb3JpZ2luX2VjEJr\n",
                 "default", NEEDS("default"), example_secrets);
  /* A profile in two sections: both count, the last value wins. */
  expect_keys("[default]\naws_access_key_id = first\n[other]\naws_access_key_id = other\n"
              "aws_secret_access_key = other\n[default]\naws_secret_access_key = second\n",
              "default", "first", "second", NULL);
}

/* ---- lines ---- */

static void test_comments_blanks_and_spaces(void **state) {
  expect_keys("# AWS credentials\n; another comment = [x]\n\n   \n  # indented = comment\n"
              "[default]\n\t; in the section\n"
              "  aws_access_key_id\t=\tAKIA  \n"
              "aws_secret_access_key=  s=e=c/+  \n"
              "region = eu-west-1\noutput=json\n",
              "default", "AKIA", "s=e=c/+", NULL); /* a value keeps its '=' */
  expect_keys("[default]\naws_access_key_id = a b\naws_secret_access_key = s # not a comment\n",
              "default", "a b", "s # not a comment", NULL);
}

static void test_crlf(void **state) {
  expect_keys("[default]\r\naws_access_key_id = AKIA\r\naws_secret_access_key = sec\r\n"
              "aws_session_token = tok\r\n",
              "default", "AKIA", "sec", "tok");
  expect_keys("[profile dev] \r\n\r\n# c\r\naws_access_key_id=a\r\naws_secret_access_key=s", "dev",
              "a", "s", NULL);
}

static void test_session_token(void **state) {
  expect_keys("[default]\naws_access_key_id = a\naws_secret_access_key = s\n"
              "aws_session_token = IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==\n",
              "default", "a", "s", "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==");
  /* An empty token is no token. */
  expect_keys("[default]\naws_access_key_id = a\naws_secret_access_key = s\naws_session_token =\n",
              "default", "a", "s", NULL);
}

static void test_duplicate_keys(void **state) {
  expect_keys("[default]\naws_access_key_id = one\naws_access_key_id = two\n"
              "aws_secret_access_key = s1\naws_secret_access_key = s2\n"
              "aws_session_token = t1\naws_session_token = t2\n",
              "default", "two", "s2", "t2");
  /* A later empty value empties it. */
  expect_refused("[default]\naws_access_key_id = a\naws_secret_access_key = secret-one\n"
                 "aws_secret_access_key =\n",
                 "default", NEEDS("default"), (const char *const[]){"secret-one", NULL});
}

static void test_key_names(void **state) {
  /* Only the three names, spelt as they are. */
  expect_refused("[default]\nAWS_ACCESS_KEY_ID = a\nAWS_SECRET_ACCESS_KEY = s\n", "default",
                 NEEDS("default"), NULL);
  expect_refused("[default]\naws_access_key_id_x = a\nx aws_secret_access_key = s\n", "default",
                 NEEDS("default"), NULL);
}

/* ---- refused ---- */

static void test_missing_keys(void **state) {
  expect_refused("[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", "default",
                 NEEDS("default"), example_secrets);
  expect_refused("[default]\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
                 "aws_session_token = IQoJb3JpZ2luX2VjEJr\n",
                 "default", NEEDS("default"), example_secrets);
  expect_refused("[default]\naws_access_key_id =\naws_secret_access_key = s\n", "default",
                 NEEDS("default"), NULL);
  expect_refused("[default]\naws_access_key_id = \t \naws_secret_access_key = s\n", "default",
                 NEEDS("default"), NULL);
  expect_refused("[default]\n", "default", NEEDS("default"), NULL);
}

static void test_missing_profile(void **state) {
  expect_refused("", "default", FILE_NAME ": no profile [default]", NULL);
  expect_refused("# only a comment\n", "default", FILE_NAME ": no profile [default]", NULL);
  expect_refused("[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                 "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
                 "ci", FILE_NAME ": no profile [ci]", example_secrets);
}

static void test_bad_lines_name_their_line(void **state) {
  static const char *const secret_line_text[] = {"SECRETONTHELINE", NULL};
  expect_refused("[default]\naws_access_key_id = a\naws_secret_access_key SECRETONTHELINE\n",
                 "default", FILE_NAME ":3: expected key = value or [profile]", secret_line_text);
  expect_refused("# c\r\n\r\n[default\r\naws_secret_access_key = s\r\n", "default",
                 FILE_NAME ":3: a section without ']'", NULL);
  expect_refused("[default] # comment\n", "default", FILE_NAME ":1: a section without ']'", NULL);
  /* A bad line in another profile fails the whole file. */
  expect_refused(
      "[default]\naws_access_key_id = a\naws_secret_access_key = s\n[x]\nSECRETONTHELINE\n",
      "default", FILE_NAME ":5: expected key = value or [profile]", secret_line_text);
  expect_refused("[", "default", FILE_NAME ":1: a section without ']'", NULL);
}

static void test_nul_byte(void **state) {
  static const char text[] = "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                             "aws_secret_access_key = wJalrXUtnFEMI\0K7MDENG\n";
  expect_refused_len(
      text, sizeof(text) - 1, "default", FILE_NAME ":3: a NUL byte",
      (const char *const[]){"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "K7MDENG", NULL});
  static const char in_key[] = "[default]\naws_access\0_key_id = a\n";
  expect_refused_len(in_key, sizeof(in_key) - 1, "default", FILE_NAME ":2: a NUL byte", NULL);
  static const char in_section[] = "[def\0ault]\n";
  expect_refused_len(in_section, sizeof(in_section) - 1, "default", FILE_NAME ":1: a NUL byte",
                     NULL);
  /* Only `len` bytes are read: what follows is not there. */
  static const char cut[] = "[default]\naws_access_key_id = a\naws_secret_access_key = sXYZ";
  s3_credentials c;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(parse_len(cut, sizeof(cut) - 4, "default", &c, &err), 0);
  assert_string_equal(c.secret_key, "s");
  s3_credentials_free(&c);
}

/* Every way to fail, with keys all about: none of them is ever quoted. */
static void test_messages_never_hold_keys(void **state) {
  static const char *const keys =
      "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
      "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
      "aws_session_token = IQoJb3JpZ2luX2VjEJr\n";
  static const char *const tails[] = {"",
                                      "aws_secret_access_key = \n",
                                      "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
                                      "[wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
                                      "aws_access_key_id = \n",
                                      "AKIAIOSFODNN7EXAMPLE IQoJb3JpZ2luX2VjEJr\n"};
  for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
    for (int in_profile = 0; in_profile < 2; in_profile++) {
      cleanup_free char *text =
          bw_strdup_printf("[%s]\n%s%s", in_profile ? "default" : "other", keys, tails[i]);
      s3_credentials c;
      cleanup_error bw_error_t err = NULL;
      if (parse_len(text, strlen(text), "default", &c, &err) == 0) {
        s3_credentials_free(&c);
        continue;
      }
      for (size_t k = 0; example_secrets[k]; k++)
        if (strstr(err->msg, example_secrets[k]))
          fail_msg("the message \"%s\" holds a key", err->msg);
    }
  }
}

/* ---- the struct's life ---- */

static void test_free_accepts_zeroed_and_freed(void **state) {
  s3_credentials c;
  memset(&c, 0, sizeof(c));
  s3_credentials_free(&c); /* zeroed */
  s3_credentials_free(NULL);
  cleanup_error bw_error_t err = NULL;
  static const char *const text = "[default]\naws_access_key_id = a\naws_secret_access_key = s\n"
                                  "aws_session_token = t\n";
  assert_int_equal(parse_len(text, strlen(text), "default", &c, &err), 0);
  s3_credentials_free(&c);
  assert_null(c.access_key_id);
  assert_null(c.secret_key);
  assert_null(c.session_token);
  assert_null(c.source);
  s3_credentials_free(&c); /* freed */
}

/* ---- s3_credentials_resolve ---- */

static void set(char **field, const char *value) {
  free(*field);
  *field = bw_strdup(value);
}

static void test_resolve_environment_then_file(void **state) {
  bw_config cfg;
  bw_config_init(&cfg);
  set(&cfg.s3_access_key_env, "BW_TEST_S3_ID");
  set(&cfg.s3_secret_key_env, "BW_TEST_S3_SECRET");
  set(&cfg.s3_session_token_env, "BW_TEST_S3_TOKEN");
  set(&cfg.s3_credentials_file, "");
  unsetenv("BW_TEST_S3_ID");
  setenv("BW_TEST_S3_SECRET", "env-secret-7f3a", 1);
  s3_credentials c;
  cleanup_error bw_error_t err = NULL;
  assert_int_equal(s3_credentials_resolve(&cfg, &c, &err), -1);
  assert_non_null(strstr(err->msg, "BW_TEST_S3_ID and BW_TEST_S3_SECRET are not both set"));
  assert_null(strstr(err->msg, "env-secret-7f3a"));
  bw_error_release(&err);

  setenv("BW_TEST_S3_ID", "env-id", 1);
  setenv("BW_TEST_S3_TOKEN", "env-token", 1);
  assert_int_equal(s3_credentials_resolve(&cfg, &c, &err), 0);
  assert_string_equal(c.access_key_id, "env-id");
  assert_string_equal(c.secret_key, "env-secret-7f3a");
  assert_string_equal(c.session_token, "env-token");
  assert_string_equal(c.source, "environment (BW_TEST_S3_ID)");
  s3_credentials_free(&c);

  /* Without the variables, the file's profile. */
  unsetenv("BW_TEST_S3_ID");
  char path[] = "/tmp/bw-test-s3-credentials-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  static const char text[] = "[ci]\naws_access_key_id = file-id\naws_secret_access_key = file-s\n";
  assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
  close(fd);
  set(&cfg.s3_credentials_file, path);
  set(&cfg.s3_profile, "ci");
  assert_int_equal(s3_credentials_resolve(&cfg, &c, &err), 0);
  assert_string_equal(c.access_key_id, "file-id");
  assert_null(c.session_token);
  cleanup_free char *source = bw_strdup_printf("%s [ci]", path);
  assert_string_equal(c.source, source);
  s3_credentials_free(&c);
  set(&cfg.s3_profile, "nope");
  assert_int_equal(s3_credentials_resolve(&cfg, &c, &err), -1);
  cleanup_free char *want = bw_strdup_printf("S3 credentials: %s: no profile [nope]", path);
  assert_string_equal(err->msg, want);
  bw_error_release(&err);
  unlink(path);
  assert_int_equal(s3_credentials_resolve(&cfg, &c, &err), -1); /* gone */
  assert_non_null(strstr(err->msg, "S3 credentials: open "));
  unsetenv("BW_TEST_S3_SECRET");
  unsetenv("BW_TEST_S3_TOKEN");
  bw_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_profile),
      cmocka_unit_test(test_named_profiles),
      cmocka_unit_test(test_keys_of_other_profiles_stay_there),
      cmocka_unit_test(test_comments_blanks_and_spaces),
      cmocka_unit_test(test_crlf),
      cmocka_unit_test(test_session_token),
      cmocka_unit_test(test_duplicate_keys),
      cmocka_unit_test(test_key_names),
      cmocka_unit_test(test_missing_keys),
      cmocka_unit_test(test_missing_profile),
      cmocka_unit_test(test_bad_lines_name_their_line),
      cmocka_unit_test(test_nul_byte),
      cmocka_unit_test(test_messages_never_hold_keys),
      cmocka_unit_test(test_free_accepts_zeroed_and_freed),
      cmocka_unit_test(test_resolve_environment_then_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* shared/core/digest.h: SHA-256 through EVP, hex, base64, files. */
#include "core/digest.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_TWO_BLOCKS "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define TWO_BLOCKS "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define SHA_HELLO_CSV "2ede6e2d8f9358b0519ca943518e3c48025d787b9c65a98cfb22283cfdf01223"
#define SHA_200K_X "91e3faafd322bcdf160f3f0ce886acb092b9b9e2a1e8526b40f21a8898a8700b"

static void test_known_vectors(void **state) {
  char hex[DIGEST_SHA256_HEX_LEN + 1];
  assert_int_equal(digest_sha256_buf("", 0, hex, NULL), 0);
  assert_string_equal(hex, SHA_EMPTY);
  assert_int_equal(digest_sha256_buf("abc", 3, hex, NULL), 0);
  assert_string_equal(hex, SHA_ABC);
  assert_int_equal(digest_sha256_buf(TWO_BLOCKS, strlen(TWO_BLOCKS), hex, NULL), 0);
  assert_string_equal(hex, SHA_TWO_BLOCKS);
}

static void test_incremental_matches_one_shot_at_every_split(void **state) {
  size_t len = strlen(TWO_BLOCKS);
  for (size_t split = 0; split <= len; split++) {
    digest_sha256 d = {0};
    bw_error_t err = NULL;
    assert_int_equal(digest_sha256_init(&d, &err), 0);
    assert_int_equal(digest_sha256_update(&d, TWO_BLOCKS, split, &err), 0);
    assert_int_equal(digest_sha256_update(&d, TWO_BLOCKS + split, len - split, &err), 0);
    char hex[DIGEST_SHA256_HEX_LEN + 1];
    assert_int_equal(digest_sha256_final(&d, NULL, hex, &err), 0);
    assert_string_equal(hex, SHA_TWO_BLOCKS);
    assert_null(d.ctx); /* final spends the context */
    digest_sha256_free(&d);
  }
}

static void test_final_gives_raw_and_hex(void **state) {
  digest_sha256 d = {0};
  assert_int_equal(digest_sha256_init(&d, NULL), 0);
  assert_int_equal(digest_sha256_update(&d, "abc", 3, NULL), 0);
  unsigned char raw[DIGEST_SHA256_LEN];
  char hex[DIGEST_SHA256_HEX_LEN + 1];
  assert_int_equal(digest_sha256_final(&d, raw, hex, NULL), 0);
  char again[DIGEST_SHA256_HEX_LEN + 1];
  digest_hex_encode(raw, sizeof(raw), again);
  assert_string_equal(again, SHA_ABC);
  assert_string_equal(hex, SHA_ABC);
  unsigned char decoded[DIGEST_SHA256_LEN];
  assert_int_equal(digest_hex_decode(SHA_ABC, decoded), 0);
  assert_memory_equal(decoded, raw, sizeof(raw));
}

static void test_spent_or_zeroed_context_is_an_error_not_a_crash(void **state) {
  digest_sha256 d = {0};
  bw_error_t err = NULL;
  assert_int_equal(digest_sha256_update(&d, "x", 1, &err), -1);
  assert_int_equal(err->kind, BW_ERR_INTERNAL);
  bw_error_release(&err);
  assert_int_equal(digest_sha256_final(&d, NULL, NULL, &err), -1);
  bw_error_release(&err);
  digest_sha256_free(&d);
  digest_sha256_free(&d);
  digest_sha256_free(NULL);
}

static void test_cleanup_attribute_frees_an_unfinished_context(void **state) {
  cleanup_digest digest_sha256 d = {0};
  assert_int_equal(digest_sha256_init(&d, NULL), 0);
  assert_int_equal(digest_sha256_update(&d, "abc", 3, NULL), 0);
  /* LeakSanitizer says whether the scope's end freed it. */
}

static void test_hex_validation(void **state) {
  assert_true(digest_sha256_hex_valid(SHA_ABC));
  char upper[] = SHA_ABC;
  for (char *c = upper; *c; c++)
    if (*c >= 'a' && *c <= 'f')
      *c = (char)(*c - 'a' + 'A');
  assert_true(digest_sha256_hex_valid(upper));
  unsigned char a[DIGEST_SHA256_LEN], b[DIGEST_SHA256_LEN];
  assert_int_equal(digest_hex_decode(upper, a), 0);
  assert_int_equal(digest_hex_decode(SHA_ABC, b), 0);
  assert_memory_equal(a, b, sizeof(a));
  assert_false(digest_sha256_hex_valid(NULL));
  assert_false(digest_sha256_hex_valid(""));
  assert_false(digest_sha256_hex_valid(SHA_ABC "0"));
  char short_one[] = SHA_ABC;
  short_one[63] = '\0';
  assert_false(digest_sha256_hex_valid(short_one));
  char bad[] = SHA_ABC;
  bad[10] = 'g';
  assert_false(digest_sha256_hex_valid(bad));
  assert_int_equal(digest_hex_decode(bad, a), -1);
}

static void test_base64_rfc4648_vectors(void **state) {
  static const struct {
    const char *in, *out;
  } cases[] = {{"", ""},
               {"f", "Zg=="},
               {"fo", "Zm8="},
               {"foo", "Zm9v"},
               {"foob", "Zm9vYg=="},
               {"fooba", "Zm9vYmE="},
               {"foobar", "Zm9vYmFy"}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *got = digest_base64(cases[i].in, strlen(cases[i].in));
    assert_string_equal(got, cases[i].out);
    free(got);
  }
}

static void test_base64_of_a_raw_digest_is_the_digest_header_form(void **state) {
  unsigned char raw[DIGEST_SHA256_LEN];
  assert_int_equal(digest_hex_decode(SHA_ABC, raw), 0);
  char *b64 = digest_base64(raw, sizeof(raw));
  assert_string_equal(b64, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
  assert_int_equal(strlen(b64), 44); /* no line breaks, padded */
  free(b64);
}

static void test_file_by_path_and_by_fd(void **state) {
  const char *data = getenv("BW_TEST_DATA");
  assert_non_null(data);
  char *path = bw_strdup_printf("%s/io/hello.csv", data);
  char hex[DIGEST_SHA256_HEX_LEN + 1];
  int64_t size = -1;
  assert_int_equal(digest_sha256_file(path, hex, &size, NULL), 0);
  assert_string_equal(hex, SHA_HELLO_CSV);
  assert_int_equal(size, 23);
  int fd = open(path, O_RDONLY);
  assert_true(fd >= 0);
  assert_int_equal(digest_sha256_fd(fd, hex, NULL, NULL), 0);
  assert_string_equal(hex, SHA_HELLO_CSV);
  close(fd);
  free(path);
}

static void test_file_larger_than_the_read_buffer(void **state) {
  char tmpl[] = "/tmp/bw-digest-XXXXXX";
  int fd = mkstemp(tmpl);
  assert_true(fd >= 0);
  unlink(tmpl);
  char *big = malloc(200000);
  memset(big, 'x', 200000);
  assert_int_equal(write(fd, big, 200000), 200000);
  free(big);
  lseek(fd, 0, SEEK_SET);
  char hex[DIGEST_SHA256_HEX_LEN + 1];
  int64_t size = 0;
  assert_int_equal(digest_sha256_fd(fd, hex, &size, NULL), 0);
  assert_string_equal(hex, SHA_200K_X);
  assert_int_equal(size, 200000);
  close(fd);
}

static void test_missing_file_is_an_error(void **state) {
  char hex[DIGEST_SHA256_HEX_LEN + 1];
  bw_error_t err = NULL;
  assert_int_equal(digest_sha256_file("/nonexistent/bw-digest", hex, NULL, &err), -1);
  assert_int_equal(err->kind, BW_ERR_UNAVAILABLE);
  assert_non_null(strstr(err->msg, "/nonexistent/bw-digest"));
  bw_error_release(&err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_vectors),
      cmocka_unit_test(test_incremental_matches_one_shot_at_every_split),
      cmocka_unit_test(test_final_gives_raw_and_hex),
      cmocka_unit_test(test_spent_or_zeroed_context_is_an_error_not_a_crash),
      cmocka_unit_test(test_cleanup_attribute_frees_an_unfinished_context),
      cmocka_unit_test(test_hex_validation),
      cmocka_unit_test(test_base64_rfc4648_vectors),
      cmocka_unit_test(test_base64_of_a_raw_digest_is_the_digest_header_form),
      cmocka_unit_test(test_file_by_path_and_by_fd),
      cmocka_unit_test(test_file_larger_than_the_read_buffer),
      cmocka_unit_test(test_missing_file_is_an_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

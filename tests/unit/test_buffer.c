/* shared/core/buffer.h: the growable buffer with a hard cap that the HTTP
 * clients use as their libcurl sink. Its edges: those of the cap, N - 1, N
 * and N + 1 bytes, reached in one append or many; and those of its memory
 * (`allocated`), which grows by doubling from 64 bytes, so that n appends
 * cost O(n) copies and O(log n) reallocations. */
#include "core/buffer.h"

#include "core/cleanup.h"
#include "core/error.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* Byte i of every test's data: all 256 values, NUL included. */
static char pattern(size_t i) {
  return (char)(i * 7 + 3);
}

static void fill(char *dst, size_t from, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = pattern(from + i);
}

/* The buffer holds exactly the first len bytes of the pattern, NUL-ended. */
static void expect_holds(const bw_buffer *b, size_t len) {
  assert_int_equal(b->len, len);
  assert_non_null(b->data);
  for (size_t i = 0; i < len; i++)
    if (b->data[i] != pattern(i))
      fail_msg("byte %zu of %zu differs", i, len);
  assert_int_equal(b->data[len], '\0');
}

static void test_init_and_free(void **state) {
  bw_buffer b;
  memset(&b, 0x5a, sizeof(b));
  bw_buffer_init(&b, 123);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap_bytes, 123);
  assert_false(b.overflowed);
  assert_int_equal(b.allocated, 0);
  bw_buffer_free(&b); /* nothing allocated yet */
  assert_true(bw_buffer_append(&b, "abc", 3));
  bw_buffer_free(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.allocated, 0);
  bw_buffer_free(&b); /* twice */
  bw_buffer_free(NULL);
  /* A freed buffer can be used again; the cap stays. */
  assert_int_equal(b.cap_bytes, 123);
  assert_true(bw_buffer_append(&b, "xyz", 3));
  assert_string_equal(b.data, "xyz");
  bw_buffer_free(&b);
}

static void test_empty_appends_still_give_a_string(void **state) {
  cleanup_buffer bw_buffer b;
  bw_buffer_init(&b, 0);
  assert_true(bw_buffer_append(&b, "", 0));
  assert_non_null(b.data); /* "always NUL-terminated when non-NULL" */
  assert_string_equal(b.data, "");
  assert_int_equal(b.len, 0);
  assert_false(b.overflowed);
}

static void test_appends_concatenate_binary_bytes(void **state) {
  cleanup_buffer bw_buffer b;
  bw_buffer_init(&b, 0);
  char chunk[777];
  size_t len = 0;
  for (size_t n = 0; n < sizeof(chunk); n += 37) { /* chunks of 0, 37, 74, ... bytes */
    fill(chunk, len, n);
    assert_true(bw_buffer_append(&b, chunk, n));
    len += n;
    expect_holds(&b, len);
  }
  assert_false(b.overflowed);
}

/* Every length from 0 to 3 * 4096 + 1, one byte at a time and then in one
 * append, without a cap: no size is special. */
static void test_growth_through_every_size(void **state) {
  const size_t max = 3 * 4096 + 1;
  cleanup_free char *all = bw_xmalloc(max);
  fill(all, 0, max);
  cleanup_buffer bw_buffer one_by_one;
  bw_buffer_init(&one_by_one, 0);
  for (size_t len = 1; len <= max; len++) {
    assert_true(bw_buffer_append(&one_by_one, all + len - 1, 1));
    assert_int_equal(one_by_one.len, len);
    assert_int_equal(one_by_one.data[len], '\0');
  }
  expect_holds(&one_by_one, max);
  const size_t sizes[] = {0, 1, 63, 64, 65, 255, 256, 257, 4095, 4096, 4097, max};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    cleanup_buffer bw_buffer b;
    bw_buffer_init(&b, 0);
    assert_true(bw_buffer_append(&b, all, sizes[i]));
    expect_holds(&b, sizes[i]);
  }
}

/* The memory behind the data: 64 bytes at first, then twice as much each time
 * an append needs more (or what it needs, when that is more than twice):
 * 63 bytes and their NUL fit in 64, the 64th byte takes 128. Between two
 * growths, data stays where it is. */
static void test_growth_doubles(void **state) {
  char all[4097];
  fill(all, 0, sizeof(all));
  cleanup_buffer bw_buffer b;
  bw_buffer_init(&b, 0);
  assert_true(bw_buffer_append(&b, "", 0));
  assert_int_equal(b.allocated, 64);
  size_t growths = 0, allocated = b.allocated;
  const char *data = b.data;
  for (size_t len = 1; len <= sizeof(all); len++) {
    assert_true(bw_buffer_append(&b, all + len - 1, 1));
    assert_true(b.allocated >= len + 1);
    if (b.allocated != allocated) {
      assert_int_equal(b.allocated, 2 * allocated);
      growths++;
    } else {
      assert_ptr_equal(b.data, data); /* no reallocation */
    }
    if (len == 63 || len == 64 || len == 65)
      assert_int_equal(b.allocated, len < 64 ? 64 : 128);
    allocated = b.allocated;
    data = b.data;
  }
  expect_holds(&b, sizeof(all));
  assert_int_equal(growths, 7); /* 64 -> 8192 */
  assert_int_equal(b.allocated, 8192);
  /* An append larger than twice the memory gets what it needs. */
  cleanup_buffer bw_buffer big;
  bw_buffer_init(&big, 0);
  assert_true(bw_buffer_append(&big, all, 1000));
  assert_int_equal(big.allocated, 1001);
  assert_true(bw_buffer_append(&big, all + 1000, 1));
  assert_int_equal(big.allocated, 2002);
  assert_true(bw_buffer_append(&big, all + 1001, 3090)); /* 4092 > 2 * 2002 */
  assert_int_equal(big.allocated, 4092);
  expect_holds(&big, 4091);
  /* A reset keeps the memory; a free gives it back. */
  bw_buffer_reset(&big);
  assert_int_equal(big.allocated, 4092);
  assert_true(bw_buffer_append(&big, all, 4091));
  assert_int_equal(big.allocated, 4092);
  expect_holds(&big, 4091);
  bw_buffer_free(&big);
  assert_int_equal(big.allocated, 0);
  assert_true(bw_buffer_append(&big, all, 1));
  assert_int_equal(big.allocated, 64);
}

/* A buffer whose data was taken (data NULL, allocated left as it was) gets
 * new memory at its next append. */
static void test_taken_data_is_replaced(void **state) {
  cleanup_buffer bw_buffer b;
  bw_buffer_init(&b, 0);
  assert_true(bw_buffer_append(&b, "abc", 3));
  cleanup_free char *taken = b.data;
  b.data = NULL;
  b.len = 0;
  assert_true(bw_buffer_append(&b, "xyz", 3));
  assert_non_null(b.data);
  assert_ptr_not_equal(b.data, taken);
  assert_string_equal(b.data, "xyz");
  assert_string_equal(taken, "abc");
}

/* N - 1, N and N + 1 bytes under a cap of N, in one append each. */
static void test_cap_edges_in_one_append(void **state) {
  const size_t caps[] = {1, 2, 16, 4096, 65536};
  for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
    size_t n = caps[c];
    cleanup_free char *data = bw_xmalloc(n + 2);
    fill(data, 0, n + 2);
    for (size_t len = n - 1; len <= n + 1; len++) {
      cleanup_buffer bw_buffer b;
      bw_buffer_init(&b, n);
      bool whole = bw_buffer_append(&b, data, len);
      assert_int_equal(whole, len <= n);
      assert_int_equal(b.overflowed, len > n);
      expect_holds(&b, len <= n ? len : n);
    }
  }
}

/* Reaching the cap in steps: exactly N is not an overflow; one byte more
 * is, keeps nothing of it, and sticks until a reset. */
static void test_cap_edges_in_steps(void **state) {
  const size_t n = 16;
  char data[64];
  fill(data, 0, sizeof(data));
  cleanup_buffer bw_buffer b;
  bw_buffer_init(&b, n);
  assert_true(bw_buffer_append(&b, data, n - 1));
  expect_holds(&b, n - 1);
  assert_true(bw_buffer_append(&b, data + n - 1, 1));
  expect_holds(&b, n);
  assert_false(b.overflowed);
  assert_true(bw_buffer_append(&b, data, 0)); /* nothing offered, nothing cut */
  assert_false(b.overflowed);
  assert_false(bw_buffer_append(&b, data + n, 1));
  expect_holds(&b, n);
  assert_true(b.overflowed);
  assert_false(bw_buffer_append(&b, data + n, 10));
  expect_holds(&b, n);
  /* A chunk that straddles the cap keeps its head. */
  bw_buffer_reset(&b);
  assert_true(bw_buffer_append(&b, data, 10));
  assert_false(bw_buffer_append(&b, data + 10, 10));
  expect_holds(&b, n);
  assert_true(b.overflowed);
}

static void test_reset_keeps_the_cap_and_clears_the_overflow(void **state) {
  cleanup_buffer bw_buffer b;
  bw_buffer_init(&b, 8);
  bw_buffer_reset(&b); /* never allocated: stays so */
  assert_null(b.data);
  char data[32];
  fill(data, 0, sizeof(data));
  assert_false(bw_buffer_append(&b, data, 20));
  bw_buffer_reset(&b);
  assert_int_equal(b.len, 0);
  assert_false(b.overflowed);
  assert_int_equal(b.cap_bytes, 8);
  assert_non_null(b.data);
  assert_string_equal(b.data, "");
  assert_true(bw_buffer_append(&b, data, 8));
  expect_holds(&b, 8);
  assert_false(bw_buffer_append(&b, data, 1));
}

/* Lengths near SIZE_MAX, where len + b->len wraps: under a cap, only the room
 * left is read (data holds no more than that here), and a full buffer reads
 * none; a size * nmemb that wraps stops the transfer untouched; without a
 * cap, a length no memory holds aborts, as out of memory does. */
static void test_huge_lengths_never_wrap(void **state) {
  char data[16];
  fill(data, 0, sizeof(data));
  const size_t huge[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4, SIZE_MAX / 2 + 1};
  for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
    cleanup_buffer bw_buffer b;
    bw_buffer_init(&b, sizeof(data));
    assert_true(bw_buffer_append(&b, data, 4));
    assert_false(bw_buffer_append(&b, data + 4, huge[i])); /* reads the 12 bytes of room */
    assert_true(b.overflowed);
    expect_holds(&b, sizeof(data));
    assert_false(bw_buffer_append(&b, data + sizeof(data), huge[i])); /* reads nothing */
    expect_holds(&b, sizeof(data));
  }
  cleanup_buffer bw_buffer b;
  bw_buffer_init(&b, 0);
  assert_int_equal(bw_buffer_curl_write(data, SIZE_MAX / 2 + 2, 2, &b), 0); /* wraps to 2 */
  assert_null(b.data);
  assert_true(bw_buffer_append(&b, data, 4));
  int err_pipe[2];
  assert_int_equal(pipe(err_pipe), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) { /* a sanitizer's report of a stray write would go to stderr */
    dup2(err_pipe[1], 2);
    bw_buffer_append(&b, data, SIZE_MAX - 4); /* 4 + SIZE_MAX - 4 + 1 would be 0 */
    _exit(0);
  }
  close(err_pipe[1]);
  char said[64];
  assert_int_equal(read(err_pipe[0], said, sizeof(said)), 0); /* an abort, quiet */
  close(err_pipe[0]);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
  expect_holds(&b, 4);
}

/* libcurl's contract: return the byte count to go on, anything else stops. */
static void test_curl_write_adapter(void **state) {
  cleanup_buffer bw_buffer b;
  bw_buffer_init(&b, 20);
  char data[64];
  fill(data, 0, sizeof(data));
  assert_int_equal(bw_buffer_curl_write(data, 1, 5, &b), 5);
  assert_int_equal(bw_buffer_curl_write(data + 5, 3, 5, &b), 15); /* size * nmemb */
  expect_holds(&b, 20);
  assert_int_equal(bw_buffer_curl_write(data, 1, 0, &b), 0); /* an empty chunk is fine */
  assert_false(b.overflowed);
  assert_int_equal(bw_buffer_curl_write(data + 20, 1, 1, &b), 0); /* past the cap: stop */
  assert_true(b.overflowed);
  expect_holds(&b, 20);
}

/* The adapter in a real transfer (file://, no service): a body under the cap
 * arrives whole; one over it stops the transfer with a write error, the
 * buffer holding the first cap bytes. */
static void test_curl_transfer_stops_at_the_cap(void **state) {
  char dir[] = "/tmp/bw-buffer-XXXXXX";
  assert_non_null(mkdtemp(dir));
  cleanup_free char *path = bw_strdup_printf("%s/body", dir);
  const size_t size = 300000;
  cleanup_free char *body = bw_xmalloc(size);
  fill(body, 0, size);
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(body, 1, size, fp), size);
  fclose(fp);
  cleanup_free char *url = bw_strdup_printf("file://%s", path);
  const size_t caps[] = {size + 1, size, size - 1, 1000};
  for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
    cleanup_buffer bw_buffer b;
    bw_buffer_init(&b, caps[i]);
    cleanup_curl CURL *h = curl_easy_init();
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bw_buffer_curl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(h);
    assert_int_equal(rc, caps[i] >= size ? CURLE_OK : CURLE_WRITE_ERROR);
    expect_holds(&b, caps[i] >= size ? size : caps[i]);
    assert_int_equal(b.overflowed, caps[i] < size);
  }
  unlink(path);
  rmdir(dir);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_and_free),
      cmocka_unit_test(test_empty_appends_still_give_a_string),
      cmocka_unit_test(test_appends_concatenate_binary_bytes),
      cmocka_unit_test(test_growth_through_every_size),
      cmocka_unit_test(test_growth_doubles),
      cmocka_unit_test(test_taken_data_is_replaced),
      cmocka_unit_test(test_cap_edges_in_one_append),
      cmocka_unit_test(test_cap_edges_in_steps),
      cmocka_unit_test(test_reset_keeps_the_cap_and_clears_the_overflow),
      cmocka_unit_test(test_huge_lengths_never_wrap),
      cmocka_unit_test(test_curl_write_adapter),
      cmocka_unit_test(test_curl_transfer_stops_at_the_cap),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return failed;
}

/* shared/pipeline/log_stream.h: Engine frames (with and without TTY) cut
 * anywhere, lines, their cuts and masking. */
#include "log_stream_fixture.h"

/* ---- frames, lines, masking ---- */

static void test_split_at_every_boundary(void **state) {
  char buf[256];
  size_t n = sample_frames(buf);
  for (size_t a = 0; a <= n; a++) {
    for (size_t b = a; b <= n; b++) {
      collected c = {0};
      size_t cuts[2] = {a, b};
      run_pieces(false, 1024, NULL, buf, cuts, 2, n, &c);
      if (strcmp(c.text ? c.text : "", sample_expected) != 0)
        fail_msg("split at %zu and %zu:\n%s", a, b, c.text);
      collected_free(&c);
    }
  }
}

static void test_one_byte_at_a_time(void **state) {
  char buf[256];
  size_t n = sample_frames(buf);
  collected c = {0};
  log_stream ls;
  log_stream_init(&ls, false, 1024, NULL, on_line, &c);
  for (size_t i = 0; i < n; i++)
    feed_ok(&ls, buf + i, 1);
  log_stream_finish(&ls);
  assert_string_equal(c.text, sample_expected);
  assert_int_equal(ls.frames, 6);
  assert_int_equal(ls.bytes[1],
                   strlen("hello wor") + strlen("ld\r\nsecond\n") + strlen("from stdin\n"));
  assert_int_equal(ls.bytes[2], strlen("oops\n") + strlen("tail no newline"));
  assert_int_equal(ls.lines[1], 3);
  assert_int_equal(ls.lines[2], 2);
  assert_false(ls.truncated);
  log_stream_free(&ls);
  collected_free(&c);
}

static void test_interleaving_keeps_streams_apart(void **state) {
  char buf[256];
  size_t n = 0;
  frame_str(buf, &n, 1, "out-");
  frame_str(buf, &n, 2, "err-");
  frame_str(buf, &n, 1, "1\nout-");
  frame_str(buf, &n, 2, "1\n");
  frame_str(buf, &n, 2, "err-2\n");
  frame_str(buf, &n, 1, "2\n");
  collected c = {0};
  run_pieces(false, 1024, NULL, buf, NULL, 0, n, &c);
  assert_string_equal(c.text, "1:out-1\n2:err-1\n2:err-2\n1:out-2\n");
  collected_free(&c);
}

static void test_zero_length_frames(void **state) {
  char buf[64];
  size_t n = 0;
  frame_str(buf, &n, 1, "");
  frame_str(buf, &n, 2, "");
  frame_str(buf, &n, 1, "x\n");
  frame_str(buf, &n, 1, "");
  collected c = {0};
  log_stream ls;
  log_stream_init(&ls, false, 64, NULL, on_line, &c);
  feed_ok(&ls, buf, n);
  log_stream_finish(&ls);
  assert_string_equal(c.text, "1:x\n");
  assert_int_equal(ls.frames, 4);
  assert_false(ls.truncated);
  log_stream_free(&ls);
  collected_free(&c);
}

static void test_empty_input(void **state) {
  collected c = {0};
  log_stream ls;
  log_stream_init(&ls, false, 64, NULL, on_line, &c);
  feed_ok(&ls, "", 0);
  log_stream_finish(&ls);
  assert_int_equal(c.pieces, 0);
  assert_false(ls.truncated);
  log_stream_free(&ls);
}

/* One 8 MiB frame of 100-byte lines in 4093-byte pieces: never buffered whole. */
static void test_huge_frame_in_pieces(void **state) {
  const size_t payload = 8u << 20;
  char line[100];
  memset(line, 'q', sizeof(line) - 1);
  line[sizeof(line) - 1] = '\n';
  char *chunk = malloc(4093);
  unsigned char h[8] = {2,
                        0,
                        0,
                        0,
                        (unsigned char)(payload >> 24),
                        (unsigned char)(payload >> 16),
                        (unsigned char)(payload >> 8),
                        (unsigned char)payload};
  collected c = {0};
  log_stream ls;
  log_stream_init(&ls, false, 4096, NULL, on_line, &c);
  feed_ok(&ls, (const char *)h, 3);
  feed_ok(&ls, (const char *)h + 3, 5);
  size_t sent = 0, max_footprint = 0;
  while (sent < payload) {
    size_t take = payload - sent < 4093 ? payload - sent : 4093;
    for (size_t i = 0; i < take; i++)
      chunk[i] = line[(sent + i) % sizeof(line)];
    feed_ok(&ls, chunk, take);
    sent += take;
    if (log_stream_footprint(&ls) > max_footprint)
      max_footprint = log_stream_footprint(&ls);
    if (c.len > (1u << 20))
      collected_free(&c); /* the lines are checked by count below */
  }
  log_stream_finish(&ls);
  /* 8 MiB is not a multiple of 100: the last line has no newline */
  assert_int_equal(ls.lines[2], payload / sizeof(line) + 1);
  assert_int_equal(ls.bytes[2], payload);
  assert_false(ls.truncated); /* the frame itself was complete */
  assert_true(max_footprint <= 4097);
  log_stream_free(&ls);
  collected_free(&c);
  free(chunk);
}

static void test_declared_size_larger_than_input(void **state) {
  unsigned char h[8] = {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
  collected c = {0};
  log_stream ls;
  log_stream_init(&ls, false, 16, NULL, on_line, &c);
  feed_ok(&ls, (const char *)h, 8);
  feed_ok(&ls, "0123456789abcdef0123456789", 26);
  log_stream_finish(&ls);
  assert_true(ls.truncated);
  assert_string_equal(c.text, "1+:0123456789abcdef\n1:0123456789\n");
  log_stream_free(&ls);
  collected_free(&c);
}

static void test_truncated_header(void **state) {
  char buf[64];
  size_t n = 0;
  frame_str(buf, &n, 1, "done\n");
  collected c = {0};
  log_stream ls;
  log_stream_init(&ls, false, 64, NULL, on_line, &c);
  feed_ok(&ls, buf, n);
  feed_ok(&ls, "\x02\x00\x00", 3);
  log_stream_finish(&ls);
  assert_true(ls.truncated);
  assert_string_equal(c.text, "1:done\n");
  log_stream_free(&ls);
  collected_free(&c);
}

static void expect_bad_header(const char *data, size_t len, size_t split, const char *want_msg,
                              const char *want_lines) {
  collected c = {0};
  log_stream ls;
  log_stream_init(&ls, false, 64, NULL, on_line, &c);
  bw_error_t err = NULL;
  int rc = log_stream_feed(&ls, data, split, &err);
  if (rc == 0)
    rc = log_stream_feed(&ls, data + split, len - split, &err);
  assert_int_equal(rc, -1);
  assert_non_null(err);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  assert_string_equal(err->msg, want_msg);
  bw_error_release(&err);
  /* sticky: later input is refused with the same message */
  assert_int_equal(log_stream_feed(&ls, "\x01\0\0\0\0\0\0\0", 8, &err), -1);
  assert_string_equal(bw_error_msg(&err), want_msg);
  bw_error_release(&err);
  log_stream_finish(&ls);
  assert_string_equal(c.text ? c.text : "", want_lines);
  log_stream_free(&ls);
  collected_free(&c);
}

static void test_bad_header(void **state) {
  expect_bad_header("\x03\0\0\0\0\0\0\x01x", 9, 9, "log stream: bad frame header at byte 0", "");
  expect_bad_header("\x01\0\x01\0\0\0\0\x01x", 9, 4, "log stream: bad frame header at byte 0", "");
  expect_bad_header("\xff\xff\xff\xff\xff\xff\xff\xff", 8, 1,
                    "log stream: bad frame header at byte 0", "");
  char buf[64];
  size_t n = 0;
  frame_str(buf, &n, 1, "ok\npart");
  memcpy(buf + n, "HTTP/1.1 500", 12); /* not a frame: an error page, say */
  n += 12;
  for (size_t split = 0; split <= n; split++)
    expect_bad_header(buf, n, split, "log stream: bad frame header at byte 15", "1:ok\n1:part\n");
}

static void test_tty_mode(void **state) {
  /* header-looking bytes are text; everything is stdout */
  const char data[] = "\x02\0\0\0\0\0\0\x03"
                      "abc\r\nline two\nno newline";
  for (size_t split = 0; split < sizeof(data) - 1; split++) {
    collected c = {0};
    size_t cuts[1] = {split};
    run_pieces(true, 1024, NULL, data, cuts, 1, sizeof(data) - 1, &c);
    static const char want[] = "1:\x02\0\0\0\0\0\0\x03"
                               "abc\n1:line two\n1:no newline\n";
    assert_int_equal(c.len, sizeof(want) - 1);
    assert_memory_equal(c.text, want, c.len);
    collected_free(&c);
  }
}

static void test_crlf_and_lone_cr(void **state) {
  const char data[] = "a\r\nb\r\n\r\nc\rd\n\r\r\ne\r";
  for (size_t split = 0; split < sizeof(data) - 1; split++) {
    collected c = {0};
    size_t cuts[1] = {split};
    run_pieces(true, 1024, NULL, data, cuts, 1, sizeof(data) - 1, &c);
    /* only the '\r' right before '\n' goes; a final lone '\r' is text */
    assert_string_equal(c.text, "1:a\n1:b\n1:\n1:c\rd\n1:\r\n1:e\r\n");
    collected_free(&c);
  }
}

static void test_overlong_lines_cut(void **state) {
  static const struct {
    const char *in;
    const char *out;
  } cases[] = {
      {"0123456789abcdef\n", "1:0123456789abcdef\n"},
      {"0123456789abcdef0123456789abcdef\n", "1+:0123456789abcdef\n1:0123456789abcdef\n"},
      {"0123456789abcdef0123456789abcdef0123456\n",
       "1+:0123456789abcdef\n1+:0123456789abcdef\n1:0123456\n"},
      {"0123456789abcdef0", "1+:0123456789abcdef\n1:0\n"},
      {"0123456789abcdef\r\n", "1:0123456789abcdef\n"},
      {"\n\n", "1:\n1:\n"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    size_t len = strlen(cases[i].in);
    for (size_t split = 0; split <= len; split++) {
      collected c = {0};
      size_t cuts[1] = {split};
      /* 4 is below the floor: raised to LOG_STREAM_MIN_LINE (16) */
      run_pieces(true, i == 0 ? 4 : 16, NULL, cases[i].in, cuts, 1, len, &c);
      if (strcmp(c.text, cases[i].out) != 0)
        fail_msg("case %zu split %zu:\n%s", i, split, c.text);
      collected_free(&c);
    }
  }
}

static void test_masking_forms_in_lines(void **state) {
  masker *m = test_masker();
  char buf[256];
  size_t n = 0;
  frame_str(buf, &n, 1, "token SECRETVALUE\n");
  frame_str(buf, &n, 2, "b64 U0VDUkVUVkFMVUU= url U0VDUkVUVkFMVUU\n");
  frame_str(buf, &n, 1, "{\"#p\":\"pa\\\"ss\"} raw pa\"ss\n");
  collected c = {0};
  run_pieces(false, 1024, m, buf, NULL, 0, n, &c);
  assert_string_equal(c.text, "1:token [hidden]\n"
                              "2:b64 [hidden] url [hidden]\n"
                              "1:{\"#p\":\"[hidden]\"} raw [hidden]\n");
  collected_free(&c);
  masker_free(m);
}

static void test_secret_split_across_feeds(void **state) {
  masker *m = test_masker();
  char buf[256];
  size_t n = 0;
  frame_str(buf, &n, 1, "aSECRETV");
  frame_str(buf, &n, 2, "SECRET");
  frame_str(buf, &n, 1, "ALUEb\n");
  frame_str(buf, &n, 2, "VALUE!\n");
  for (size_t a = 0; a <= n; a++) {
    for (size_t b = a; b <= n; b += 3) {
      collected c = {0};
      size_t cuts[2] = {a, b};
      run_pieces(false, 1024, m, buf, cuts, 2, n, &c);
      if (strcmp(c.text, "1:a[hidden]b\n2:[hidden]!\n") != 0)
        fail_msg("split %zu/%zu:\n%s", a, b, c.text);
      collected_free(&c);
    }
  }
  masker_free(m);
}

/* A secret placed at every offset around the cut of an overlong line: the
 * pieces joined are the masked line, no piece is over the limit, and no piece
 * holds a broken "[hidden]" or any byte of the secret. */
static void test_secret_across_cut(void **state) {
  masker *m = test_masker();
  for (size_t off = 0; off < 40; off++) {
    char line[128];
    memset(line, '.', off);
    memcpy(line + off, "SECRETVALUE", 11);
    memcpy(line + off + 11, "~tail~\n", 8);
    size_t len = strlen(line);
    size_t want_len;
    char *want = masker_apply(m, line, len - 1, &want_len);
    for (size_t split = 0; split <= len; split++) {
      collected c = {0};
      size_t cuts[1] = {split};
      run_pieces(true, 16, m, line, cuts, 1, len, &c);
      assert_true(c.max_piece <= 16);
      assert_null(strstr(c.text, "SECRET"));
      assert_null(strstr(c.text, "VALUE"));
      /* join the pieces back */
      char joined[256];
      size_t j = 0;
      for (char *p = c.text; *p;) {
        char *colon = strchr(p, ':');
        char *nl = strchr(colon, '\n');
        size_t piece = (size_t)(nl - colon - 1);
        char *hid = memmem(colon + 1, piece, "[hid", 4);
        if (hid)
          assert_true((size_t)(hid - colon - 1) + MASKER_HIDDEN_LEN <= piece);
        memcpy(joined + j, colon + 1, piece);
        j += piece;
        p = nl + 1;
      }
      if (j != want_len || memcmp(joined, want, j) != 0)
        fail_msg("offset %zu split %zu: %.*s", off, split, (int)j, joined);
      collected_free(&c);
    }
    free(want);
  }
  masker_free(m);
}

static void test_totals(void **state) {
  char buf[256];
  size_t n = 0;
  frame_str(buf, &n, 1, "0123456789abcdefXY\nz\n");
  frame_str(buf, &n, 2, "e1\ne2\n");
  collected c = {0};
  log_stream ls;
  log_stream_init(&ls, false, 16, NULL, on_line, &c);
  feed_ok(&ls, buf, n);
  log_stream_finish(&ls);
  assert_int_equal(ls.bytes[1], 21);
  assert_int_equal(ls.bytes[2], 6);
  assert_int_equal(ls.lines[1], 2);
  assert_int_equal(ls.lines[2], 2);
  assert_int_equal(ls.cut_pieces, 1);
  assert_int_equal(ls.frames, 2);
  assert_int_equal(c.pieces, 5);
  log_stream_free(&ls);
  collected_free(&c);
  log_stream_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_split_at_every_boundary),
      cmocka_unit_test(test_one_byte_at_a_time),
      cmocka_unit_test(test_interleaving_keeps_streams_apart),
      cmocka_unit_test(test_zero_length_frames),
      cmocka_unit_test(test_empty_input),
      cmocka_unit_test(test_huge_frame_in_pieces),
      cmocka_unit_test(test_declared_size_larger_than_input),
      cmocka_unit_test(test_truncated_header),
      cmocka_unit_test(test_bad_header),
      cmocka_unit_test(test_tty_mode),
      cmocka_unit_test(test_crlf_and_lone_cr),
      cmocka_unit_test(test_overlong_lines_cut),
      cmocka_unit_test(test_masking_forms_in_lines),
      cmocka_unit_test(test_secret_split_across_feeds),
      cmocka_unit_test(test_secret_across_cut),
      cmocka_unit_test(test_totals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

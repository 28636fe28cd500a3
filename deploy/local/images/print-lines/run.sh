#!/bin/sh
# Prints lines of chosen lengths (long lines, lines without a final newline,
# floods of tiny lines) for the tests of hostile output, then exits $EXIT_CODE.
# Everything is printed by one awk program: 100,000 lines take well under a second.
#
# The lines, in the order they are printed (numbered k = 1, 2, ...):
#   BEFORE         one short line printed first (default "before"; set but empty: none)
#   LINES          lengths in bytes, without the '\n', of the pattern lines printed
#                  next, separated by spaces, e.g. "1 2046 2047 1000000" (default: none)
#   BETWEEN        1: a short line "between-I" after the I-th pattern line, except
#                  after the last one (default 0)
#   TINY           N tiny lines "t1" .. "tN" after the pattern lines (default 0)
#   AFTER          one short line printed last (default "after"; set but empty: none)
# The I-th pattern line (I = 1, 2, ... in the order of LINES), of length N, is the
# N bytes at offset I % 62 of "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# repeated: I=1, N=5 is "12345"; I=2, N=3 is "234"; I=1, N=64 is "123...XYZ012". A test
# regenerates it and sees any byte lost, doubled or moved (16384 is not a multiple of 62).
#   STREAM         stdout (default), stderr, or both: then line k goes to stdout when
#                  k is odd and to stderr when k is even
#   FINAL_NEWLINE  1 (default), or 0: the last line printed on each stream has no '\n'
#   EXIT_CODE      exit status (default 0)
# A LINES entry that is not a number, or a STREAM that is none of the three,
# exits 2 with a message on stderr.
code="${EXIT_CODE:-0}"
awk '
function emit(k, text,    nl) {
  nl = (final == "0" && (k == last_out || k == last_err)) ? "" : "\n"
  if (mode == "stderr" || (mode == "both" && k % 2 == 0))
    printf "%s%s", text, nl > "/dev/stderr"
  else
    printf "%s%s", text, nl
}
BEGIN {
  alpha = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
  mode = ("STREAM" in ENVIRON && ENVIRON["STREAM"] != "") ? ENVIRON["STREAM"] : "stdout"
  if (mode != "stdout" && mode != "stderr" && mode != "both") {
    print "print-lines: STREAM must be stdout, stderr or both, not " mode > "/dev/stderr"
    exit 2
  }
  final = ("FINAL_NEWLINE" in ENVIRON && ENVIRON["FINAL_NEWLINE"] == "0") ? "0" : "1"
  before = ("BEFORE" in ENVIRON) ? ENVIRON["BEFORE"] : "before"
  after = ("AFTER" in ENVIRON) ? ENVIRON["AFTER"] : "after"
  between = (ENVIRON["BETWEEN"] == "1")
  tiny = ENVIRON["TINY"] + 0
  n = split(ENVIRON["LINES"], len, " ")
  longest = 0
  for (i = 1; i <= n; i++) {
    if (len[i] !~ /^[0-9]+$/) {
      print "print-lines: LINES: not a length: " len[i] > "/dev/stderr"
      exit 2
    }
    len[i] += 0
    if (len[i] > longest)
      longest = len[i]
  }
  total = (before != "") + n + (between && n > 1 ? n - 1 : 0) + tiny + (after != "")
  last_out = last_err = 0
  if (mode == "stdout")
    last_out = total
  else if (mode == "stderr")
    last_err = total
  else if (total % 2) {
    last_out = total; last_err = total - 1
  } else {
    last_err = total; last_out = total - 1
  }
  rep = alpha
  while (length(rep) < longest + 62)
    rep = rep rep
  k = 0
  if (before != "")
    emit(++k, before)
  for (i = 1; i <= n; i++) {
    emit(++k, substr(rep, i % 62 + 1, len[i]))
    if (between && i < n)
      emit(++k, "between-" i)
  }
  for (i = 1; i <= tiny; i++)
    emit(++k, "t" i)
  if (after != "")
    emit(++k, after)
}' || exit 2
exit "$code"

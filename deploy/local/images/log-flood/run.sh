#!/bin/sh
# Prints $LOG_MB MB of text lines as fast as possible, then exits 0.
#   LOG_MB      megabytes (MiB) to print (default 100)
#   LOG_BYTES   exact byte count; overrides LOG_MB when set
#   LOG_STREAM  stdout (default) or stderr
#   LOG_LINE    the repeated line (default: a 99-character line + newline)
bytes="${LOG_BYTES:-$(( ${LOG_MB:-100} * 1048576 ))}"
line="${LOG_LINE:-log-flood: the quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ}"
if [ "${LOG_STREAM:-stdout}" = stderr ]; then
  yes "$line" | head -c "$bytes" >&2
else
  yes "$line" | head -c "$bytes"
fi
exit 0

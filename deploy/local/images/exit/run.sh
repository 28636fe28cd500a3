#!/bin/sh
# Prints one line to stdout and one to stderr, then exits with $EXIT_CODE.
#   EXIT_CODE  exit status (default 0)
code="${EXIT_CODE:-0}"
echo "exit image: exiting with $code"
echo "exit image: this line goes to stderr" >&2
exit "$code"

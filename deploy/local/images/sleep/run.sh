#!/bin/sh
# Prints a line, sleeps $SLEEP_SECONDS, prints a line, exits 0.
#   SLEEP_SECONDS  how long to sleep (default 5)
secs="${SLEEP_SECONDS:-5}"
echo "sleep image: sleeping $secs seconds"
sleep "$secs"
echo "sleep image: done"
exit 0

#!/bin/sh
# Ignores SIGTERM and SIGINT (also under --init: docker-init forwards TERM to
# this shell, which ignores it; the ignore is inherited by sleep), so only
# SIGKILL (docker stop's timeout, docker kill) ends it.
#   SLEEP_SECONDS  how long to sleep (default 3600)
trap '' TERM INT
secs="${SLEEP_SECONDS:-3600}"
echo "ignore-term image: ignoring TERM and INT, sleeping $secs seconds"
sleep "$secs"
echo "ignore-term image: done"
exit 0

#!/bin/sh
# Allocates memory until the kernel kills it. Run with a memory limit, e.g.
#   docker run --rm -m 16m --memory-swap 16m .../oom:1.0   -> exit 137, OOMKilled
#   OOM_STEP_KB  initial allocation chunk (default 1024); doubles each step
echo "oom image: allocating memory until killed"
x="$(head -c "$(( ${OOM_STEP_KB:-1024} * 1024 ))" /dev/zero | tr '\0' x)"
while :; do
  x="$x$x"
done

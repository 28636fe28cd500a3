#!/usr/bin/env bash
# Upload throughput of the s3:// artifact store against raw curl PUTs of the
# same bytes to the stack's S3 server (moto), interleaved (prints figures;
# asserts nothing): 16, 64 and 256 MiB, worker part sizes 16 and 64 MiB, MB/s,
# the ratio worker/raw, CPU per MB and peak RSS of each, and the server's RSS.
# Release build, the local stack (tests/bench/bench_s3.c says more).
#   tests/bench/bench_s3.sh [--big] [SIZE_MIB...]   [BW_BENCH_S3_ROUNDS=3]
#   --big or BW_BENCH_S3_BIG=1: a 5 GiB file too (BW_BENCH_S3_BIG_MIB=5120), once, if the
#   disk and the memory have room for it and for the server's copies (checked first)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BW_BENCH_BUILD_DIR:-$root/build-bench}
"$root/deploy/local/stack-up.sh" >/dev/null
stack_home=${STACK_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-worker}
# shellcheck source=/dev/null
source "$stack_home/stack.env"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBW_INTEGRATION=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target bench_s3 >/dev/null

export STACK_S3_ENDPOINT STACK_S3_REGION STACK_S3_BUCKET
export STACK_S3_ACCESS_KEY_ID STACK_S3_SECRET_ACCESS_KEY
server=${BW_BENCH_S3_SERVER_PID:-$(cat "${STACK_RUN_DIR:-$stack_home/run}/s3.pid" 2>/dev/null || true)}
if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then
  export BW_BENCH_S3_SERVER_PID=$server
else
  echo "bench_s3: the S3 server's pid is unknown: its RSS is not watched" >&2
  server=
fi
BW_BENCH_S3_PREFIX=bench-s3/$$-$(date +%s)
export BW_BENCH_S3_PREFIX

# Whatever the run left under its prefix (after a failure or ^C): objects and
# unfinished multipart uploads, through boto3.
sweep() {
  "$STACK_MOTO_VENV/bin/python" - "$STACK_S3_BUCKET" "$BW_BENCH_S3_PREFIX/" <<'EOF' || true
import os, sys
import boto3
bucket, prefix = sys.argv[1:3]
s3 = boto3.client("s3", endpoint_url=os.environ["STACK_S3_ENDPOINT"],
                  region_name=os.environ["STACK_S3_REGION"],
                  aws_access_key_id=os.environ["STACK_S3_ACCESS_KEY_ID"],
                  aws_secret_access_key=os.environ["STACK_S3_SECRET_ACCESS_KEY"])
left = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for o in page.get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=o["Key"])
        left += 1
for u in s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []):
    s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
    left += 1
print("objects and uploads left under %s: %d (deleted)" % (prefix, left))
EOF
}
trap sweep EXIT

if [[ " $* " == *" --big "* || "${BW_BENCH_S3_BIG:-}" == 1 ]]; then
  df -h "${BW_BENCH_S3_DIR:-/tmp}" /tmp | sed 's/^/df: /'
  grep -E '^(MemTotal|MemAvailable):' /proc/meminfo | sed 's/^/meminfo: /'
fi
[[ -z "$server" ]] || ps -o pid=,rss=,args= -p "$server" | awk '{printf "server before: pid %s, RSS %.1f MB (ps): %s %s %s\n", $1, $2 / 1024, $3, $4, $5}'
"$build/tests/bench_s3" "$@"
[[ -z "$server" ]] || ps -o pid=,rss= -p "$server" | awk '{printf "server after: pid %s, RSS %.1f MB (ps)\n", $1, $2 / 1024}'

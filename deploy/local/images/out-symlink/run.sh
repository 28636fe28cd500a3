#!/bin/sh
# Writes a normal output file plus two malicious symlinks (the worker must not
# follow them when it collects outputs):
#   out/files/ok.txt           normal file
#   out/files/evil    -> /etc/passwd          (absolute, outside /data)
#   out/tables/up.csv -> ../../config.json    (relative, escapes out/)
#   KBC_DATADIR  data folder (default /data)
set -eu
data="${KBC_DATADIR:-/data}"
data="${data%/}"
mkdir -p "$data/out/files" "$data/out/tables"
echo "ok" >"$data/out/files/ok.txt"
ln -sfn /etc/passwd "$data/out/files/evil"
ln -sfn ../../config.json "$data/out/tables/up.csv"
echo "out-symlink image: wrote out/files/ok.txt and symlinks out/files/evil, out/tables/up.csv"
exit 0

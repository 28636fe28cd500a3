#!/bin/sh
# A Keboola-style component. Reads $KBC_DATADIR/config.json, writes an output
# table with a manifest, an output file and a state file with a counter.
#   KBC_DATADIR  data folder (default /data)
#   SAMPLE_ROWS  number of rows in out/tables/result.csv (default 3)
#   EXIT_CODE    exit status after writing the outputs (default 0)
set -eu
data="${KBC_DATADIR:-/data}"
data="${data%/}"
rows="${SAMPLE_ROWS:-3}"

if [ ! -r "$data/config.json" ]; then
  echo "sample image: $data/config.json not found or not readable" >&2
  exit 1
fi
bytes="$(wc -c <"$data/config.json" | tr -d ' ')"
echo "sample image: read $data/config.json ($bytes bytes)"

count=0
if [ -r "$data/in/state.json" ]; then
  prev="$(sed -n 's/.*"count"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$data/in/state.json" | head -n 1)"
  if [ -n "$prev" ]; then count="$prev"; fi
fi
count=$((count + 1))

mkdir -p "$data/out/tables" "$data/out/files"
{
  echo "id,name,value"
  i=1
  while [ "$i" -le "$rows" ]; do
    echo "$i,row-$i,$((i * 10))"
    i=$((i + 1))
  done
} >"$data/out/tables/result.csv"
echo '{"destination":"out.c-sample.result","primary_key":["id"],"incremental":false}' \
  >"$data/out/tables/result.csv.manifest"
echo "sample report: $rows rows written, run number $count" >"$data/out/files/report.txt"
echo "{\"count\":$count}" >"$data/out/state.json"

echo "sample image: wrote $rows rows, state count=$count"
echo "sample image: done" >&2
exit "${EXIT_CODE:-0}"

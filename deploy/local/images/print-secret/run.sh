#!/bin/sh
# Prints the whole config.json, then the value of its "#password" key in plain
# text and base64 (to test the worker's secret masking in logs).
#   KBC_DATADIR  data folder (default /data)
data="${KBC_DATADIR:-/data}"
data="${data%/}"
if [ ! -r "$data/config.json" ]; then
  echo "print-secret image: $data/config.json not found or not readable" >&2
  exit 1
fi
cat "$data/config.json"
# keep the next lines on their own even when config.json lacks a final newline
if [ -n "$(tail -c 1 "$data/config.json")" ]; then echo; fi
value="$(sed -n 's/.*"#password"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$data/config.json" | head -n 1)"
echo "plain: $value"
echo "base64: $(printf %s "$value" | base64 -w 0)"
exit 0

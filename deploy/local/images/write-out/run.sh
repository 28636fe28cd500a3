#!/bin/sh
# Writes data into the data folder (and the container's own filesystem) for the
# disk-limit tests, then sleeps and exits. In this order:
#   MB          MiB written to $DATA_DIR/out/files/big.bin, with dd in 1 MiB
#               blocks (default 0: no file)
#   SOURCE      zero (default: /dev/zero) or urandom (/dev/urandom: not compressible)
#   FILES       N more files $DATA_DIR/out/files/many/f1 .. fN (default 0)
#   FILE_KB     size of each of those files in KiB (default 0: each holds its own
#               name and a newline, e.g. "f7\n")
#   TMP_MB      MiB written to /tmp/big.bin: the container's writable layer, or a
#               tmpfs with a read-only root filesystem (default 0: no file)
#   STATE_KB    writes $DATA_DIR/out/state.json: {"pad": "<STATE_KB KiB of x>"}
#               (default 0: no state)
#   SLEEP       seconds to sleep after writing (default 0)
#   EXIT_CODE   exit status when every write succeeded (default 0)
#   DATA_DIR    the data folder (default /data)
# Prints one line per step on stdout ("write-out: wrote 5 MiB to ..."). A write
# that fails (disk full, quota, read-only) prints "write-out: FAILED: ..." with
# dd's own message on stderr and exits 1 at once, without the later steps.
# A value that is not a number, or another SOURCE, exits 2.
data="${DATA_DIR:-/data}"
mb="${MB:-0}"
files="${FILES:-0}"
file_kb="${FILE_KB:-0}"
tmp_mb="${TMP_MB:-0}"
sleep_s="${SLEEP:-0}"
state_kb="${STATE_KB:-0}"
code="${EXIT_CODE:-0}"
for v in "$mb" "$files" "$file_kb" "$tmp_mb" "$sleep_s" "$state_kb"; do
  case "$v" in
    '' | *[!0-9]*)
      echo "write-out: MB, FILES, FILE_KB, TMP_MB and SLEEP must be numbers, not '$v'" >&2
      exit 2
      ;;
  esac
done
case "${SOURCE:-zero}" in
  zero) src=/dev/zero ;;
  urandom) src=/dev/urandom ;;
  *)
    echo "write-out: SOURCE must be zero or urandom, not $SOURCE" >&2
    exit 2
    ;;
esac

fail() {
  echo "write-out: FAILED: $*" >&2
  exit 1
}

# write_mib FILE MIB: MIB MiB from $src into FILE, checked by its size.
write_mib() {
  # of= leaves dd's stdout empty: what it says (also on success) is on stderr.
  if ! msg=$(dd if="$src" of="$1" bs=1048576 count="$2" 2>&1); then
    fail "writing $2 MiB to $1: $(printf '%s\n' "$msg" | head -n 1)"
  fi
  size=$(wc -c <"$1")
  [ "$size" -eq $(($2 * 1048576)) ] || fail "writing $2 MiB to $1: only $size bytes written"
  echo "write-out: wrote $2 MiB to $1"
}

if [ "$mb" -gt 0 ]; then
  mkdir -p "$data/out/files" || fail "mkdir $data/out/files"
  write_mib "$data/out/files/big.bin" "$mb"
fi

if [ "$files" -gt 0 ]; then
  mkdir -p "$data/out/files/many" || fail "mkdir $data/out/files/many"
  i=1
  while [ "$i" -le "$files" ]; do
    f="$data/out/files/many/f$i"
    if [ "$file_kb" -gt 0 ]; then
      dd if="$src" of="$f" bs=1024 count="$file_kb" 2>/dev/null || fail "writing $file_kb KiB to $f"
    else
      echo "f$i" >"$f" || fail "writing $f"
    fi
    i=$((i + 1))
  done
  echo "write-out: wrote $files files to $data/out/files/many"
fi

if [ "$tmp_mb" -gt 0 ]; then
  write_mib /tmp/big.bin "$tmp_mb"
fi

if [ "$state_kb" -gt 0 ]; then
  mkdir -p "$data/out" || fail "mkdir $data/out"
  { printf '{"pad": "'; dd if=/dev/zero bs=1024 count="$state_kb" 2>/dev/null | tr '\0' x; printf '"}'; } \
    >"$data/out/state.json" || fail "writing $data/out/state.json"
  echo "write-out: wrote a state of $state_kb KiB"
fi

if [ "$sleep_s" -gt 0 ]; then
  echo "write-out: sleeping $sleep_s s"
  sleep "$sleep_s"
fi
echo "write-out: done, exiting with $code"
exit "$code"

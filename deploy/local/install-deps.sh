#!/usr/bin/env bash
# Installs every Debian package bundle-worker needs (build, tests, local
# stack). Idempotent: a fast no-op (dpkg-query only) when all are installed;
# `apt-get update` runs only when something is missing.
#
# Extra packages: STACK_EXTRA_PACKAGES="valgrind gdb" install-deps.sh
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-dev shellcheck
  librdkafka-dev libcurl4-openssl-dev libjansson-dev libhiredis-dev
  libcmocka-dev libssl-dev libmicrohttpd-dev libexpat1-dev python3-venv
  redis-server docker.io docker-registry busybox-static kcat apache2-utils
  openjdk-17-jdk-headless maven
  jq bc curl iproute2 procps python3-jsonschema
  docker-compose python3-yaml
)
read -r -a extra <<<"${STACK_EXTRA_PACKAGES:-}"
PACKAGES+=("${extra[@]}")

APT_OPTS=(-o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)

# One dpkg-query for all packages; anything not listed as installed is missing.
declare -A installed=()
while read -r pkg status; do
  [[ "$status" == installed ]] && installed["${pkg%%:*}"]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for pkg in "${PACKAGES[@]}"; do
  [[ -n "${installed[$pkg]:-}" ]] || missing+=("$pkg")
done

# The local S3 server (moto's server mode, from PyPI) lives in its own
# virtual environment, pinned: tests only, nothing of the product is Python.
install_moto() {
  # shellcheck source-path=SCRIPTDIR source=lib.sh
  source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
  local stamp="$STACK_MOTO_VENV/.installed"
  [[ -f "$stamp" ]] && return 0
  echo "install-deps: installing moto[server]==$STACK_MOTO_VERSION into $STACK_MOTO_VENV" >&2
  rm -rf "$STACK_MOTO_VENV"
  python3 -m venv "$STACK_MOTO_VENV"
  "$STACK_MOTO_VENV/bin/pip" install -q --disable-pip-version-check "moto[server]==$STACK_MOTO_VERSION"
  touch "$stamp"
}

if ((${#missing[@]} == 0)); then
  install_moto
  exit 0
fi

echo "install-deps: installing: ${missing[*]}" >&2
SUDO=()
if ((EUID != 0)); then
  command -v sudo >/dev/null 2>&1 || {
    echo "install-deps: ERROR: not root and no sudo; install: ${missing[*]}" >&2
    exit 1
  }
  SUDO=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get "${APT_OPTS[@]}" update -q
"${SUDO[@]}" apt-get "${APT_OPTS[@]}" install -y -q "${missing[@]}"
install_moto

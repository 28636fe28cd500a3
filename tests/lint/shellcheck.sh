#!/usr/bin/env bash
# The shell lint: shellcheck (Debian's package, deploy/local/install-deps.sh)
# on every script of the project, with .shellcheckrc; clean means no note at
# all. Fails, never skips, when shellcheck is missing.
#   tests/lint/shellcheck.sh [SOURCE-DIR]
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
cd "$root"
if ! command -v shellcheck >/dev/null; then
  echo "shellcheck: not installed (deploy/local/install-deps.sh installs it)" >&2
  exit 1
fi
mapfile -t scripts < <(find deploy tests .ci -type f \( -name '*.sh' -o -path .ci/run \) -not -path '*/build*' | sort)
shellcheck -f gcc "${scripts[@]}"
echo "shellcheck: ${#scripts[@]} scripts, no note"

#!/usr/bin/env bash
# The layer lint (docs/development.md): a file of shared/LAYER/ may include
# its own layer and the layers below it, never one above or beside it:
#   core < job < clients < pipeline < service
#                                   < ops      (service and ops: not each other)
# Includes of the project name their layer ("core/error.h"); a bare
# "name.h" of shared/ is an error too, so no include slips past the rule.
#   tests/lint/layers.sh [SOURCE-DIR]
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
declare -A rank=([core]=0 [job]=1 [clients]=2 [pipeline]=3 [service]=4 [ops]=4)
problems=0
for dir in "$root"/shared/*/; do
  layer=$(basename "$dir")
  if [[ -z ${rank[$layer]+set} ]]; then
    echo "shared/$layer/: not a layer (core, job, clients, pipeline, service, ops)"
    problems=$((problems + 1))
  fi
done
while IFS= read -r file; do
  rel=${file#"$root"/}
  layer=$(cut -d/ -f2 <<<"$rel")
  [[ -n ${rank[$layer]+set} ]] || continue
  while IFS=: read -r line target; do
    if [[ $target != */* ]]; then
      if [[ -e $root/shared/$layer/$target ]] || compgen -G "$root/shared/*/$target" >/dev/null; then
        echo "$rel:$line: includes \"$target\" without its layer (write \"LAYER/$target\")"
        problems=$((problems + 1))
      fi
      continue
    fi
    to=${target%%/*}
    [[ -n ${rank[$to]+set} ]] || continue
    if [[ $to != "$layer" ]] && ((rank[$to] >= rank[$layer])); then
      echo "$rel:$line: $layer/ includes \"$target\": $to/ is not below $layer/"
      problems=$((problems + 1))
    fi
  done < <(grep -n '^#include "' "$file" | sed 's/^\([0-9]*\):#include "\([^"]*\)".*/\1:\2/')
done < <(find "$root/shared" -name '*.[ch]' | sort)
if ((problems > 0)); then
  echo "layers: $problems problems"
  exit 1
fi
echo "layers: $(find "$root/shared" -name '*.[ch]' | wc -l) files, every include goes down"

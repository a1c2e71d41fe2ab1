#!/usr/bin/env bash
# scripts/check_layers.sh: layers go one way (docs/ARCHITECTURE.md, "Layers").
#
# Every folder of src/lmforge/ has a rank; a file may include headers of its own folder and of
# folders ranked below it, never above. This script lists every include that reaches up (and every
# include that hides its folder: a relative path, or a folder the order below does not name) and
# exits 1 when it finds one. tests/core/layers_test.cpp runs it, so ctest fails on a new one.
#
# Usage: scripts/check_layers.sh [ROOT]   (ROOT: the source tree, default: this script's tree)
set -euo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
SRC=$ROOT/src/lmforge

# Lowest first. A new folder must be placed here (the check refuses folders it does not know).
LAYERS=(core ops nn data models train eval retrieval serve report bench cli)

# Known upward includes, "FILE -> HEADER" (paths under src/lmforge/), each with why it is still
# there. Keep this list empty: fix the include instead of adding a line.
ALLOWED=(
)

rank_of() {
  local i
  for i in "${!LAYERS[@]}"; do
    if [[ ${LAYERS[$i]} == "$1" ]]; then
      echo "$i"
      return
    fi
  done
  echo -1
}

allowed() {
  local a
  for a in "${ALLOWED[@]}"; do
    [[ $a == "$1" ]] && return 0
  done
  return 1
}

[[ -d $SRC ]] || { echo "check_layers: no source tree at $SRC" >&2; exit 2; }

bad=0
seen_allowed=()
while IFS= read -r -d '' file; do
  rel=${file#"$SRC"/}
  [[ $rel == */* ]] || continue  # src/lmforge/pch.h: system and torch headers only
  folder=${rel%%/*}
  own=$(rank_of "$folder")
  if (( own < 0 )); then
    echo "$rel: folder '$folder' has no place in the layer order (add it to LAYERS in scripts/check_layers.sh and to docs/ARCHITECTURE.md)"
    bad=1
    continue
  fi
  while IFS= read -r line; do
    num=${line%%:*}
    [[ ${line#*:} =~ \"([^\"]*)\" ]] || continue
    target=${BASH_REMATCH[1]}
    if [[ $target != lmforge/* ]]; then
      # Same-folder includes by bare name (kernel.h, driver.inc) are fine; anything with a path
      # must name its folder so that this check can see it.
      if [[ $target == */* ]]; then
        echo "$rel:$num: includes \"$target\": write \"lmforge/FOLDER/...\" so the layer is visible"
        bad=1
      fi
      continue
    fi
    header=${target#lmforge/}
    tfolder=${header%%/*}
    theirs=$(rank_of "$tfolder")
    if (( theirs < 0 )); then
      echo "$rel:$num: includes \"$target\": folder '$tfolder' has no place in the layer order"
      bad=1
    elif (( theirs > own )); then
      if allowed "$rel -> $header"; then
        seen_allowed+=("$rel -> $header")
      else
        echo "$rel:$num: $folder includes $tfolder (\"$target\"), which sits above it"
        bad=1
      fi
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
done < <(find "$SRC" -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.inc' -o -name '*.cu' -o -name '*.cuh' \) -print0 | sort -z)

# A whitelist line whose include is gone is stale: say so, so it gets deleted.
for a in "${ALLOWED[@]}"; do
  found=0
  for s in "${seen_allowed[@]+"${seen_allowed[@]}"}"; do
    [[ $s == "$a" ]] && found=1
  done
  if (( !found )); then
    echo "scripts/check_layers.sh: the allowed include '$a' no longer exists: delete its line"
    bad=1
  fi
done

if (( bad )); then
  echo "check_layers: includes reach up (order, lowest first: ${LAYERS[*]})"
  exit 1
fi
echo "check_layers: ok (${LAYERS[*]})"

#!/usr/bin/env bash
# scripts/setup-peers.sh: makes the peers environment, a Python virtual environment outside the
# source tree with the reference packages lmforge is checked against (pinned in bench/peers/).
#
# Why: the reference implementations (Hugging Face tokenizers, safetensors, TensorBoard's reader,
# rouge-score, ...) are the oracles of several tests and benchmarks, and must be the same versions
# on every machine. The core build and the unit tests do not need this environment: tests that use
# it skip with a message when it is absent.
#
# Idempotent: the environment is (re)installed only when its requirements file changed (a stamp
# with the file's hash is kept inside it); otherwise the script says it is up to date.
#
# Usage: scripts/setup-peers.sh [--light] [--print-path]
#   --light       only bench/peers/requirements-light.txt (what CI installs: small, no PyTorch)
#   --print-path  print the environment's folder and exit
# Environment: LMFORGE_PEERS  the folder (default: ~/.cache/lmforge/peers)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=${LMFORGE_PEERS:-${HOME:-/root}/.cache/lmforge/peers}
REQ="$ROOT/bench/peers/requirements.txt"
for arg in "$@"; do
  case "$arg" in
    --light) REQ="$ROOT/bench/peers/requirements-light.txt" ;;
    --print-path) echo "$PEERS"; exit 0 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup-peers.sh: unknown option '$arg' (expected --light, --print-path)" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "setup-peers: error: $PY not found" >&2; exit 1; }
HASH=$(sha256sum "$REQ" | cut -c1-16)
STAMP="$PEERS/.lmforge-requirements"
if [[ -f $STAMP ]] && grep -qx "$(basename "$REQ") $HASH" "$STAMP"; then
  echo "setup-peers: $PEERS is up to date ($(basename "$REQ") $HASH)"
  exit 0
fi
if [[ ! -x $PEERS/bin/python ]]; then
  echo "setup-peers: creating $PEERS"
  "$PY" -m venv "$PEERS"
fi
echo "setup-peers: installing $(basename "$REQ") into $PEERS"
"$PEERS/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
echo "$(basename "$REQ") $HASH" >"$STAMP"
"$PEERS/bin/python" -m pip freeze --disable-pip-version-check | sed 's/^/setup-peers:   /'
echo "setup-peers: done; use $PEERS/bin/python"

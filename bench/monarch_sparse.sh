#!/usr/bin/env bash
# Monarch linear (4 blocks) vs the dense linear layer of the same shape, forward and
# forward+backward, fp32 and bf16, lmforge (ops harness: `--op monarch` fast path, `--op linear`
# = at::linear) and the PyTorch peer (bench/peers/monarch_peer.py: F.linear and a fly-style bmm
# Monarch) in one run. Repeats ROUNDS times (the machine is shared: take the best of each).
# Usage: bench/monarch_sparse.sh [threads] [rounds] [seconds]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
THREADS=${1:-$(nproc)}
ROUNDS=${2:-2}
SECS=${3:-1.0}
LMF=${LMFORGE:-$ROOT/build/lmforge}
PY=/usr/bin/python3
for round in $(seq "$ROUNDS"); do
  echo "== round $round (threads $THREADS) =="
  "$LMF" ops perf --op linear --threads "$THREADS" --seconds "$SECS"
  "$LMF" ops perf --op monarch --shape B4096 --threads "$THREADS" --seconds "$SECS"
  $PY "$ROOT/bench/peers/monarch_peer.py" --threads "$THREADS" --seconds "$SECS"
done

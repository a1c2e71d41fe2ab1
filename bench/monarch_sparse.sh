#!/usr/bin/env bash
# Monarch linear (4 blocks) vs the dense linear layer of the same shape, forward and
# forward+backward, fp32 and bf16, lmforge (ops harness: `--op monarch` fast path, `--op linear`
# = at::linear) and the PyTorch peer (bench/peers/monarch_peer.py: F.linear and a fly-style bmm
# Monarch) in one run, shapes d 1024 -> 1024, 1024 -> 4096, 4096 -> 1024, 2048 -> 2048.
# Repeats ROUNDS times (the machine is shared: take the best of each). The ATen reference of the
# harness is not timed (--no-ref). GENERIC=1 also times the op's generic path
# (LMFORGE_MONARCH_GENERIC=1: ATen permute copies, fresh buffers) in the same run.
# Usage: bench/monarch_sparse.sh [threads] [rounds] [seconds]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
THREADS=${1:-$(nproc)}
ROUNDS=${2:-2}
SECS=${3:-1.0}
LMF=${LMFORGE:-$ROOT/build/lmforge}
PY=/usr/bin/python3
for round in $(seq "$ROUNDS"); do
  echo "== round $round (threads $THREADS) $(date +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg) =="
  "$LMF" ops perf --op linear --threads "$THREADS" --seconds "$SECS" --no-ref
  "$LMF" ops perf --op monarch --shape B4096 --threads "$THREADS" --seconds "$SECS" --no-ref
  if [[ "${GENERIC:-0}" == 1 ]]; then
    echo "-- generic path (LMFORGE_MONARCH_GENERIC=1) --"
    LMFORGE_MONARCH_GENERIC=1 "$LMF" ops perf --op monarch --shape B4096 --threads "$THREADS" --seconds "$SECS" --no-ref
  fi
  $PY "$ROOT/bench/peers/monarch_peer.py" --threads "$THREADS" --seconds "$SECS"
done

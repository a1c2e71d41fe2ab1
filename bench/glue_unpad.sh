#!/usr/bin/env bash
# Unpadding's speed-up on real GLUE batches: the same fine-tuning work (SST-2 or any task, a fixed
# subset, same seed, so the same batches) with --unpad false and --unpad true, alternated REPEAT times
# in one run; prints real (non-pad) tokens per second of each. Usage:
#   bench/glue_unpad.sh CHECKPOINT [TASK] [N_EXAMPLES] [REPEAT]
set -euo pipefail
CKPT=$1
TASK=${2:-SST-2}
N=${3:-1600}
REPEAT=${4:-2}
BIN=${LMFORGE:-$(dirname "$0")/../build/lmforge}
G=${GLUE:-$(dirname "$0")/../../shared/data/glue}
for r in $(seq "$REPEAT"); do
  for u in false true; do
    s=$(date +%s.%N)
    "$BIN" glue --task "$TASK" --checkpoint "$CKPT" --data "$G" --max-train "$N" --max-eval 1 --epochs 1 \
      --batch-size 32 --unpad $u ${GLUE_ARGS:-} 2>&1 | grep -E "tok/s" | tail -1 | sed "s/^/unpad=$u run $r: /"
    e=$(date +%s.%N)
    echo "unpad=$u run $r: wall $(echo "$e - $s" | bc) s"
  done
done

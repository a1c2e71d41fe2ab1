#!/usr/bin/env bash
# Small-scale quality check (minutes, not the paper's scale): the wt103-small preset (4 layers,
# d 256, WikiText-103 prefix, BPE 4K) trained STEPS steps each with
#   dense mlp | monarch_mlp (4 blocks) | sparse_mlp wide s=0.5 RigL | sparse_mlp wide s=0.75 RigL
# same seed, same data order; reports final validation loss/perplexity (the trainer's eval on
# wiki.valid.tokens batches) and tokens/s from each run's metrics.
# Usage: [PRESET=mqar] [PARALLEL=1] bench/monarch_sparse_quality.sh [steps] [threads] [outdir]
# PRESET defaults to wt103-small; PARALLEL=1 runs the four variants at once (one line each at the end).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STEPS=${1:-300}
THREADS=${2:-2}
OUT=${3:-$(mktemp -d)}
mkdir -p "$OUT"
LMF=${LMFORGE:-$ROOT/build/lmforge}
PRESET=${PRESET:-wt103-small}
PARALLEL=${PARALLEL:-0}
END=$((STEPS * 3 / 4))
EVERY=$((STEPS / 12 > 0 ? STEPS / 12 : 1))
COMMON=(--set train.steps=$STEPS --set train.max_minutes=0 --set train.eval_every=$STEPS --set run.threads=$THREADS
        --set train.warmup_steps=$((STEPS / 10)))
declare -A VARIANT=(
  [dense]=""
  [monarch]="--set model.block.ffn=\"monarch_mlp\""
  [wide50_rigl]="--set model.block.ffn=\"sparse_mlp\" --set model.block.sparse_mlp.sparsity=0.5 --set model.block.sparse_mlp.mask=\"rigl\" --set model.block.sparse_mlp.rigl_every=$EVERY --set model.block.sparse_mlp.rigl_end_step=$END"
  [wide75_rigl]="--set model.block.ffn=\"sparse_mlp\" --set model.block.sparse_mlp.sparsity=0.75 --set model.block.sparse_mlp.mask=\"rigl\" --set model.block.sparse_mlp.rigl_every=$EVERY --set model.block.sparse_mlp.rigl_end_step=$END"
)
for name in dense monarch wide50_rigl wide75_rigl; do
  # shellcheck disable=SC2086
  cmd="\"$LMF\" train -c $PRESET ${COMMON[*]} ${VARIANT[$name]} --out \"$OUT/$name\" -q > \"$OUT/$name.json\""
  if [ "$PARALLEL" = 1 ]; then eval "$cmd" & else eval "$cmd"; fi
done
wait
for name in dense monarch wide50_rigl wide75_rigl; do
  /usr/bin/python3 - "$name" "$OUT/$name" <<'PYEOF'
import json, sys
name, run = sys.argv[1], sys.argv[2]
recs = [json.loads(l) for l in open(run + "/log.jsonl")]
ev = [r for r in recs if r.get("type") == "eval"][-1]
tr = [r for r in recs if r.get("type") == "train"]
tps = sorted(r["tokens_per_s"] for r in tr)[len(tr) // 2]
print(name, json.dumps({k: v for k, v in ev.items() if k != "type"}), f"median tokens/s {tps:.0f}")
PYEOF
done

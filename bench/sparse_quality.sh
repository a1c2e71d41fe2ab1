#!/usr/bin/env bash
# Small-scale quality comparisons on the WikiText-103 0.5M-word prefix (configs/wt103-small.toml,
# shrunk to d_model 64, 2 layers, seq 128, batch 8, 1 thread: see BASE below): local-only vs local+routing heads, SMoE vs MomentumSMoE (heavy ball,
# Adam), LayerNorm vs PowerNorm vs BatchNorm. Same seed, same steps, same data order for each pair.
# Prints one line per run: name, validation perplexity (token level, train.eval_batches batches of
# the validation file), tokens/s. A few minutes per run on 2 shared cores: small-scale only.
# Usage: bench/sparse_quality.sh [steps] [outdir]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STEPS=${1:-300}
OUTDIR=${2:-$(mktemp -d)}
mkdir -p "$OUTDIR"
LMF=${LMFORGE:-$ROOT/build/lmforge}
DATA=${LMFORGE_SHARED_DATA_DIR:-$ROOT/../shared/data}
BASE=(-c wt103-small --data "$DATA" --set run.threads=1 --set train.steps=$STEPS --set train.max_minutes=0
      --set train.eval_every=$STEPS --set train.eval_batches=16 --set train.log_every=20 --set train.batch_size=8
      --set train.seq_len=128 --set model.max_seq_len=128 --set model.d_model=64 --set model.n_layers=2
      --set model.dropout=0.0 --set train.warmup_steps=20)
run() {
  local name=$1; shift
  rm -rf "$OUTDIR/$name"
  "$LMF" train "${BASE[@]}" "$@" --out "$OUTDIR/$name" -q > "$OUTDIR/$name.log" 2>&1 || { echo "$name FAILED"; tail -3 "$OUTDIR/$name.log"; return; }
  /usr/bin/python3 - "$name" "$OUTDIR/$name" <<'PYEOF'
import json, sys
name, d = sys.argv[1], sys.argv[2]
m = json.load(open(d + "/metrics.json"))
tps = [json.loads(l).get("tokens_per_s") for l in open(d + "/log.jsonl") if '"train"' in l]
tps = [t for t in tps if t]
print(f"{name}: valid_ppl {m.get('valid_ppl', float('nan')):.2f}  steps {m['step']}  "
      f"tokens/s {sorted(tps)[len(tps) // 2] if tps else 0:.0f}  train_s {m['train_seconds']:.0f}")
PYEOF
}
case "${3:-all}" in
  routing|all)
    run local4 --set model.block.mixer=routing --set 'model.block.routing={n_heads=4,n_routing_heads=0,window=16}'
    run local2_routing2 --set model.block.mixer=routing --set 'model.block.routing={n_heads=4,n_routing_heads=2,window=16,n_clusters=4}'
    ;;&
  moe|all)
    run smoe --set model.block.ffn=moe --set 'model.block.moe={n_experts=8,top_k=2,hidden=128}'
    run momentum_smoe --set model.block.ffn=moe --set 'model.block.moe={n_experts=8,top_k=2,hidden=128,momentum="heavy_ball",mu=0.7}'
    run adam_smoe --set model.block.ffn=moe --set 'model.block.moe={n_experts=8,top_k=2,hidden=128,momentum="adam",mu=0.7}'
    ;;&
  norm|all)
    run layernorm --set model.block.norm=layernorm
    run powernorm --set model.block.norm=powernorm --set 'model.block.powernorm={warmup=20,groups=4}'
    run batchnorm --set model.block.norm=batchnorm
    ;;
esac

#!/usr/bin/env bash
# MQAR accuracy of softmax attention vs linear attention with each feature map (cheap version of
# issue 4's Zoology sweep): the mqar preset (vocab 256, L 64, 8 key-value pairs, 2 layers, 2 heads)
# at the given width, STEPS steps each, all runs in parallel (1 thread each); prints a markdown table.
# Usage: [EXTRA="--set k=v ..."] bench/mqar_linear_attention.sh OUT_DIR [width] [steps]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$1; W=${2:-64}; STEPS=${3:-400}
LMF=${LMFORGE:-$ROOT/build/lmforge}
mkdir -p "$OUT"
COMMON=(--set model.d_model=$W --set train.steps=$STEPS --set train.eval_every=$STEPS --set train.log_every=100 --set run.threads=1)
# extra overrides, e.g. EXTRA="--set data.mqar.seq_len=32 --set train.seq_len=32"
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"
COMMON+=("${EXTRA_ARGS[@]}")
pids=()
"$LMF" train -c mqar "${COMMON[@]}" --out "$OUT/softmax_w$W" > "$OUT/softmax_w$W.log" 2>&1 & pids+=($!)
for map in hedgehog elu relu performer taylor; do
  "$LMF" train -c mqar "${COMMON[@]}" --set model.block.mixer=linear_attention \
    --set model.block.linear_attention.n_heads=2 --set model.block.linear_attention.feature_map=$map \
    --out "$OUT/${map}_w$W" > "$OUT/${map}_w$W.log" 2>&1 & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
echo "| mixer | width | steps | MQAR accuracy | valid loss |"
echo "|---|---|---|---|---|"
for m in softmax hedgehog elu relu performer taylor; do
  f="$OUT/${m}_w$W/metrics.json"
  if [ -f "$f" ]; then
    /usr/bin/python3 -c "import json; m=json.load(open('$f')); print(f\"| $m | $W | $STEPS | {m.get('accuracy', float('nan')):.3f} | {m['valid_loss']:.3f} |\")"
  else echo "| $m | $W | $STEPS | failed: see $OUT/${m}_w$W.log | |"; fi
done

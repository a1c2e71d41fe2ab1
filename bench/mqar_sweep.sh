#!/usr/bin/env bash
# MQAR (Zoology / Based multi-query associative recall) accuracy vs model width for softmax
# attention, linear attention with each feature map (Hedgehog, Taylor, 1+ELU, ReLU, Performer) and
# Hyena: the sweep behind docs/benchmarks/mqar.md. Every run: the `mqar` preset (2 layers, 2 heads,
# layernorm, GELU MLP, learned positions, bf16, AdamW) plus the overrides in TASK below (constant
# lr after the warmup), same seed, same steps, ONE thread; at most JOBS runs at a time. Prints a markdown table and writes the SVG plot.
# Usage: [JOBS=2] [STEPS=...] [WIDTHS="64 128"] [MIXERS="softmax hedgehog ..."] [VOCAB= SEQ= KV=] \
#        bench/mqar_sweep.sh OUT_DIR [plot.svg]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$1; SVG=${2:-$OUT/mqar_accuracy.svg}
LMF=${LMFORGE:-$ROOT/build/lmforge}
JOBS=${JOBS:-2}
STEPS=${STEPS:-3000}
WIDTHS=${WIDTHS:-"64 128"}
MIXERS=${MIXERS:-"softmax hedgehog taylor elu relu performer hyena"}
mkdir -p "$OUT"
# The task: the `mqar` preset's (vocabulary 256, sequence 64, 8 key-value pairs, learned positions,
# lr 1e-3, no weight decay; docs/benchmarks/mqar.md says why) with a constant lr after the warmup,
# so that the evaluations every EVAL_EVERY steps are those of shorter runs. VOCAB/SEQ/KV override it.
VOCAB=${VOCAB:-256}; SEQ=${SEQ:-64}; KV=${KV:-8}
TASK=(--set data.mqar.vocab_size=$VOCAB --set data.mqar.num_kv_pairs=$KV --set data.mqar.seq_len=$SEQ
      --set train.seq_len=$SEQ --set model.max_seq_len=$SEQ --set train.schedule=constant
      --set model.position=learned --set train.lr=1e-3 --set train.weight_decay=0.0)  # = the preset's
COMMON=(--set run.threads=1 --set train.steps=$STEPS --set train.eval_every=${EVAL_EVERY:-500}
        --set train.log_every=100 "${TASK[@]}")

mixer_args() {  # the overrides that select one mixer
  case $1 in
    softmax) ;;
    # Hyena as configs/assoc_recall.toml sets it (docs/benchmarks/hyena_recall.md: no decay window, no
    # global clip, the synthetics sine frequency and emb_dim)
    hyena) echo --set model.block.mixer=hyena --set model.block.hyena.sine_freq=10.0 --set model.block.hyena.emb_dim=5 \
                --set model.block.hyena.modulate=false --set train.grad_clip=0.0 ;;
    *) echo --set model.block.mixer=linear_attention --set model.block.linear_attention.n_heads=2 \
            --set model.block.linear_attention.feature_map=$1 ;;
  esac
}

run() {  # mixer width
  local dir="$OUT/$1_w$2"
  # resumable: a run that has evaluated at step STEPS is kept. The lr is constant after the warmup
  # and the batches depend only on (seed, step), so a longer run's evaluation at step STEPS is
  # that of a STEPS-step run.
  grep -q "\"step\":$STEPS,\"type\":\"eval\"" "$dir/log.jsonl" 2>/dev/null && return 0
  # shellcheck disable=SC2046
  "$LMF" train -c mqar "${COMMON[@]}" --set model.d_model=$2 $(mixer_args "$1") \
    --out "$dir" > "$OUT/$1_w$2.log" 2>&1 || echo "run $1 w$2 failed: see $OUT/$1_w$2.log" >&2
}

for m in $MIXERS; do
  for w in $WIDTHS; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    run "$m" "$w" &
  done
done
wait

/usr/bin/python3 - "$OUT" "$STEPS" $WIDTHS <<'PY'
import json, os, sys
out, steps, widths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
mixers = ["softmax", "hedgehog", "taylor", "elu", "relu", "performer", "hyena"]
print("| mixer | width | steps | MQAR accuracy | valid loss | params | best tokens/s |")
print("|---|---|---|---|---|---|---|")
for m in mixers:
    for w in widths:
        d = os.path.join(out, f"{m}_w{w}")
        ev, tok_s = None, 0.0
        try:
            for line in open(os.path.join(d, "log.jsonl")):
                r = json.loads(line)
                if r.get("type") == "eval" and r["step"] == steps: ev = r
                if r.get("type") == "train" and r["step"] <= steps: tok_s = max(tok_s, r["tokens_per_s"])
        except OSError:
            continue
        if ev is None:
            print(f"| {m} | {w} | {steps} | not reached: see {d}.log | | | |"); continue
        params = json.load(open(os.path.join(d, "metrics.json"))).get("parameters", "") if os.path.isfile(os.path.join(d, "metrics.json")) else ""
        print(f"| {m} | {w} | {steps} | {ev['accuracy']:.3f} | {ev['valid_loss']:.3f} | {params} | {tok_s:.0f} |")
PY
/usr/bin/python3 "$ROOT/bench/mqar_plot.py" "$OUT" "$SVG" "${CHANCE:-$(awk "BEGIN{print 1/$KV}")}" "$STEPS"
echo "plot: $SVG"

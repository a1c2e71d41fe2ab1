#!/usr/bin/env bash
# bench/ditto.sh [OUT]: DITTO's cheapest experiment (../shared/specs/training-and-evaluation.md §6) on
# the WikiText-103 training prefix: an MLE decoder (the wt103-small preset), then the same number
# of fine-tuning updates from it with plain LM (the control) and with DITTO (data.task = "ditto",
# 50% mix, gamma 0.5); each of the three measured the same way:
#   word perplexity on wiki.valid.tokens (eval-lm), greedy continuations of 200 valid prefixes
#   (50 + 100 tokens: seq-rep-n, rep@l, sentence repetition, MAUVE against the human continuations
#   with the MLE model's features), and the self-reinforcement curves (TP/IP/WR, 100 sentences x 10).
# Environment: LMFORGE (binary), DATA (../shared/data), MLE_MIN (12), FT_STEPS (400), FT_LR (5e-4),
# THREADS (2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${1:-runs/ditto}
LMF=${LMFORGE:-build/lmforge}
DATA=${DATA:-../shared/data}
MLE_MIN=${MLE_MIN:-12} FT_STEPS=${FT_STEPS:-400} FT_LR=${FT_LR:-5e-4} THREADS=${THREADS:-2}
VALID=$DATA/wikitext-103/wiki.valid.tokens
[[ -f $VALID ]] || { echo "ditto.sh: $VALID is missing (../shared/data)"; exit 1; }
mkdir -p "$OUT"
if [[ ! -f $OUT/mle/metrics.json ]]; then
  rm -rf "$OUT/mle"
  $LMF train -q -c wt103-small --threads "$THREADS" --set train.max_minutes="$MLE_MIN" --out "$OUT/mle"
fi
for task in lm ditto; do
  run=$OUT/ft-$task
  [[ -f $run/metrics.json ]] && continue
  rm -rf "$run" && mkdir -p "$run" && cp -r "$OUT/mle/tokenizer" "$run/"
  $LMF train -q -c wt103-small --threads "$THREADS" --init-weights "$OUT/mle/checkpoint/model.safetensors" \
    --set data.task=$task --set train.steps="$FT_STEPS" --set train.max_minutes=0 --set train.schedule_clock=steps \
    --set train.lr="$FT_LR" --set train.warmup_steps=20 --set train.eval_every="$FT_STEPS" --out "$run"
done
for m in mle ft-lm ft-ditto; do
  run=$OUT/$m
  [[ -f $run/repetition.json && $run/repetition.json -nt $run/metrics.json ]] && continue
  $LMF eval-lm --threads "$THREADS" --checkpoint "$run" --data "$VALID" --context 128 --stride 64 --json > "$run/eval-lm.json"
  $LMF generate --threads "$THREADS" --checkpoint "$run" --eval "$VALID" --prefix-len 50 --max-new 100 --prompts 200 \
    --mauve-model "$OUT/mle" --out "$run/gen-greedy.json" > /dev/null
  $LMF repetition --threads "$THREADS" --checkpoint "$run" --data "$VALID" --sentences 100 --repeats 10 --json > "$run/repetition.json"
done
python3 - "$OUT" <<'PY'
import json, sys, re
out = sys.argv[1]
def load(p):
    t = open(p).read(); return json.loads(t[t.index('{'):])
print("| model | valid word ppl | seq-rep-4 | rep@128 | rep-sen | consecutive rep-sen | distinct-2 | MAUVE | TP(1) | TP(2) | TP(10) | IP(10) | WR(10) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for m in ["mle", "ft-lm", "ft-ditto"]:
    e = load(f"{out}/{m}/eval-lm.json"); g = load(f"{out}/{m}/gen-greedy.json"); r = load(f"{out}/{m}/repetition.json")
    ppl = e.get("word_ppl", e.get("word_perplexity"))
    s = g["model"]
    print(f"| {m} | {ppl:.2f} | {s['seq_rep_4']:.3f} | {s['rep_at_128']:.3f} | {s.get('rep_sen', float('nan')):.3f} | "
          f"{s.get('rep_sen_consecutive', float('nan')):.3f} | {s['distinct_2']:.3f} | {g['mauve']:.3f} | "
          f"{r['tp'][0]:.3f} | {r['tp'][1]:.3f} | {r['tp'][-1]:.3f} | {r['ip'][-1]:.3f} | {r['wr'][-1]:.3f} |")
h = g["human"]
print(f"| human | | {h['seq_rep_4']:.3f} | {h['rep_at_128']:.3f} | {h.get('rep_sen', float('nan')):.3f} | "
      f"{h.get('rep_sen_consecutive', float('nan')):.3f} | {h['distinct_2']:.3f} | | | | | | |")
PY

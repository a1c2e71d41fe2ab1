#!/usr/bin/env bash
# Issue 13, table 2: one pretrained encoder fine-tuned on SST-2, RTE and MRPC with AdamW, 8-bit
# AdamW, LoRA, GaLore (fp32 and 8-bit moments) and GradNormLoRP; per run the dev score, the
# optimiser-state bytes, trainable parameters and training tokens/s (lmforge glue --json, its
# "training" block). Runs one after another so that tokens/s compare on the same machine state.
# Usage: bench/optim_finetune.sh CHECKPOINT [OUT_DIR] [TASKS...]
#   e.g. bench/optim_finetune.sh /work/runs/minilm /tmp/optim-ft SST-2 RTE MRPC
# METHODS (env) picks rows: "adamw adamw8bit lora galore galore8 gradnormlorp" by default.
set -euo pipefail
CKPT=${1:?usage: bench/optim_finetune.sh CHECKPOINT [OUT_DIR] [TASKS...]}
OUT=${2:-/tmp/lmforge-optim-ft}
shift 2 || shift $#
TASKS=${*:-SST-2 RTE MRPC}
METHODS=${METHODS:-adamw adamw8bit lora galore galore8 gradnormlorp}
BIN=${LMFORGE:-$(dirname "$0")/../build/lmforge}
G=${GLUE:-$(dirname "$0")/../../shared/data/glue}
mkdir -p "$OUT"

# The projected optimisers: rank 8 and scale 2 (the GaLore/GradNormLoRP GLUE settings use r 4-8,
# alpha 2-4); the projector refreshed every 100 steps so that short runs see refreshes.
LOWRANK="--optimizer-option rank=8 --optimizer-option scale=2 --optimizer-option update_gap=100"
method_args() {
  case "$1" in
    adamw) echo "--lr 1e-4" ;;
    adamw8bit) echo "--optimizer adamw8bit --lr 1e-4" ;;
    lora) echo "--peft lora --lr 5e-4" ;;  # r 8, alpha 16 on q/k/v, out, fc1, fc2 (docs/peft.md)
    galore) echo "--optimizer galore $LOWRANK --lr 1e-4" ;;
    galore8) echo "--optimizer galore $LOWRANK --optimizer-option bits=8 --lr 1e-4" ;;
    gradnormlorp) echo "--optimizer gradnormlorp $LOWRANK --lr 1e-4" ;;
    *) echo "unknown method '$1'" >&2; exit 2 ;;
  esac
}
task_args() {
  case "$1" in
    SST-2) echo "--max-train 8000 --epochs 1" ;;  # 250 steps of a 67k-example set
    *) echo "--epochs 2" ;;
  esac
}

for t in $TASKS; do
  for m in $METHODS; do
    f="$OUT/$m.$t.json"
    [ -s "$f" ] && continue
    echo "== $t $m (load $(cut -d' ' -f1 /proc/loadavg))"
    # shellcheck disable=SC2046
    "$BIN" glue --task "$t" --checkpoint "$CKPT" --data "$G" --batch-size 32 --max-len 128 \
      $(task_args "$t") $(method_args "$m") --json -q > "$f.tmp" 2> "$OUT/$m.$t.log" && mv "$f.tmp" "$f" ||
      echo "$t $m failed: see $OUT/$m.$t.log"
  done
done

python3 - "$OUT" $TASKS <<'EOF'
import json, os, sys
out, tasks = sys.argv[1], sys.argv[2:]
methods = os.environ.get("METHODS", "adamw adamw8bit lora galore galore8 gradnormlorp").split()
print("| task | method | dev score | optimizer state (MiB) | trainable params | tokens/s | train s |")
print("|---|---|---|---|---|---|---|")
for t in tasks:
    for m in methods:
        p = os.path.join(out, f"{m}.{t}.json")
        if not os.path.exists(p):
            print(f"| {t} | {m} | (missing) | | | | |")
            continue
        j = json.load(open(p))
        tr = j["training"][t]
        score = " / ".join(f"{k} {v:.1f}" for k, v in j["dev"][t].items())
        print(f"| {t} | {m} | {score} | {tr['optimizer_state_bytes'] / 2**20:.1f} | "
              f"{tr['trainable_parameters'] / 1e6:.2f} M | {tr['tokens_per_s']:.0f} | {tr['train_seconds']:.0f} |")
EOF

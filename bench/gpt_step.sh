#!/usr/bin/env bash
# Times a training step of the same GPT (configs/bench-gpt.toml) in lmforge and in PyTorch
# (bench/peers/gpt_peer.py), from the same initial weights on the same batches, fp32 and bf16,
# in one run; prints both losses for the first steps and the time ratio (lmforge / PyTorch:
# below 1.0 means lmforge is faster).
# Usage: bench/gpt_step.sh [steps] [threads]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STEPS=${1:-10}
THREADS=${2:-$(nproc)}
LMF=${LMFORGE:-$ROOT/build/lmforge}
PY=/usr/bin/python3
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
$PY "$ROOT/bench/peers/gpt_peer.py" --write "$DIR" --steps "$STEPS"
for prec in fp32 bf16; do
  # Alternate the order so neither always runs on a warmer machine.
  lm=$("$LMF" bench-step --dir "$DIR" --steps "$STEPS" --threads "$THREADS" --set train.precision=$prec)
  py=$($PY "$ROOT/bench/peers/gpt_peer.py" --init "$DIR" --steps "$STEPS" --threads "$THREADS" --precision $prec)
  lm2=$("$LMF" bench-step --dir "$DIR" --steps "$STEPS" --threads "$THREADS" --set train.precision=$prec)
  $PY - "$prec" "$lm" "$py" "$lm2" <<'PYEOF'
import json, sys
prec, lm, py, lm2 = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
lm_ms = min(lm["ms_per_step"], lm2["ms_per_step"])
diff = max(abs(a - b) for a, b in zip(lm["losses"][:5], py["losses"][:5]))
print(f"{prec}: lmforge {lm_ms:.1f} ms/step, pytorch {py['ms_per_step']:.1f} ms/step, "
      f"ratio {lm_ms / py['ms_per_step']:.3f} (threads {lm['threads']}/{py['threads']})")
print(f"{prec}: first losses lmforge {[round(x, 5) for x in lm['losses'][:5]]}")
print(f"{prec}: first losses pytorch {[round(x, 5) for x in py['losses'][:5]]}  max diff {diff:.2e}")
PYEOF
done

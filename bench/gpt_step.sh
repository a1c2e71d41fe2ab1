#!/usr/bin/env bash
# Times a training step of the same GPT (configs/bench-gpt.toml) in lmforge and in PyTorch
# (bench/peers/gpt_peer.py), from the same initial weights on the same batches, fp32 and bf16,
# in one run; prints both losses for the first steps and the time ratio (lmforge / PyTorch:
# below 1.0 means lmforge is faster).
# Peers (bench/peers/pythons.sh): Debian's torch 1.13 (masked-softmax attention, eager) and, where
# scripts/setup-peers.sh made it, PyTorch 2.x eager with scaled_dot_product_attention and the same
# model under torch.compile (COMPILE=0 leaves that out).
# Usage: bench/gpt_step.sh [steps] [threads]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STEPS=${1:-10}
THREADS=${2:-$(nproc)}
LMF=${LMFORGE:-$ROOT/build/lmforge}
source "$ROOT/bench/peers/pythons.sh"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
echo "machine: $("$LMF" info | sed -n 2p | cut -c11-) | load $(cut -d' ' -f1-3 /proc/loadavg)"
"${PEER_PYS[0]}" "$ROOT/bench/peers/gpt_peer.py" --write "$DIR" --steps "$STEPS"
for prec in fp32 bf16; do
  # lmforge runs before and after the peers (best of the two), so neither side always gets the
  # warmer machine.
  "$LMF" bench-step --dir "$DIR" --steps "$STEPS" --threads "$THREADS" --set train.precision=$prec > "$DIR/lm1.json"
  : > "$DIR/peers.jsonl"
  for py in "${PEER_PYS[@]}"; do
    "$py" "$ROOT/bench/peers/gpt_peer.py" --init "$DIR" --steps "$STEPS" --threads "$THREADS" --precision $prec >> "$DIR/peers.jsonl"
    if [[ ${COMPILE:-1} == 1 ]] && "$py" -c 'import torch, sys; sys.exit(0 if hasattr(torch, "compile") else 1)'; then
      "$py" "$ROOT/bench/peers/gpt_peer.py" --init "$DIR" --steps "$STEPS" --threads "$THREADS" --precision $prec --compile \
        >> "$DIR/peers.jsonl" 2> "$DIR/compile.log" || echo "{\"impl\": \"compile failed: $(tail -1 "$DIR/compile.log" | tr -d '"\\' | cut -c1-200)\"}" >> "$DIR/peers.jsonl"
    fi
  done
  "$LMF" bench-step --dir "$DIR" --steps "$STEPS" --threads "$THREADS" --set train.precision=$prec > "$DIR/lm2.json"
  "${PEER_PYS[0]}" - "$prec" "$DIR" <<'PYEOF'
import json, sys
prec, d = sys.argv[1], sys.argv[2]
lm, lm2 = json.load(open(f"{d}/lm1.json")), json.load(open(f"{d}/lm2.json"))
lm_ms = min(lm["ms_per_step"], lm2["ms_per_step"])
print(f"{prec}: lmforge {lm_ms:.1f} ms/step (threads {lm['threads']}); first losses {[round(x, 5) for x in lm['losses'][:5]]}")
for line in open(f"{d}/peers.jsonl"):
    py = json.loads(line)
    if "ms_per_step" not in py:
        print(f"{prec}: {py['impl']}")
        continue
    diff = max(abs(a - b) for a, b in zip(lm["losses"][:5], py["losses"][:5]))
    print(f"{prec}: {py['impl']}: {py['ms_per_step']:.1f} ms/step, lmforge/peer {lm_ms / py['ms_per_step']:.3f} "
          f"(threads {py['threads']}); first losses max diff {diff:.2e}")
PYEOF
done

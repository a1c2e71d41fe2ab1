#!/usr/bin/env bash
# Optimizer step time and state on MiniLM-L6's parameter shapes: lmforge (adamw = LibTorch's
# AdamW, adamw8bit, galore fp32/8-bit, gradnormlorp) against PyTorch's AdamW and the GaLore
# authors' GaLoreAdamW, in the same run (bench/cpu_time/optim_step.cpp, bench/peers/optim_step_peer.py
# under every peer of bench/peers/pythons.sh: Debian's torch 1.13 and PyTorch 2.x).
# Usage: bench/optim_step.sh [GALORE_WHEEL_DIR] [STEPS=10]
#   GALORE_WHEEL_DIR: galore-torch 1.0 unpacked (pip download galore-torch==1.0 --no-deps; unzip)
set -euo pipefail
cd "$(dirname "$0")/.."
GALORE=${1:-}
STEPS=${2:-10}
B=${BUILD_DIR:-build}
BIN=/tmp/lmforge_optim_step
bench/cpu_time/build.sh bench/cpu_time/optim_step.cpp $BIN "$B"
echo "machine: $($B/lmforge info | sed -n 2p | cut -c11-) | $($B/lmforge info | sed -n 4p) | load $(cut -d' ' -f1 /proc/loadavg)"
OUT=$(mktemp)
$BIN "$STEPS" 2 | tee "$OUT"
source bench/peers/pythons.sh
for py in "${PEER_PYS[@]}"; do
  (cd bench/peers && "$py" optim_step_peer.py --steps "$STEPS" --threads 2 ${GALORE:+--galore "$GALORE"}) | tee -a "$OUT"
done
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
base = min((r for r in rows if r["impl"].startswith("pytorch") and r["optimizer"].startswith("adamw")),
           key=lambda r: r["best_ms"])
print(f"(base: the fastest PyTorch AdamW, {base['impl']} {base['optimizer']})")
print("| implementation | optimizer | best ms/step | mean ms/step | state MiB | best time / fastest PyTorch AdamW |")
print("|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['impl']} | {r['optimizer']} | {r['best_ms']:.1f} | {r['mean_ms']:.1f} | {r['state_mib']:.1f} | "
          f"{r['best_ms'] / base['best_ms']:.2f} |")
PY

#!/usr/bin/env bash
# Routing attention vs full attention, and MoE vs a dense feed-forward of equal active FLOPs:
# lmforge (`lmforge bench-layer`) and the PyTorch peers (bench/peers/sparse_peer.py, under every peer
# of bench/peers/pythons.sh: Debian's torch 1.13 and PyTorch 2.x with SDPA) in one run,
# forward+backward time (best of N; wall and process CPU time) and the resident-memory high-water of one
# forward+backward.
# Prints one JSON line per measurement, then a markdown table with the ratios.
# Usage: bench/sparse_attention_moe.sh [threads] [reps] [all|attention|moe]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
THREADS=${1:-$(nproc)}
REPS=${2:-3}
PART=${3:-all}
LMF=${LMFORGE:-$ROOT/build/lmforge}
source "$ROOT/bench/peers/pythons.sh"
PY=${PEER_PYS[0]}
PEER="$ROOT/bench/peers/sparse_peer.py"
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
D=256
run() { echo "$*" >&2; "$@" | tee -a "$OUT"; }

for L in 4096 8192; do
  [ "$PART" = moe ] && break
  run "$LMF" bench-layer --kind mixer --name routing --d-model $D --seq $L --reps $REPS --threads "$THREADS" \
      --opts $'n_heads = 4\nn_routing_heads = 2\nwindow = 256'
  run "$LMF" bench-layer --kind mixer --name attention --d-model $D --seq $L --reps $REPS --threads "$THREADS" \
      --opts $'n_heads = 4'
  for py in "${PEER_PYS[@]}"; do
    run "$py" "$PEER" --what attention --d-model $D --heads 4 --seq $L --reps $REPS --threads "$THREADS"
  done
done

# MoE: 8 experts, top-2, 512 hidden each = 1024 active hidden per token; dense MLP hidden 1024.
B=8; L=512; H=512
if [ "$PART" != attention ]; then
for cf in 1.25 0.0; do
  run "$LMF" bench-layer --kind ffn --name moe --d-model $D --batch $B --seq $L --reps $REPS --threads "$THREADS" \
      --opts "n_experts = 8
top_k = 2
hidden = $H
capacity_factor = $cf"
done
run "$LMF" bench-layer --kind ffn --name moe --d-model $D --batch $B --seq $L --reps $REPS --threads "$THREADS" \
    --opts "n_experts = 8
top_k = 2
hidden = $H
momentum = \"heavy_ball\""
run "$LMF" bench-layer --kind ffn --name mlp --d-model $D --batch $B --seq $L --reps $REPS --threads "$THREADS" \
    --opts $'hidden = 1024\nactivation = "relu"'
for py in "${PEER_PYS[@]}"; do
  run "$py" "$PEER" --what mlp --d-model $D --hidden 1024 --batch $B --seq $L --reps $REPS --threads "$THREADS"
  run "$py" "$PEER" --what moe --d-model $D --hidden $H --experts 8 --top-k 2 --batch $B --seq $L --reps $REPS --threads "$THREADS"
done
fi

$PY - "$OUT" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def label(r):
    if r["impl"] != "lmforge" and "what" in r:
        return f"{r['impl']} {r['what']}"
    o = r.get("opts", "").replace("\n", ", ")
    return f"lmforge {r['name']} ({o})"
def cpu(r, k):
    return f"{r[k]:.1f}" if k in r else "-"
print("| what | B | L | ms fwd | ms fwd+bwd | CPU ms fwd | CPU ms fwd+bwd | peak MB (fwd+bwd) |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {label(r)} | {r['B']} | {r['L']} | {r['ms_fwd']:.1f} | {r['ms_fwd_bwd']:.1f} | {cpu(r, 'cpu_ms_fwd')} | "
          f"{cpu(r, 'cpu_ms_fwd_bwd')} | {r['peak_mb']:.0f} |")
print()
for L in (4096, 8192):
    rt = [r for r in rows if r.get("name") == "routing" and r["L"] == L]
    at = [r for r in rows if r.get("name") == "attention" and r["L"] == L]
    for pa in [r for r in rows if r.get("what") == "attention" and r["L"] == L]:
        for mine in rt + at:
            print(f"L={L}: lmforge {mine['name']} vs {pa['impl']} full attention: "
                  f"{pa['ms_fwd_bwd'] / mine['ms_fwd_bwd']:.2f}x faster (fwd+bwd), "
                  f"{pa['peak_mb'] / max(mine['peak_mb'], 1e-9):.1f}x less memory")
moe = [r for r in rows if r.get("name") == "moe"]
mlp = [r for r in rows if r.get("name") == "mlp"]
pmlp = [r for r in rows if r.get("what") == "mlp"]
for m in moe:
    o = m["opts"].replace("\n", ", ")
    if mlp:
        print(f"moe ({o}) / lmforge dense mlp: {m['ms_fwd_bwd'] / mlp[0]['ms_fwd_bwd']:.2f}x time (fwd+bwd)")
        if "cpu_ms_fwd_bwd" in m and "cpu_ms_fwd_bwd" in mlp[0]:
            print(f"moe ({o}) / lmforge dense mlp: {m['cpu_ms_fwd_bwd'] / mlp[0]['cpu_ms_fwd_bwd']:.2f}x CPU time (fwd+bwd)")
    for pm in pmlp:
        print(f"moe ({o}) / {pm['impl']} dense mlp: {m['ms_fwd_bwd'] / pm['ms_fwd_bwd']:.2f}x time (fwd+bwd)")
    for pm in [r for r in rows if r.get("what") == "moe"]:
        print(f"lmforge moe ({o}) vs {pm['impl']} moe: {pm['ms_fwd_bwd'] / m['ms_fwd_bwd']:.2f}x faster (fwd+bwd)")
PYEOF

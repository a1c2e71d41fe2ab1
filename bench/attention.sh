#!/usr/bin/env bash
# Softmax attention, causal, d = 64: lmforge's flash kernel (`lmforge ops perf --op flash_attention`;
# its reference column is the attention mixer's "aten" core, the L x L scores) against the PyTorch
# peers (bench/peers/kernels_peer.py: the better of masked softmax attention and, under PyTorch 2.x,
# F.scaled_dot_product_attention, per pass), under every peer of bench/peers/pythons.sh.
# Prints a markdown table: ms forward and forward+backward, the speed-up over the fastest peer
# (above 1: lmforge is faster) and peak memory of one forward+backward.
# Usage: bench/attention.sh [shapes] [threads]
#   shapes: comma-separated harness shape names (default B8_H4_L256_d64 (the GPT-step model),
#   B1_H8_L1024_d64, B1_H8_L2048_d64, B1_H8_L4096_d64)
# Env: LMF_ARGS (extra `lmforge ops perf` flags, e.g. "--seconds 2").
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHAPES=${1:-B8_H4_L256_d64,B1_H8_L1024_d64,B1_H8_L2048_d64,B1_H8_L4096_d64}
THREADS=${2:-$(nproc)}
LMF=${LMFORGE:-$ROOT/build/lmforge}
source "$ROOT/bench/peers/pythons.sh"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
echo "machine: $("$LMF" info | sed -n 2p | cut -c11-) | ops isa $("$LMF" info | sed -n 4p | awk '{print $3}') | threads $THREADS | load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "["  > "$DIR/cases.json"
first=1
for s in ${SHAPES//,/ }; do
  "$LMF" ops perf --op flash_attention --shape "$s" --threads "$THREADS" --json ${LMF_ARGS:-} > "$DIR/one.json"
  "${PEER_PYS[0]}" -c 'import json,sys; print(",".join(json.dumps(r) for r in json.load(open(sys.argv[1])) if r["shape"] == sys.argv[2]))' \
    "$DIR/one.json" "$s" > "$DIR/rows.txt"
  [[ -s $DIR/rows.txt ]] || continue
  [[ $first == 1 ]] || echo "," >> "$DIR/cases.json"
  cat "$DIR/rows.txt" >> "$DIR/cases.json"
  first=0
done
echo "]" >> "$DIR/cases.json"
for i in "${!PEER_PYS[@]}"; do
  "${PEER_PYS[$i]}" "$ROOT/bench/peers/kernels_peer.py" --cases "$DIR/cases.json" --threads "$THREADS" > "$DIR/peer$i.jsonl"
done
"${PEER_PYS[0]}" - "$DIR" "${PEER_NAMES[@]}" <<'PYEOF'
import json, sys
d, names = sys.argv[1], sys.argv[2:]
lmf = json.load(open(f"{d}/cases.json"))
peers = []
for i in range(len(names)):
    peers.append({(r["shape"], r["dtype"]): r for r in map(json.loads, open(f"{d}/peer{i}.jsonl"))})
f = lambda x: "-" if x is None else f"{x:.1f}"
cols = ["shape", "dtype", "pass", "lmforge flash ms", "lmforge aten ms", *[f"{n} ms" for n in names],
        "flash vs fastest peer", "flash peak MB", "aten peak MB", *[f"{n} peak MB" for n in names]]
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
for r in lmf:
    key = (r["shape"], r["dtype"])
    ps = [p.get(key, {}) for p in peers]
    for mode, ms, ref, pk in (("fwd", "ms", "ref_ms", "peer_ms"), ("fwd+bwd", "ms_fb", "ref_ms_fb", "peer_ms_fb")):
        pms = [p.get(pk) for p in ps]
        label = [f"{f(x)} ({p.get('peer', p.get('error', p.get('skipped', '?')))})" if x else "-" for x, p in zip(pms, ps)]
        best = min([x for x in pms if x], default=None)
        mem = mode == "fwd+bwd"
        print("| " + " | ".join([r["shape"], r["dtype"], mode, f(r[ms]), f(r[ref]), *label,
                                  f"{best / r[ms]:.2f}x" if best else "-",
                                  f(r["peak_mb"]) if mem else "", f(r["ref_peak_mb"]) if mem else "",
                                  *[(f(p.get("peer_peak_mb")) if mem else "") for p in ps]]) + " |")
PYEOF

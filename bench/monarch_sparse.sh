#!/usr/bin/env bash
# Monarch linear (4 blocks) vs the dense linear layer of the same shape, forward and
# forward+backward, fp32 and bf16, lmforge (ops harness: `--op monarch` fast path, `--op linear`
# = at::linear) and the PyTorch peers (bench/peers/monarch_peer.py: F.linear and a fly-style bmm
# Monarch; under every peer of bench/peers/pythons.sh: Debian's torch 1.13 and PyTorch 2.x) in one
# run, shapes d 1024 -> 1024, 1024 -> 4096, 4096 -> 1024, 2048 -> 2048.
# Repeats ROUNDS times and reports the best of each (the machine may be shared). The ATen reference
# of the harness is not timed (--no-ref). GENERIC=1 also times the op's generic path
# (LMFORGE_MONARCH_GENERIC=1: ATen permute copies, fresh buffers) in the same run.
# Usage: bench/monarch_sparse.sh [threads] [rounds] [seconds]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
THREADS=${1:-$(nproc)}
ROUNDS=${2:-2}
SECS=${3:-1.0}
LMF=${LMFORGE:-$ROOT/build/lmforge}
source "$ROOT/bench/peers/pythons.sh"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
echo "machine: $("$LMF" info | sed -n 2p | cut -c11-) | threads $THREADS"
for round in $(seq "$ROUNDS"); do
  echo "== round $round (threads $THREADS) $(date +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg) =="
  "$LMF" ops perf --op linear --threads "$THREADS" --seconds "$SECS" --no-ref --json > "$DIR/linear$round.json"
  "$LMF" ops perf --op monarch --shape B4096 --threads "$THREADS" --seconds "$SECS" --no-ref --json > "$DIR/monarch$round.json"
  if [[ "${GENERIC:-0}" == 1 ]]; then
    LMFORGE_MONARCH_GENERIC=1 "$LMF" ops perf --op monarch --shape B4096 --threads "$THREADS" --seconds "$SECS" --no-ref --json \
      > "$DIR/generic$round.json"
  fi
  for i in "${!PEER_PYS[@]}"; do
    "${PEER_PYS[$i]}" "$ROOT/bench/peers/monarch_peer.py" --threads "$THREADS" --seconds "$SECS" --json > "$DIR/peer${i}_$round.json"
  done
done
"${PEER_PYS[0]}" - "$DIR" "$ROUNDS" "${PEER_NAMES[@]}" <<'PYEOF'
import json, os, sys
d, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
norm = lambda t: {"float32": "fp32", "bfloat16": "bf16"}.get(t, t)
def best(rows, key_fields, vals):  # best (min) of each value over the rounds, per key
    out = {}
    for r in rows:
        k = tuple(norm(r[f]) if f == "dtype" else r[f] for f in key_fields)
        o = out.setdefault(k, {})
        for v in vals:
            if v in r:
                o[v] = min(o.get(v, float("inf")), r[v])
    return out
def load(stem):
    rows = []
    for i in range(1, rounds + 1):
        p = f"{d}/{stem}{i}.json"
        if os.path.exists(p):
            rows += json.load(open(p))
    return rows
lin = best(load("linear"), ("shape", "dtype"), ("ms", "ms_fb"))
mon = best(load("monarch"), ("shape", "dtype"), ("ms", "ms_fb"))
gen = best(load("generic"), ("shape", "dtype"), ("ms", "ms_fb"))
peers = [best(load(f"peer{i}_"), ("shape", "dtype"), ("dense_ms", "monarch_ms", "dense_fb_ms", "monarch_fb_ms"))
         for i in range(len(names))]
f = lambda x: "-" if x is None else f"{x:.2f}"
cols = ["shape", "dtype", "lmforge monarch fwd", "lmforge monarch f+b", "lmforge dense f+b",
        *[f"{n} monarch f+b" for n in names], *[f"{n} dense f+b" for n in names],
        "monarch: lmforge vs faster peer (f+b)", "lmforge monarch vs faster peer's dense (f+b)"]
if gen:
    cols.insert(4, "lmforge generic f+b")
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
for (shape, dt), m in sorted(mon.items()):
    l = lin.get((shape, dt), {})
    ps = [p.get((shape, dt), {}) for p in peers]
    pm = min([p["monarch_fb_ms"] for p in ps if "monarch_fb_ms" in p], default=None)
    pd = min([p["dense_fb_ms"] for p in ps if "dense_fb_ms" in p], default=None)
    row = [shape, dt, f(m.get("ms")), f(m.get("ms_fb")), f(l.get("ms_fb"))]
    if gen:
        row.insert(4, f(gen.get((shape, dt), {}).get("ms_fb")))
    row += [f(p.get("monarch_fb_ms")) for p in ps] + [f(p.get("dense_fb_ms")) for p in ps]
    row += ["-" if pm is None else f"{pm / m['ms_fb']:.2f}x", "-" if pd is None else f"{pd / m['ms_fb']:.2f}x"]
    print("| " + " | ".join(row) + " |")
print("\ntimes in ms, best of the rounds; 'vs' = peer ms / lmforge ms (above 1: lmforge is faster)")
PYEOF

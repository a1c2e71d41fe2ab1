#!/usr/bin/env bash
# Causal linear attention, lmforge's chunked kernel (`lmforge ops perf --op linear_attention`) vs the
# PyTorch peers (bench/peers/linear_attention_peer.py: masked-quadratic and cumulative-sum forms,
# under every peer of bench/peers/pythons.sh: Debian's torch 1.13 and PyTorch 2.x),
# B=1, 8 heads, F=D=64, fp32 and bf16, forward and forward+backward, best of N, peak memory.
# Prints a markdown table with the ratio (peer ms / lmforge ms: above 1 means lmforge is faster).
# Usage: bench/linear_attention.sh [L list] [threads]     e.g. bench/linear_attention.sh 1024,4096 2
# Env: LMF_ARGS (extra `lmforge ops perf` flags, e.g. "--seconds 2": more repetitions, best taken),
#      PEER_ARGS (extra peer flags, e.g. "--max-gb 8").
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LS=${1:-1024,2048,4096,8192,16384,32768}
THREADS=${2:-$(nproc)}
LMF=${LMFORGE:-$ROOT/build/lmforge}
source "$ROOT/bench/peers/pythons.sh"
PY=${PEER_PYS[0]}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
for L in ${LS//,/ }; do
  "$LMF" ops perf --op linear_attention --shape "B1_H8_L${L}_F64_D64_C64" --threads "$THREADS" --no-ref --json ${LMF_ARGS:-} > "$DIR/lmf_$L.json"
done
echo "machine: $("$LMF" info | sed -n 2p | cut -c11-) | threads $THREADS | load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in "${!PEER_PYS[@]}"; do
  "${PEER_PYS[$i]}" "$ROOT/bench/peers/linear_attention_peer.py" --L "$LS" --threads "$THREADS" ${PEER_ARGS:-} > "$DIR/peer$i.jsonl"
done
$PY - "$DIR" "$LS" "${PEER_NAMES[@]}" <<'PYEOF'
import json, sys, glob
d, Ls, names = sys.argv[1], [int(x) for x in sys.argv[2].split(",")], sys.argv[3:]
lmf = {}
for L in Ls:
    for r in json.load(open(f"{d}/lmf_{L}.json")):
        lmf[(L, r["dtype"].replace("float32", "fp32").replace("bfloat16", "bf16"))] = r
peers = []
for i in range(len(names)):
    t = {}
    for line in open(f"{d}/peer{i}.jsonl"):
        r = json.loads(line)
        t[(r["L"], r["dtype"], r["mode"], r["form"])] = r
    peers.append(t)
def p(i, L, dt, mode, form, key):
    return peers[i].get((L, dt, mode, form), {}).get(key)
f = lambda x: "-" if x is None else f"{x:.1f}"
def better(i, L, dt, mode):  # the faster form of peer i: (ms, form, its peak MB)
    c = [(p(i, L, dt, mode, form, "ms"), form) for form in ("quadratic", "cumsum")]
    c = [x for x in c if x[0] is not None]
    if not c:
        return None, "-", None
    ms, form = min(c)
    return ms, form, p(i, L, dt, mode, form, "peak_mb")
cols = ["L", "dtype", "pass", "lmforge ms", *[f"{n} ms (form)" for n in names], "speed-up vs faster peer",
        "lmforge peak MB", *[f"{n} peak MB" for n in names]]
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
for L in Ls:
    for dt in ("fp32", "bf16"):
        r = lmf.get((L, dt))
        if r is None: continue
        for mode, ms, peak in (("fwd", r["ms"], None), ("fwdbwd", r["ms_fb"], r["peak_mb"])):
            b = [better(i, L, dt, mode) for i in range(len(names))]
            best = min([x[0] for x in b if x[0] is not None], default=None)
            ratio = "-" if best is None else f"{best / ms:.1f}x"
            print(f"| {L} | {dt} | {mode} | {ms:.2f} | " + "".join(f"{f(x[0])} ({x[1]}) | " for x in b) + f"{ratio} | "
                  f"{f(peak) if mode == 'fwdbwd' else '-'} | " +
                  "".join(f"{f(x[2]) if mode == 'fwdbwd' else '-'} | " for x in b))
PYEOF

#!/usr/bin/env bash
# Causal linear attention, lmforge's chunked kernel (`lmforge ops perf --op linear_attention`) vs the
# PyTorch peer (bench/peers/linear_attention_peer.py: masked-quadratic and cumulative-sum forms),
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
PY=/usr/bin/python3
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
for L in ${LS//,/ }; do
  "$LMF" ops perf --op linear_attention --shape "B1_H8_L${L}_F64_D64_C64" --threads "$THREADS" --no-ref --json ${LMF_ARGS:-} > "$DIR/lmf_$L.json"
done
$PY "$ROOT/bench/peers/linear_attention_peer.py" --L "$LS" --threads "$THREADS" ${PEER_ARGS:-} > "$DIR/peer.jsonl"
$PY - "$DIR" "$LS" <<'PYEOF'
import json, sys, glob
d, Ls = sys.argv[1], [int(x) for x in sys.argv[2].split(",")]
lmf = {}
for L in Ls:
    for r in json.load(open(f"{d}/lmf_{L}.json")):
        lmf[(L, r["dtype"].replace("float32", "fp32").replace("bfloat16", "bf16"))] = r
peer = {}
for line in open(f"{d}/peer.jsonl"):
    r = json.loads(line)
    peer[(r["L"], r["dtype"], r["mode"], r["form"])] = r
def p(L, dt, mode, form, key):
    r = peer.get((L, dt, mode, form), {})
    return r.get(key)
print("| L | dtype | pass | lmforge ms | quadratic ms | cumsum ms | speed-up vs better peer | lmforge peak MB | quadratic peak MB | cumsum peak MB |")
print("|---|---|---|---|---|---|---|---|---|---|")
for L in Ls:
    for dt in ("fp32", "bf16"):
        r = lmf.get((L, dt))
        if r is None: continue
        for mode, ms, peak in (("fwd", r["ms"], None), ("fwdbwd", r["ms_fb"], r["peak_mb"])):
            q, c = p(L, dt, mode, "quadratic", "ms"), p(L, dt, mode, "cumsum", "ms")
            best = min([x for x in (q, c) if x is not None], default=None)
            f = lambda x: "-" if x is None else f"{x:.1f}"
            ratio = "-" if best is None else f"{best / ms:.1f}x"
            pk = lambda form: f(p(L, dt, mode, form, "peak_mb"))
            print(f"| {L} | {dt} | {mode} | {ms:.2f} | {f(q)} | {f(c)} | {ratio} | "
                  f"{f(peak) if mode == 'fwdbwd' else '-'} | {pk('quadratic')} | {pk('cumsum')} |")
PYEOF

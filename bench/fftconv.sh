#!/usr/bin/env bash
# FFT convolution and Hyena layer: lmforge (`lmforge ops perf`) and the PyTorch peers
# (bench/peers/fftconv_peer.py: rfft n=2L, product, irfft; safari's Hyena layer; run under every
# peer of bench/peers/pythons.sh: Debian's torch 1.13 and PyTorch 2.x) on the same shapes in one
# run. Prints a markdown table: ms forward and forward+backward for lmforge and each peer, the
# speed-up against the faster peer (peer / lmforge: above 1 means lmforge is faster) and peak
# memory of one forward+backward (MB above the start, all measured the same way).
# Usage: bench/fftconv.sh [SHAPE_SUBSTR] [THREADS] [OPS]   e.g. bench/fftconv.sh L4096 2 "fftconv hyena"
# Sparse shapes are compared with the peers' dense convolution (the peer has no sparse variant).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUB=${1:-}
THREADS=${2:-$(nproc)}
OPS=${3:-fftconv hyena}
LMF=${LMFORGE:-$ROOT/build/lmforge}
source "$ROOT/bench/peers/pythons.sh"
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT
echo "machine: $("$LMF" info | sed -n 2p | cut -c11-) | threads $THREADS | load $(cut -d' ' -f1-3 /proc/loadavg)"
first=1
for op in $OPS; do
  "$LMF" ops perf --op "$op" --shape "$SUB" --threads "$THREADS" --no-ref --json > "$TMP"
  "${PEER_PYS[0]}" - "$ROOT" "$THREADS" "$TMP" "$first" "${PEER_PYS[@]}" -- "${PEER_NAMES[@]}" <<'PYEOF'
import json, re, subprocess, sys
root, threads, path, first = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
rest = sys.argv[5:]
sep = rest.index("--")
pys, names = rest[:sep], rest[sep + 1:]
if first:
    cols = ["op", "shape", "dtype", "lmforge fwd ms", *[f"{n} fwd ms" for n in names], "speed-up fwd",
            "lmforge f+b ms", *[f"{n} f+b ms" for n in names], "speed-up f+b", "GFLOP/s f+b", "MB lmforge",
            *[f"MB {n}" for n in names]]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
for r in json.load(open(path)):
    s = r["shape"]
    if r["op"] == "fftconv":
        m = re.match(r"B(\d+)_H(\d+)_L(\d+)", s)
        args = ["conv", "--B", m[1], "--H", m[2], "--L", m[3]] + (["--gated"] if "gated" in s else [])
    else:
        m = re.match(r"B(\d+)_L(\d+)_D(\d+)", s)
        args = ["hyena", "--B", m[1], "--L", m[2], "--D", m[3]]
    ps = []
    for py in pys:
        out = subprocess.run([py, f"{root}/bench/peers/fftconv_peer.py", *args, "--dtype", r["dtype"],
                              "--threads", threads], capture_output=True, text=True, check=True).stdout
        ps.append(json.loads(out.strip().splitlines()[-1]))
    best = min(p["ms"] for p in ps)
    best_fb = min(p["ms_fb"] for p in ps)
    print(f"| {r['op']} | {s} | {r['dtype']} | {r['ms']:.1f} | " + "".join(f"{p['ms']:.1f} | " for p in ps) +
          f"{best / r['ms']:.2f}x | {r['ms_fb']:.1f} | " + "".join(f"{p['ms_fb']:.1f} | " for p in ps) +
          f"{best_fb / r['ms_fb']:.2f}x | {r['gflops_fb']:.0f} | {r['peak_mb']:.0f} | " +
          "".join(f"{p['peak_mb']:.0f} | " for p in ps), flush=True)
PYEOF
  first=0
done

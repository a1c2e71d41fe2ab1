#!/usr/bin/env bash
# FFT convolution and Hyena layer: lmforge (`lmforge ops perf`) and the PyTorch peer
# (bench/peers/fftconv_peer.py: rfft n=2L, product, irfft; safari's Hyena layer) on the same
# shapes in one run. Prints a markdown table: ms forward and forward+backward for both, the
# speed-ups (peer / lmforge: above 1 means lmforge is faster) and peak memory of one
# forward+backward (MB above the start, both measured the same way).
# Usage: bench/fftconv.sh [SHAPE_SUBSTR] [THREADS] [OPS]   e.g. bench/fftconv.sh L4096 2 "fftconv hyena"
# Sparse shapes are compared with the peer's dense convolution (the peer has no sparse variant).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUB=${1:-}
THREADS=${2:-$(nproc)}
OPS=${3:-fftconv hyena}
LMF=${LMFORGE:-$ROOT/build/lmforge}
PY=/usr/bin/python3
echo "| op | shape | dtype | lmforge fwd ms | peer fwd ms | speed-up | lmforge f+b ms | peer f+b ms | speed-up | GFLOP/s f+b | MB lmforge | MB peer | memory ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for op in $OPS; do
  "$LMF" ops perf --op "$op" --shape "$SUB" --threads "$THREADS" --json > "${TMPDIR:-/tmp}/lmf_fftconv_$$.json"
  $PY - "$ROOT" "$THREADS" "${TMPDIR:-/tmp}/lmf_fftconv_$$.json" <<'PYEOF'
import json, re, subprocess, sys
root, threads, path = sys.argv[1], sys.argv[2], sys.argv[3]
for r in json.load(open(path)):
    s = r["shape"]
    if r["op"] == "fftconv":
        m = re.match(r"B(\d+)_H(\d+)_L(\d+)", s)
        args = ["conv", "--B", m[1], "--H", m[2], "--L", m[3]] + (["--gated"] if "gated" in s else [])
    else:
        m = re.match(r"B(\d+)_L(\d+)_D(\d+)", s)
        args = ["hyena", "--B", m[1], "--L", m[2], "--D", m[3]]
    out = subprocess.run(["/usr/bin/python3", f"{root}/bench/peers/fftconv_peer.py", *args, "--dtype", r["dtype"],
                          "--threads", threads], capture_output=True, text=True, check=True).stdout
    p = json.loads(out.strip().splitlines()[-1])
    print(f"| {r['op']} | {s} | {r['dtype']} | {r['ms']:.1f} | {p['ms']:.1f} | {p['ms'] / r['ms']:.2f}x | "
          f"{r['ms_fb']:.1f} | {p['ms_fb']:.1f} | {p['ms_fb'] / r['ms_fb']:.2f}x | {r['gflops_fb']:.0f} | "
          f"{r['peak_mb']:.0f} | {p['peak_mb']:.0f} | {p['peak_mb'] / max(r['peak_mb'], 1e-9):.1f}x |", flush=True)
PYEOF
done
rm -f "${TMPDIR:-/tmp}/lmf_fftconv_$$.json"

#!/usr/bin/env bash
# bench/ddp.sh: data parallel on one machine. Tokens/s of `--nproc 2 --threads 1` against
# `--nproc 1 --threads 2` (the same cores, the same global batch, the same steps), and the bytes
# all-reduced per step, for the wt103-small model shape (4 layers, width 256, seq 128, global
# batch 16) on generated MQAR sequences of vocabulary 4096 (no data files needed), bf16 and fp32.
#
# Usage: bench/ddp.sh            (STEPS=40 BIN=build/lmforge OUT=runs/bench-ddp to change)
# tokens/s is the mean of the log records after the first (start-up, first allocations).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/lmforge}
STEPS=${STEPS:-40}
OUT=${OUT:-runs/bench-ddp}
rm -rf "$OUT"
mkdir -p "$OUT"
common=(-c wt103-small --set 'data.task="mqar"' --set data.mqar.vocab_size=4096 --set data.mqar.seq_len=128
        --set data.mqar.num_kv_pairs=16 --set model.dropout=0.0 --set train.steps="$STEPS" --set train.log_every=10
        --set train.eval_every=0 --set train.eval_batches=1 --set train.max_minutes=0 -q)

echo "machine: $($BIN info 2>&1 | head -6 | tr '\n' ' ')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| precision | processes x threads | tokens/s | ms/step | bytes all-reduced / step | buckets | ms waiting for them / step |"
echo "|---|---|---:|---:|---:|---:|---:|"
# The third setup: 2 x 1 with 4 MiB buckets (several all-reduces launched during backward, vs one
# 25 MiB bucket that can only start when backward ends).
for precision in bf16 fp32; do
  for setup in "1 2 25" "2 1 25" "2 1 4"; do
    read -r nproc threads mb <<<"$setup"
    run="$OUT/$precision-${nproc}x$threads-$mb"
    "$BIN" train "${common[@]}" --set train.precision="\"$precision\"" --set train.ddp_bucket_mb="$mb" \
      --nproc "$nproc" --threads "$threads" --out "$run" >/dev/null 2>&1
    python3 - "$run/log.jsonl" "$precision" "$nproc" "$threads" "$mb" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"train"' in l]
recs = [r for r in recs if r["type"] == "train"][1:]
tps = sum(r["tokens_per_s"] for r in recs) / len(recs)
ms = sum(r["ms_per_step"] for r in recs) / len(recs)
b = recs[-1].get("ddp_bytes_per_step", 0)
nb = recs[-1].get("ddp_buckets", 0)
ov = recs[-1].get("ddp_buckets_overlapped", 0)
wait = sum(r.get("ddp_wait_ms", 0) for r in recs) / len(recs)
ddp = f"{b:,} | {nb} ({ov} during backward) | {wait:.1f}" if b else "- | - | -"
print(f"| {sys.argv[2]} | {sys.argv[3]} x {sys.argv[4]} | {tps:,.0f} | {ms:.1f} | {ddp} |")
PY
  done
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

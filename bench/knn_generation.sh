#!/usr/bin/env bash
# kNN-LM during generation ("kNN-LM Does Not Improve Open-ended Text Generation", Wang et al. 2023):
# N prompts (the first words of the first N article lines of a text file, e.g. WikiText-103 valid),
# each continued by `lmforge generate --knn ... --knn-analysis` with nucleus sampling; prints, per
# position bucket of the generated text, the mean entropy of p_kNN (retrieval), p_LM and the mixture,
# and the mean distance to the nearest key, averaged over prompts. docs/retrieval.md.
# Usage: bench/knn_generation.sh RUN DATASTORE OUT_DIR [prompts=20] [new_tokens=100] [lambda=0.25] [T=10]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=$1; DS=$2; OUT=$3; N=${4:-20}; NEW=${5:-100}; LAMBDA=${6:-0.25}; TEMP=${7:-10}
LMF=${LMFORGE:-$ROOT/build/lmforge}
TXT=${TEXT:-$ROOT/../shared/data/wikitext-103/wiki.valid.tokens}
mkdir -p "$OUT"
# Article body lines (not headings, not empty), their first 20 words.
awk -v n="$N" '!/^ *=/ && NF > 40 { p = $1; for (i = 2; i <= 20; i++) p = p " " $i; print " " p; if (++c >= n) exit }' \
  "$TXT" > "$OUT/prompts.txt"
i=0
while IFS= read -r prompt; do
  "$LMF" generate --checkpoint "$RUN" --prompt "$prompt" --max-new "$NEW" --temperature 1 --top-p 0.9 \
    --seed "$i" --threads 1 --knn "$DS" --knn-lambda "$LAMBDA" --knn-temperature "$TEMP" \
    --knn-analysis "$OUT/gen-$i.json" --json > "$OUT/text-$i.json"
  i=$((i + 1))
done < "$OUT/prompts.txt"
/usr/bin/python3 - "$OUT" "$i" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
runs = [json.load(open(f"{out}/gen-{i}.json")) for i in range(n)]
steps = max(r["steps"] for r in runs)
print(f"{n} prompts, lambda {runs[0]['lambda']}, T {runs[0]['temperature']}")
print("| generated tokens | entropy p_kNN | entropy p_LM | entropy mixture | nearest key distance |")
print("|---|---|---|---|---|")
for lo in range(0, steps, 20):
    vals = {k: [] for k in ("entropy_knn", "entropy_lm", "entropy_mix", "nearest_distance")}
    for r in runs:
        for k in vals:
            vals[k] += r[k][lo:lo + 20]
    m = {k: sum(v) / len(v) for k, v in vals.items() if v}
    print(f"| {lo + 1}-{lo + 20} | {m['entropy_knn']:.3f} | {m['entropy_lm']:.3f} | {m['entropy_mix']:.3f} | {m['nearest_distance']:.1f} |")
PY

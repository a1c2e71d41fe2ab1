#!/usr/bin/env bash
# The small-scale GLUE experiment of docs/benchmarks/glue.md: MLM-pretrain a BERT-mini-sized encoder
# with MosaicBERT's recipe and with plain BERT's recipe at the same wall-clock budget (each with the
# same threads, run one after the other), then fine-tune both on GLUE tasks and score the dev sets.
# Usage: bench/glue_experiment.sh [OUT_DIR] [PRETRAIN_MINUTES] [TASKS...]
set -euo pipefail
OUT=${1:-/tmp/lmforge-glue-exp}
MIN=${2:-10}
shift 2 || true
TASKS=${*:-SST-2 RTE MRPC STS-B CoLA WNLI}
BIN=${LMFORGE:-$(dirname "$0")/../build/lmforge}
G=${GLUE:-$(dirname "$0")/../../shared/data/glue}
W=${WIKI:-$(dirname "$0")/../../shared/data/wikitext-103}
mkdir -p "$OUT"
# Pretraining text: the WikiText-103 train prefix + the GLUE training texts (no dev/test text).
if [ ! -s "$OUT/corpus.txt" ]; then
  { cat "$W/wiki.train.prefix.tokens"
    tail -n +2 "$G/SST-2/train.tsv" | cut -f1
    cut -f4 "$G/CoLA/train.tsv"
    tail -n +2 "$G/MRPC/train.tsv" | cut -f4,5 | tr '\t' '\n'
    tail -n +2 "$G/STS-B/train.tsv" | cut -f8,9 | tr '\t' '\n'
    tail -n +2 "$G/RTE/train.tsv" | cut -f2,3 | tr '\t' '\n'
    tail -n +2 "$G/WNLI/train.tsv" | cut -f2,3 | tr '\t' '\n'; } > "$OUT/corpus.txt"
fi
for recipe in mosaicbert-tiny bert-tiny; do
  [ -f "$OUT/$recipe/metrics.json" ] && continue
  "$BIN" pretrain -c "$recipe" --set data.train="$OUT/corpus.txt" --set train.max_minutes="$MIN" \
    --set train.steps=100000 --set train.eval_every=100000 --out "$OUT/$recipe" 2>&1 | tee "$OUT/$recipe.pretrain.log" | grep -E "step [0-9]+0/|eval|param" || true
done
for recipe in mosaicbert-tiny bert-tiny; do
  for t in $TASKS; do
    "$BIN" glue --task "$t" --checkpoint "$OUT/$recipe" --data "$G" --json ${GLUE_ARGS:-} > "$OUT/$recipe.$t.json" 2> "$OUT/$recipe.$t.log" || echo "$recipe $t failed"
    echo "$recipe $t: $(tr -d '\n ' < "$OUT/$recipe.$t.json" | head -c 300)"
  done
done

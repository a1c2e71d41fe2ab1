#!/usr/bin/env bash
# The small-scale GLUE experiment of docs/benchmarks/glue.md: MLM-pretrain a BERT-mini-sized encoder
# with MosaicBERT's recipe and with plain BERT's recipe at the same wall-clock budget (one thread
# each, side by side), then fine-tune both on GLUE tasks and score the dev sets.
# Usage: bench/glue_experiment.sh [OUT_DIR] [PRETRAIN_MINUTES] [TASKS...]
set -euo pipefail
OUT=${1:-/tmp/lmforge-glue-exp}
MIN=${2:-8}
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
  # The settings of docs/benchmarks/glue.md (2 layers, d 128, seq 64, batch 32, 300 steps or MIN minutes).
  extra=""; [ "$recipe" = mosaicbert-tiny ] && extra="--set model.block.glu.hidden=341"
  "$BIN" pretrain -c "$recipe" --set data.train="$OUT/corpus.txt" --set data.cache_dir="$OUT/cache" --set run.threads=1 \
    --set model.d_model=128 --set model.n_layers=2 --set model.block.attention.n_heads=2 --set train.seq_len=64 \
    --set train.batch_size=32 --set train.steps=300 --set train.warmup_steps=20 --set train.max_minutes="$MIN" \
    --set train.log_every=10 --set train.eval_every=100000 --set train.eval_batches=4 $extra \
    --out "$OUT/$recipe" > "$OUT/$recipe.log" 2>&1 &
done
wait
for recipe in mosaicbert-tiny bert-tiny; do
  for t in $TASKS; do
    "$BIN" glue --task "$t" --checkpoint "$OUT/$recipe" --data "$G" --json ${GLUE_ARGS:-} > "$OUT/$recipe.$t.json" 2> "$OUT/$recipe.$t.log" || echo "$recipe $t failed"
    echo "$recipe $t: $(tr -d '\n ' < "$OUT/$recipe.$t.json" | head -c 300)"
  done
done

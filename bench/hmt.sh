#!/usr/bin/env bash
# bench/hmt.sh [OUT]: HMT's cheapest experiment (../shared/specs/architectures.md section 9) on PG-19
# books: a small decoder whose context is one 64-token segment, trained three ways on the same time
# budget on three books (Dracula, Sherlock Holmes, Moby Dick), scored on a fourth (Alice) that no
# run saw:
#   backbone  the plain decoder (seq_len 64), scored with a sliding window of 64 tokens (stride 32)
#   rmt       model.hmt with recall = false (memory token carried, sensory tokens), BPTT 4 segments
#   hmt       model.hmt with recall over 32 cached memories, BPTT 4 segments
# Each reports word perplexity (eval-lm: HMT models read the book once, segment by segment) and
# eval tokens/s. Environment: LMFORGE, DATA (../shared/data), MINUTES (5 per run), THREADS (1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${1:-runs/hmt}
LMF=${LMFORGE:-build/lmforge}
DATA=${DATA:-../shared/data}
MINUTES=${MINUTES:-5} THREADS=${THREADS:-1}
BOOKS=$DATA/pg19/books
[[ -f $BOOKS/pg11.txt ]] || { echo "hmt.sh: $BOOKS is missing (../shared/data)"; exit 1; }
mkdir -p "$OUT"
cat "$BOOKS/pg345.txt" "$BOOKS/pg1661.txt" "$BOOKS/pg2701.txt" > "$OUT/train.txt"
TEST=$BOOKS/pg11.txt
common=(--threads "$THREADS" -c wt103-small --set data.train="$(realpath "$OUT/train.txt")" --set data.valid="$(realpath "$TEST")"
        --set model.d_model=128 --set model.n_layers=4 --set model.max_seq_len=80 --set model.dropout=0.0
        --set model.block.attention.n_heads=4 --set train.max_minutes="$MINUTES" --set train.steps=100000
        --set train.batch_size=8 --set train.warmup_steps=100 --set train.eval_every=1000000 --set train.eval_batches=8
        --set data.tokenizer.vocab_size=4096)
hmt=(--set model.hmt.enabled=true --set model.hmt.segment_len=64 --set model.hmt.sensory=8 --set model.hmt.cache=32
     --set model.hmt.recall_dim=128 --set train.seq_len=256)
train() {  # name, extra args...
  local name=$1; shift
  [[ -f $OUT/$name/metrics.json ]] && return 0
  rm -rf "${OUT:?}/$name"
  [[ -d $OUT/tokenizer ]] && mkdir -p "$OUT/$name" && cp -r "$OUT/tokenizer" "$OUT/$name/"
  $LMF train -q "${common[@]}" "$@" --out "$OUT/$name" > "$OUT/$name.train.log" 2>&1
  [[ -d $OUT/tokenizer ]] || cp -r "$OUT/$name/tokenizer" "$OUT/tokenizer"
}
train backbone --set train.seq_len=64
train rmt "${hmt[@]}" --set model.hmt.recall=false
train hmt "${hmt[@]}"
for m in backbone rmt hmt; do
  start=$(date +%s.%N)
  $LMF eval-lm --threads "$THREADS" --checkpoint "$OUT/$m" --data "$TEST" --context 64 --stride 32 --json > "$OUT/$m.eval.json"
  end=$(date +%s.%N)
  python3 - "$OUT" "$m" "$start" "$end" <<'PY'
import json, sys
out, m, t0, t1 = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
t = open(f"{out}/{m}.eval.json").read(); e = json.loads(t[t.index('{'):])
mt = json.load(open(f"{out}/{m}/metrics.json"))
print(f"| {m} | {mt['step']} | {mt['parameters']} | {e['word_ppl']:.2f} | {e['token_ppl']:.2f} | {e['tokens'] / (t1 - t0):.0f} |")
PY
done

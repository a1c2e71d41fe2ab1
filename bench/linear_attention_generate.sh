#!/usr/bin/env bash
# Generation speed, Hedgehog linear attention (recurrent state, O(1) per token) vs softmax attention
# (KV cache, O(context) per token): the same byte-level 4-layer d=256 4-head decoder (1 training
# step: speed only), an 8K-token prompt, N new tokens (greedy), 1 thread. Prints tokens/s (wall, as
# `lmforge generate` reports it, prompt included) and the process's CPU seconds (user+sys: robust
# on a shared machine).
# Usage: bench/linear_attention_generate.sh WORK_DIR [new_tokens]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$1; NEW=${2:-1024}
LMF=${LMFORGE:-$ROOT/build/lmforge}
TXT=${TEXT:-$ROOT/../shared/data/wikitext-2/wiki.valid.tokens}
mkdir -p "$OUT"
COMMON=(-c gpt-tiny --set data.task=lm --set data.train=$TXT --set data.valid=$TXT --set data.tokenizer.kind=byte
        --set model.d_model=256 --set model.n_layers=4 --set model.max_seq_len=10240 --set train.steps=1
        --set train.eval_batches=1 --set run.threads=1 -q)
[ -d "$OUT/softmax" ] || "$LMF" train "${COMMON[@]}" --out "$OUT/softmax" > /dev/null
[ -d "$OUT/hedgehog" ] || "$LMF" train "${COMMON[@]}" --set model.block.mixer=linear_attention \
  --set model.block.linear_attention.n_heads=4 --set model.block.linear_attention.feature_map=hedgehog \
  --out "$OUT/hedgehog" > /dev/null
PROMPT=$(head -c 8192 "$TXT" | tr -d '\0')
for m in softmax hedgehog; do
  /usr/bin/time -f "%U %S" -o "$OUT/$m.time" "$LMF" generate --checkpoint "$OUT/$m" --prompt "$PROMPT" \
    --max-new "$NEW" --threads 1 --json > "$OUT/$m.json"
  /usr/bin/python3 -c "import json; j=json.load(open('$OUT/$m.json')); u,s=open('$OUT/$m.time').read().split()[-2:]; print(f\"| $m | {j['prompt_tokens']} | {j['new_tokens']} | {j['tokens_per_s']:.1f} | {float(u)+float(s):.1f} |\")"
done

#!/usr/bin/env bash
# Small-scale quality comparisons on the WikiText-103 0.5M-word prefix (configs/wt103-small.toml,
# shrunk to d_model 64, 2 layers, seq 128, batch 8, 1 thread: see BASE below): local-only vs local+routing heads,
# dense vs Monarch vs Sparse-Wide (50%, 75%, RigL) feed-forwards, SMoE vs MomentumSMoE (heavy ball,
# Adam), LayerNorm vs PowerNorm vs BatchNorm. Same seed, same steps, same data order for each pair.
# Prints one line per run: name, validation perplexity (token level, train.eval_batches batches of
# the validation file), tokens/s. A minute or two per run on an idle core: small-scale only.
# With SEEDS="1234 1 2" every variant runs once per seed (OUTDIR/NAME.sSEED) and a last table gives
# the mean and standard deviation of the perplexity over the seeds.
# Usage: [SEEDS="1234 1 2"] [JOBS=1] bench/sparse_quality.sh [steps] [outdir] [all|routing|ffn|moe|norm]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STEPS=${1:-300}
OUTDIR=${2:-$(mktemp -d)}
SEEDS=${SEEDS:-1234}
JOBS=${JOBS:-1}
RIGL=(--set model.block.sparse_mlp.mask=\"rigl\" --set model.block.sparse_mlp.rigl_every=$((STEPS / 12 > 0 ? STEPS / 12 : 1))
      --set model.block.sparse_mlp.rigl_end_step=$((STEPS * 3 / 4)))
mkdir -p "$OUTDIR"
LMF=${LMFORGE:-$ROOT/build/lmforge}
DATA=${LMFORGE_SHARED_DATA_DIR:-$ROOT/../shared/data}
BASE=(-c wt103-small --data "$DATA" --set run.threads=1 --set train.steps=$STEPS --set train.max_minutes=0
      --set train.eval_every=$STEPS --set train.eval_batches=16 --set train.log_every=20 --set train.batch_size=8
      --set train.seq_len=128 --set model.max_seq_len=128 --set model.d_model=64 --set model.n_layers=2
      --set model.dropout=0.0 --set train.warmup_steps=20)
NAMES=()
run() {  # name, overrides: one run per seed, JOBS at a time
  local name=$1; shift
  NAMES+=("$name")
  for seed in $SEEDS; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    run_one "$name" "$seed" "$@" &
  done
}
run_one() {
  local name=$1 seed=$2; shift 2
  local dir="$OUTDIR/$name"; [ "$SEEDS" = 1234 ] || dir="$OUTDIR/$name.s$seed"
  rm -rf "$dir"
  "$LMF" train "${BASE[@]}" --set run.seed=$seed "$@" --out "$dir" -q > "$dir.log" 2>&1 || { echo "$name seed $seed FAILED"; tail -3 "$dir.log"; return; }
  /usr/bin/python3 - "$name seed $seed" "$dir" <<'PYEOF'
import json, sys
name, d = sys.argv[1], sys.argv[2]
m = json.load(open(d + "/metrics.json"))
tps = [json.loads(l).get("tokens_per_s") for l in open(d + "/log.jsonl") if '"train"' in l]
tps = [t for t in tps if t]
print(f"{name}: valid_ppl {m.get('valid_ppl', float('nan')):.2f}  steps {m['step']}  "
      f"tokens/s {sorted(tps)[len(tps) // 2] if tps else 0:.0f}  train_s {m['train_seconds']:.0f}")
PYEOF
}
case "${3:-all}" in
  routing|all)
    run local4 --set model.block.mixer=routing --set 'model.block.routing={n_heads=4,n_routing_heads=0,window=16}'
    run local2_routing2 --set model.block.mixer=routing --set 'model.block.routing={n_heads=4,n_routing_heads=2,window=16,n_clusters=4}'
    ;;&
  ffn|all)
    run mlp
    run monarch --set model.block.ffn=monarch_mlp
    run wide50_rigl --set model.block.ffn=sparse_mlp --set model.block.sparse_mlp.sparsity=0.5 "${RIGL[@]}"
    run wide75_rigl --set model.block.ffn=sparse_mlp --set model.block.sparse_mlp.sparsity=0.75 "${RIGL[@]}"
    ;;&
  moe|all)
    run smoe --set model.block.ffn=moe --set 'model.block.moe={n_experts=8,top_k=2,hidden=128}'
    run momentum_smoe --set model.block.ffn=moe --set 'model.block.moe={n_experts=8,top_k=2,hidden=128,momentum="heavy_ball",mu=0.7}'
    run adam_smoe --set model.block.ffn=moe --set 'model.block.moe={n_experts=8,top_k=2,hidden=128,momentum="adam",mu=0.7}'
    ;;&
  norm|all)
    [ "${3:-all}" = all ] || run layernorm --set model.block.norm=layernorm  # = mlp in 'all'
    run powernorm --set model.block.norm=powernorm --set 'model.block.powernorm={warmup=20,groups=4}'
    run batchnorm --set model.block.norm=batchnorm
    ;;
esac
wait
[ "$SEEDS" = 1234 ] && exit 0
/usr/bin/python3 - "$OUTDIR" "$SEEDS" "${NAMES[@]}" <<'PYEOF'
import json, statistics, sys
out, seeds, names = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
print(f"| run | valid ppl, mean +- sd over {len(seeds)} seeds | per seed ({', '.join(seeds)}) | median tokens/s |")
print("|---|---|---|---|")
for n in names:
    ppl, tps = [], []
    for s in seeds:
        try:
            m = json.load(open(f"{out}/{n}.s{s}/metrics.json"))
        except OSError:
            continue
        ppl.append(m["valid_ppl"])
        t = sorted(json.loads(l)["tokens_per_s"] for l in open(f"{out}/{n}.s{s}/log.jsonl") if '"train"' in l)
        tps.append(t[len(t) // 2])
    if not ppl:
        print(f"| {n} | not run | | |"); continue
    sd = statistics.stdev(ppl) if len(ppl) > 1 else float("nan")
    print(f"| {n} | {statistics.mean(ppl):.1f} +- {sd:.1f} | {' / '.join(f'{p:.1f}' for p in ppl)} | {statistics.median(tps):.0f} |")
PYEOF

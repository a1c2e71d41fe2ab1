#!/usr/bin/env bash
# bench/serve_load.sh RUN TEXT [CLIENTS...]: `lmforge serve` under load against `lmforge eval-lm` on
# the same text. Starts the server on a free port, runs bench/serve_load.py with each client count
# (scoring requests: echo, max_tokens 0, logprobs 1, one line each), then eval-lm on the first 200
# lines of TEXT (disjoint 256-token windows, wall time including the model load) for the same
# model's offline scoring speed; prints JSON lines. Nothing is asserted.
set -euo pipefail
RUN=$1 TEXT=$2; shift 2
CLIENTS=("${@:-1 8}")
BIN=${BIN:-build/lmforge}
SECONDS_EACH=${SECONDS_EACH:-20}
LOG=$(mktemp)
"$BIN" serve --checkpoint "$RUN" --port 0 --max-batch 8 >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$LOG" && break; sleep 0.2; done
URL=$(grep -o "http://127.0.0.1:[0-9]*" "$LOG" | head -1)
[[ -n $URL ]] || { cat "$LOG"; exit 1; }
echo "{\"server\": \"$URL\", \"run\": \"$RUN\", \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\"}"
for c in ${CLIENTS[@]}; do python3 bench/serve_load.py --url "$URL" --file "$TEXT" --clients "$c" --seconds "$SECONDS_EACH"; done
kill -INT $PID; wait $PID || true
head -200 "$TEXT" >"$LOG.txt"
T0=$(date +%s.%N)
OUT=$("$BIN" eval-lm --checkpoint "$RUN" --data "$LOG.txt" --context 256 --stride 256 --json)
T1=$(date +%s.%N)
python3 -c '
import json, sys; t = sys.argv[1]; j = json.loads(t[t.find("{"):]); s = float(sys.argv[3]) - float(sys.argv[2])
print(json.dumps({"eval_lm_tokens": j["tokens"], "eval_lm_wall_s": round(s, 2), "eval_lm_tokens_per_s": round(j["tokens"] / s, 1)}))' "$OUT" "$T0" "$T1"
rm -f "$LOG.txt"

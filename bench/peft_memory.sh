#!/usr/bin/env bash
# Activation memory of one fine-tuning step on a pretrained encoder: full FT vs LoRA vs MEFT1/2/3,
# against sequence length (bench/cpu_time/peft_memory.cpp; one process per configuration).
# Usage: bench/peft_memory.sh [RUN_DIR=/work/runs/minilm] [BATCH=8] [LENGTHS="128 256 512 1024"]
# (lengths past the run's positions use fresh weights of the same shape; see peft_memory.cpp)
set -euo pipefail
RUN=${1:-/work/runs/minilm}
BATCH=${2:-8}
LENGTHS=${3:-"128 256 512 1024"}
B=${BUILD_DIR:-build}
BIN=/tmp/peft_memory
bench/cpu_time/build.sh bench/cpu_time/peft_memory.cpp $BIN "$B"
uptime
for L in $LENGTHS; do
  for M in full lora meft1 meft2 meft3; do $BIN "$RUN" $M $L $BATCH; done
done

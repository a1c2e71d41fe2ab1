#!/usr/bin/env bash
# scripts/run.sh: setup + build + the quick benchmark suite: what a newcomer runs first.
#
# The `start` suite: one small MQAR model per registered mixer, then attention vs Hyena on the
# WikiText-103 prefix when ../shared/data is there (about 5 minutes on 2 cores); it ends by printing
# where its HTML report is, whose "What the results show" section reads the numbers.
# Usage: scripts/run.sh [--no-apt] [extra arguments for `lmforge bench`]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SETUP_ARGS=()
if [[ ${1:-} == --no-apt ]]; then SETUP_ARGS+=(--no-apt); shift; fi

scripts/setup.sh "${SETUP_ARGS[@]}"
scripts/build.sh

BIN=${BUILD_DIR:-build}/lmforge
# ATen's own kernels are 5-9% faster with AVX-512 than with its default AVX2 (docs: DESIGN.md).
if [[ -z ${ATEN_CPU_CAPABILITY:-} ]] && grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
  export ATEN_CPU_CAPABILITY=avx512
fi
exec "$BIN" bench --suite start "$@"

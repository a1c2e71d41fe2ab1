#!/usr/bin/env bash
# scripts/run.sh: setup + build + the quick benchmark suite: what a newcomer runs first.
#
# Until the `bench` subcommand exists it prints `lmforge --help` instead.
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
# (The help text is captured first: `grep -q` closing the pipe early would fail it under pipefail.)
HELP=$("$BIN" --help 2>/dev/null || true)
if grep -qw bench <<<"$HELP"; then
  exec "$BIN" bench --suite quick "$@"
else
  echo "run: 'lmforge bench' does not exist yet; showing lmforge --help"
  exec "$BIN" --help
fi

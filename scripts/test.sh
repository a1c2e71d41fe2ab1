#!/usr/bin/env bash
# scripts/test.sh: setup + build + every test through ctest. The command CI runs (.ci/run).
#
# Exits non-zero when any step or any test fails, or when ctest finds no test at all.
# Usage: scripts/test.sh [--no-apt] [-- extra ctest args, e.g. -R Blas]
# Environment: TEST_TIMEOUT (seconds per test, default 600), JOBS (default 2), LMFORGE_NO_PEERS=1
# (skip scripts/setup-peers.sh --light), LMFORGE_PEERS (its folder), and build.sh's.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SETUP_ARGS=()
CTEST_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-apt) SETUP_ARGS+=(--no-apt); shift ;;
    --) shift; CTEST_ARGS=("$@"); break ;;
    *) echo "test.sh: unknown option '$1' (expected --no-apt, or -- followed by ctest args)" >&2; exit 2 ;;
  esac
done

scripts/setup.sh "${SETUP_ARGS[@]}"
# The light reference packages (tokenizers, safetensors, tensorboard, rouge-score) for the oracle
# tests; a failure (no network) only makes those tests skip.
if [[ ${LMFORGE_NO_PEERS:-0} != 1 ]]; then
  start=$SECONDS
  scripts/setup-peers.sh --light || echo "test: warning: the peers environment could not be made; its oracle tests will skip"
  echo "test: peers environment took $((SECONDS - start)) s"
fi
scripts/build.sh

echo "test: ctest"
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure --no-tests=error \
  -j "${JOBS:-2}" --timeout "${TEST_TIMEOUT:-600}" "${CTEST_ARGS[@]}"

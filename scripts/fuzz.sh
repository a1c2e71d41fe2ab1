#!/usr/bin/env bash
# scripts/fuzz.sh: builds the libFuzzer targets of fuzz/ into build-fuzz/ (clang-14, ASan + UBSan,
# ccache) and runs each for a fixed time, one after the other (docs/fuzzing.md).
#
# Usage: scripts/fuzz.sh [target...]          (default: every fuzz/*_fuzz.cpp)
# Environment (all optional):
#   FUZZ_SECONDS  seconds per target (default: 120)      FUZZ_RUNS  stop after this many runs instead
#   FUZZ_DIR      build folder (default: build-fuzz)     JOBS       compile jobs (default: 2)
#   CXX           the clang (default: clang++-14)        BUILD_ONLY=1  build, do not run
# Per target it prints executions, exec/s, corpus size and libFuzzer's final cov/ft; crash, leak,
# timeout and out-of-memory inputs are kept in $FUZZ_DIR/findings/<target>/ and the script exits 1
# when any target found one. The growing corpus lives in $FUZZ_DIR/corpus/<target>/ (seeded from
# fuzz/corpus/<target>/, which only holds the hand-written seeds).
# Needs clang-14 and libclang-rt-14-dev (libFuzzer): only for fuzzing, so scripts/setup.sh leaves
# them out; on Debian: apt-get install clang-14 libclang-rt-14-dev.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
FUZZ_DIR=$(realpath -m "${FUZZ_DIR:-build-fuzz}")
FUZZ_SECONDS=${FUZZ_SECONDS:-120}
JOBS=${JOBS:-2}
CXX_BIN=${CXX:-clang++-14}

if ! command -v "$CXX_BIN" >/dev/null 2>&1; then
  echo "fuzz: $CXX_BIN not found; install it with: apt-get install clang-14 libclang-rt-14-dev" >&2
  exit 2
fi
RESOURCE_DIR=$("$CXX_BIN" -print-resource-dir)
if ! ls "$RESOURCE_DIR"/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz: libFuzzer is missing ($RESOURCE_DIR/lib/linux/libclang_rt.fuzzer-x86_64.a);" \
       "install it with: apt-get install libclang-rt-14-dev" >&2
  exit 2
fi

# Same ccache settings as scripts/build.sh, so worktrees share hits.
export CCACHE_DIR=${CCACHE_DIR:-${HOME:-/root}/.cache/ccache}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$ROOT}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

echo "fuzz: configure and build $FUZZ_DIR with $CXX_BIN (-j$JOBS)"
cmake -S . -B "$FUZZ_DIR" -G Ninja -DLMFORGE_FUZZ=ON -DCMAKE_CXX_COMPILER="$CXX_BIN" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$FUZZ_DIR" -j "$JOBS"
[[ ${BUILD_ONLY:-0} == 1 ]] && exit 0

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  targets=()
  for f in fuzz/*_fuzz.cpp; do targets+=("$(basename "$f" .cpp | sed 's/_fuzz$//')"); done
fi

# Largest input per target: big enough for the seeds (tokenizer.json seeds are ~14 KB).
max_len() {
  case $1 in
    hf_tokenizer) echo 16384 ;;
    sentencepiece_model) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

# UBSan reports abort (-fno-sanitize-recover); ASan checks that no allocation exceeds what
# -rss_limit_mb allows per call (-malloc_limit_mb defaults to it).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
summary=()
for t in "${targets[@]}"; do
  bin=$FUZZ_DIR/fuzz/${t}_fuzz
  [[ -x $bin ]] || { echo "fuzz: no target $t ($bin)" >&2; exit 2; }
  corpus=$FUZZ_DIR/corpus/$t
  findings=$FUZZ_DIR/findings/$t
  log=$FUZZ_DIR/logs/$t.log
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  limit=(-max_total_time="$FUZZ_SECONDS")
  what="$FUZZ_SECONDS s"
  if [[ -n ${FUZZ_RUNS:-} ]]; then limit=(-runs="$FUZZ_RUNS"); what="$FUZZ_RUNS runs"; fi
  echo "fuzz: $t ($what) -> $log"
  stamp=$FUZZ_DIR/logs/$t.start
  touch "$stamp"
  rc=0
  # -jobs=1: one fuzzing process; libFuzzer then runs it as a child that writes fuzz-0.log in the
  # working directory (copied into $log at the end), hence the cd.
  (cd "$FUZZ_DIR/logs" && "$bin" "${limit[@]}" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
    -jobs=1 -workers=1 -print_final_stats=1 -artifact_prefix="$findings/" "$corpus" "$ROOT/fuzz/corpus/$t") \
    >"$log" 2>&1 || rc=$?
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  speed=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
  files=$(find "$corpus" -type f | wc -l)
  found=$(find "$findings" -type f -newer "$stamp" | wc -l)  # this run's; older ones stay as a record
  line=$(printf '%-20s execs %-10s exec/s %-6s corpus %-5s cov %-5s ft %-6s findings %s' \
    "$t" "${execs:-?}" "${speed:-?}" "$files" "${cov:-?}" "${ft:-?}" "$found")
  echo "fuzz: $line"
  summary+=("$line")
  if [[ $rc -ne 0 || $found -gt 0 ]]; then
    status=1
    echo "fuzz: $t FAILED (exit $rc); inputs in $findings/, log $log:" >&2
    grep -E 'ERROR|SUMMARY|runtime error|terminate|deadly' "$log" | head -5 >&2 || true
  fi
done
echo "fuzz: summary"
printf '  %s\n' "${summary[@]}"
exit $status

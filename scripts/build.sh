#!/usr/bin/env bash
# scripts/build.sh: configures and builds lmforge into build/ (Ninja, Release, ccache).
#
# Why a script: the same flags for every developer and CI, and ccache settings that let the
# precompiled header (src/lmforge/pch.h, ~10 s per TU without it) be cached at all.
#
# Usage: scripts/build.sh [extra cmake -D options...]
# Environment (all optional):
#   BUILD_DIR   build folder (default: build)        BUILD_TYPE  CMake build type (default: Release)
#   JOBS        parallel compile jobs (default: 2; the machines have 2 cores and ~1 GB per torch TU)
#   CCACHE_DIR  ccache folder (default: ~/.cache/ccache)
#   TARGETS     targets to build (default: all)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-Release}
JOBS=${JOBS:-2}

# ccache: a PCH is only cacheable with these sloppiness settings (ccache manual, "Precompiled
# headers"); CMake passes the PCH with -include, which ccache supports. Absolute paths under the
# repository are rewritten relative to it (CCACHE_BASEDIR), so worktrees share hits.
export CCACHE_DIR=${CCACHE_DIR:-${HOME:-/root}/.cache/ccache}
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$ROOT}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
mkdir -p "$CCACHE_DIR"

# A build folder made with another generator (e.g. Unix Makefiles) cannot be reused by Ninja.
if [[ -f $BUILD_DIR/CMakeCache.txt ]] &&
   ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$BUILD_DIR/CMakeCache.txt"; then
  echo "build: $BUILD_DIR was configured with another generator; removing it"
  rm -rf "$BUILD_DIR"
fi

echo "build: configure ($BUILD_TYPE) in $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@"

echo "build: compile with -j$JOBS"
start=$(date +%s)
if [[ -n ${TARGETS:-} ]]; then
  # shellcheck disable=SC2086
  cmake --build "$BUILD_DIR" -j "$JOBS" --target $TARGETS
else
  cmake --build "$BUILD_DIR" -j "$JOBS"
fi
echo "build: done in $(( $(date +%s) - start )) s"
if command -v ccache >/dev/null 2>&1; then
  ccache --show-stats 2>/dev/null | grep -E 'Hits|Misses|Cache size' | sed 's/^/build: ccache /' || true
fi

#!/usr/bin/env bash
# Builds one bench/cpu_time/*.cpp program against the engine's object files of a build folder
# (they are not part of the CMake build). Run from the repository root.
# Usage: bench/cpu_time/build.sh SOURCE OUTPUT [BUILD_DIR=build]
set -euo pipefail
SRC=${1:?usage: bench/cpu_time/build.sh SOURCE OUTPUT [BUILD_DIR]}
OUT=${2:?usage: bench/cpu_time/build.sh SOURCE OUTPUT [BUILD_DIR]}
B=${3:-build}
g++ -O2 -fopenmp -std=c++17 -Isrc -isystem /usr/include/torch/csrc/api/include \
  "$SRC" $(find "$B/CMakeFiles/lmforge_obj.dir" -name '*.o' | grep -v cli/main.cpp.o) \
  -o "$OUT" -ltorch -ltorch_cpu -lc10 -lprotobuf -lglog -lgflags -ltomlplusplus -lpthread \
  $(grep -A8 "build lmforge:" "$B/build.ninja" | grep LINK_LIBRARIES | sed 's/.*libtomlplusplus.so//')

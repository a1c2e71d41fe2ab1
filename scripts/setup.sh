#!/usr/bin/env bash
# scripts/setup.sh: installs what lmforge needs on Debian 12 and selects the fast BLAS.
#
# Why: a new machine (a developer's or CI's) has none of LibTorch, OpenBLAS or the header-only
# libraries; and Debian's libtorch runs fp32 matmul on the reference BLAS (30x slower) unless
# OpenBLAS-openmp is selected through update-alternatives. Everything this project needs on a
# machine must be installed by this script, never by hand.
#
# Idempotent and non-interactive: `apt-get update` and `apt-get install` run only when a package is
# missing; the alternatives are set only when they point elsewhere. A second run changes nothing.
# Needs root (or sudo) only when something has to change.
#
# Usage: scripts/setup.sh [--no-apt] [--quiet]
#   --no-apt   do not install packages (they are known to be present); still checks and sets BLAS
#   --quiet    print only what changed and errors
set -euo pipefail

NO_APT=0
QUIET=0
for arg in "$@"; do
  case "$arg" in
    --no-apt) NO_APT=1 ;;
    --quiet) QUIET=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (expected --no-apt, --quiet)" >&2; exit 2 ;;
  esac
done

say() { [[ $QUIET == 1 ]] || echo "setup: $*"; }
did() { echo "setup: $*"; }  # a change: always printed
die() { echo "setup: error: $*" >&2; exit 1; }

# Debian packages, by role. Keep names that `apt-cache policy NAME` knows on Debian 12 (bookworm).
PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config
  # LibTorch (CPU) and the fast BLAS it should run on
  libtorch-dev libopenblas0-openmp
  # c10d ProcessGroupGloo headers (distributed data parallel)
  libgloo-dev
  # libraries: config, CLI, JSON, logging
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  # Unicode regular expressions: the GPT-2 / tokenizer.json pre-tokenizer patterns (\p{L}, lookahead)
  libpcre2-dev
  # HTTP server and client for `lmforge serve` (header httplib.h + libcpp-httplib.so)
  libcpp-httplib-dev
  # kNN-LM nearest-neighbour search (static libfaiss.a + CMake package; pulls libblas-dev, liblapack-dev)
  libfaiss-dev
  # tokenizer training tools (spm_train etc.; the library itself is not linked, see CMakeLists.txt)
  sentencepiece
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # the PyTorch peer for benchmarks: Debian's torch, importable by /usr/bin/python3 only
  python3-torch
  # headless browser for the benchmark report's rendering test (tests/report/chromium_test.cpp)
  chromium
)

SUDO=()
need_root() {
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      SUDO=(sudo -n)
    else
      die "$1 needs root (run as root, or with password-less sudo)"
    fi
  fi
}

is_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

# 1. packages
if [[ $NO_APT == 1 ]]; then
  say "--no-apt: not installing packages"
  missing=()
  for p in "${PACKAGES[@]}"; do is_installed "$p" || missing+=("$p"); done
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "setup: warning: --no-apt but missing: ${missing[*]}" >&2
  fi
else
  command -v dpkg-query >/dev/null 2>&1 || die "not a Debian system (no dpkg-query)"
  missing=()
  for p in "${PACKAGES[@]}"; do is_installed "$p" || missing+=("$p"); done
  if [[ ${#missing[@]} -eq 0 ]]; then
    say "all ${#PACKAGES[@]} packages already installed"
  else
    need_root "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    APT_OPTS=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=600
              -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    did "missing: ${missing[*]}"
    did "apt-get update"
    "${SUDO[@]}" apt-get update -q -o DPkg::Lock::Timeout=600 </dev/null
    did "apt-get install ${missing[*]}"
    "${SUDO[@]}" apt-get install "${APT_OPTS[@]}" "${missing[@]}" </dev/null
    still=()
    for p in "${missing[@]}"; do is_installed "$p" || still+=("$p"); done
    [[ ${#still[@]} -eq 0 ]] || die "still missing after apt-get install: ${still[*]}"
    did "installed ${#missing[@]} package(s)"
  fi
fi

# 2. BLAS/LAPACK: point the alternatives at OpenBLAS-openmp.
# The openmp variant shares libgomp with ATen, so at::set_num_threads also sets BLAS's threads.
select_openblas_openmp() {
  local name=$1 required=$2 target current status
  if ! update-alternatives --query "$name" >/dev/null 2>&1; then
    [[ $required == 1 ]] && die "alternative $name does not exist (is libopenblas0-openmp installed?)"
    say "alternative $name: not present (fine)"
    return 0
  fi
  target=$(update-alternatives --list "$name" | grep '/openblas-openmp/' | head -n1 || true)
  [[ -n $target ]] || die "alternative $name has no openblas-openmp choice:
$(update-alternatives --display "$name")"
  current=$(update-alternatives --query "$name" | sed -n 's/^Value: //p')
  status=$(update-alternatives --query "$name" | sed -n 's/^Status: //p')
  # Manual mode too, so that installing the pthread variant (higher priority) later cannot switch it.
  if [[ $current == "$target" && $status == manual ]]; then
    say "alternative $name -> $target (already)"
  else
    need_root "update-alternatives --set $name"
    "${SUDO[@]}" update-alternatives --set "$name" "$target" >/dev/null
    did "alternative $name: ${current:-none} ($status) -> $target (manual)"
  fi
}
if command -v update-alternatives >/dev/null 2>&1; then
  select_openblas_openmp libblas.so.3-x86_64-linux-gnu 1
  select_openblas_openmp liblapack.so.3-x86_64-linux-gnu 1
  select_openblas_openmp libopenblas.so.0-x86_64-linux-gnu 0
else
  echo "setup: warning: no update-alternatives; BLAS not selected" >&2
fi

# 3. checks that tell a broken machine early
[[ -e /usr/lib/x86_64-linux-gnu/libtorch_cpu.so ]] || echo "setup: warning: libtorch_cpu.so not found" >&2
if [[ -x /usr/bin/python3 ]]; then
  if v=$(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null); then
    say "PyTorch peer: /usr/bin/python3 imports torch $v"
  else
    echo "setup: warning: /usr/bin/python3 cannot import torch (PyTorch peer benchmarks will skip)" >&2
  fi
fi
say "done"

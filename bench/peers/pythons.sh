# bench/peers/pythons.sh: sourced by the bench scripts; chooses the PyTorch peers to run beside
# lmforge, one column each, in the same run.
#
# Why two: Debian's python3-torch (1.13, /usr/bin/python3) runs the same ATen kernels and BLAS as
# the LibTorch lmforge links, so it isolates what lmforge's own code does; PyTorch 2.x from PyPI
# (the peers environment of scripts/setup-peers.sh) is what a user compares with today (SDPA,
# torch.compile, its own oneDNN/MKL builds). Speed targets are judged against the faster of the two.
#
# Sets:  PEER_PYS    the interpreters (array)      PEER_NAMES  their labels, e.g. "torch 2.15.0"
# Env:   LMFORGE_PEER_PYTHONS  space-separated interpreters to use instead of the default
#        LMFORGE_PEERS         the peers environment's folder (default ~/.cache/lmforge/peers)
# A peer that cannot import torch is left out with a note on stderr, never silently.
PEER_PYS=()
PEER_NAMES=()
_peer_candidates=${LMFORGE_PEER_PYTHONS:-"/usr/bin/python3 ${LMFORGE_PEERS:-${HOME:-/root}/.cache/lmforge/peers}/bin/python"}
for _py in $_peer_candidates; do
  if [[ ! -x $_py ]]; then
    echo "peers: $_py not found; that column is left out (scripts/setup-peers.sh makes the PyTorch 2.x one)" >&2
    continue
  fi
  if ! _ver=$("$_py" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null); then
    echo "peers: $_py cannot import torch; that column is left out" >&2
    continue
  fi
  PEER_PYS+=("$_py")
  PEER_NAMES+=("torch $_ver")
done
if [[ ${#PEER_PYS[@]} -eq 0 ]]; then
  echo "peers: no python with torch found (Debian's python3-torch, or scripts/setup-peers.sh)" >&2
  exit 1
fi
echo "peers: ${PEER_NAMES[*]} (${PEER_PYS[*]})" >&2
unset _py _ver _peer_candidates

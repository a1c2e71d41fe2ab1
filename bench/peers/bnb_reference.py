"""Writes tests/golden/bnb/quant8.json: bitsandbytes' block-wise 8-bit quantisation, the reference of
lmforge's 8-bit optimiser states (train/optimizers/blockwise_quant.h; Dettmers et al. 2022).

Holds bitsandbytes' "dynamic" maps (create_dynamic_map, signed for Adam's m, unsigned for v) and the
codes and block absmax it gives, with blocks of 2048 as lmforge uses, for a fixed input of three
blocks (a normal block, one with an outlier, a short tail). tests/train/adam8bit_test.cpp checks
our codebooks and codes against it, so CI runs the oracle without bitsandbytes installed.

Usage (peers environment): $(scripts/setup-peers.sh --print-path)/bin/python bench/peers/bnb_reference.py
"""
import json
import os

import bitsandbytes
import bitsandbytes.functional as F
import torch

BLOCK = 2048


def main():
    g = torch.Generator().manual_seed(2022)
    x = torch.randn(2 * BLOCK + 300, generator=g)
    x[BLOCK + 17] = 40.0  # an outlier coarsens only its own block
    x[5] = 0.0
    out = {"bitsandbytes": bitsandbytes.__version__, "torch": torch.__version__, "block": BLOCK,
           "x": [float(v) for v in x]}
    for name, signed, data in (("signed", True, x), ("unsigned", False, x.abs() ** 2)):
        code = F.create_dynamic_map(signed=signed)
        q, st = F.quantize_blockwise(data, code=code, blocksize=BLOCK)
        out[name] = {"map": [float(v) for v in code], "input": "x" if signed else "x^2",
                     "codes": [int(v) for v in q], "absmax": [float(v) for v in st.absmax]}
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden", "bnb", "quant8.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print(f"wrote {os.path.normpath(path)} (bitsandbytes {bitsandbytes.__version__})")


if __name__ == "__main__":
    main()

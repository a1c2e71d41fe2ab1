"""Writes tests/golden/galore_reference.json: GaLore trajectories from the authors' package.

The oracle of GaLore.MatchesTheAuthorsPackage (tests/train/low_rank_optim_test.cpp): the same
fp32 matrix, the same gradient sequence, the authors' GaLoreAdamW (PyPI galore-torch 1.0,
galore_torch/adamw.py + galore_projector.py, proj_type "std") against lmforge's "galore"
optimiser. Both matrix orientations (m >= n: right projector; m < n: left), a projector refresh
inside the run, weight decay 0 (the package decays after the step, lmforge before it, as
LibTorch's AdamW: the two differ by lr^2 wd |update| per step, so the oracle leaves decay out).
The package's eps sits outside the bias correction (m / (sqrt(v) + eps) * lr sqrt(1-b2^t)/(1-b1^t));
gradients of order 1 make that difference from lmforge's placement ~1e-8, below fp32 rounding.

Run by Debian's python3 (python3-torch), with the wheel unpacked somewhere:
  pip download galore-torch==1.0 --no-deps -d /tmp/galore && cd /tmp/galore && \
    python3 -m zipfile -e galore_torch-1.0-py3-none-any.whl pkg
  /usr/bin/python3 bench/peers/galore_reference.py /tmp/galore/pkg tests/golden/galore_reference.json
"""
import importlib
import json
import os
import sys
import types

import torch


def load_galore(pkg_dir):
    # The package imports transformers only for a version check; stub it instead of installing it.
    stub = types.ModuleType("transformers.utils.versions")
    stub.require_version = lambda *a, **k: None
    for name in ("transformers", "transformers.utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["transformers.utils.versions"] = stub
    # The package's __init__ also imports its 8-bit variant (bitsandbytes); load adamw.py alone.
    pkg = types.ModuleType("galore_torch")
    pkg.__path__ = [os.path.join(pkg_dir, "galore_torch")]
    sys.modules["galore_torch"] = pkg
    return importlib.import_module("galore_torch.adamw").AdamW


def flat(t):
    # float32 values round-trip through 9 significant digits
    return [float("%.9g" % x) for x in t.flatten().tolist()]


def trajectory(AdamW, shape, rank, gap, scale, lr, steps, seed):
    g = torch.Generator().manual_seed(seed)
    w0 = torch.randn(shape, generator=g) * 0.5
    grads = [torch.randn(shape, generator=g) for _ in range(steps)]
    w = torch.nn.Parameter(w0.clone())
    opt = AdamW([{"params": [w], "rank": rank, "update_proj_gap": gap, "scale": scale, "proj_type": "std"}],
                lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, no_deprecation_warning=True)
    after = []
    for gr in grads:
        w.grad = gr.clone()
        opt.step()
        after.append(flat(w.detach()))
    return {
        "shape": list(shape), "rank": rank, "update_gap": gap, "scale": scale, "lr": lr,
        "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
        "w0": flat(w0), "grads": [flat(x) for x in grads], "after_step": after,
    }


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: galore_reference.py UNPACKED_WHEEL_DIR OUT.json")
    AdamW = load_galore(sys.argv[1])
    cases = [trajectory(AdamW, (16, 10), 4, 2, 0.25, 0.01, 6, 1),
             trajectory(AdamW, (10, 16), 4, 2, 0.25, 0.01, 6, 2),
             trajectory(AdamW, (12, 12), 3, 3, 1.0, 0.003, 7, 3)]
    out = {"source": "galore-torch 1.0 (PyPI), galore_torch.adamw.AdamW, proj_type std; "
                     "written by bench/peers/galore_reference.py with torch " + torch.__version__,
           "cases": cases}
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)
    print("wrote", sys.argv[2], "cases", len(cases))


if __name__ == "__main__":
    main()

"""PyTorch peer of bench/cpu_time/optim_step.cpp: optimizer step time and state bytes on MiniLM-L6's
parameter shapes (a 30522 x 384 embedding; 6 layers of qkv 1152 x 384, out 384 x 384, fc1 1536 x 384,
fc2 384 x 1536 and their biases), fixed N(0, 1e-2) gradients, the first step untimed.

Optimizers: torch.optim.AdamW (for-loop and foreach implementations) and, when the unpacked
galore-torch 1.0 wheel is given, the GaLore authors' GaLoreAdamW (rank 8, gap 200, scale 2,
proj_type std; the embedding and biases in a plain group, as lmforge's galore does).
Run by Debian's python3 (python3-torch):
  /usr/bin/python3 bench/peers/optim_step_peer.py [--galore /tmp/galore/pkg] [--steps 10] [--threads 2]
"""
import argparse
import json
import time

import torch

from galore_reference import load_galore


def params():
    torch.manual_seed(0)
    decay, no_decay = [], []

    def add(group, *shape):
        p = torch.nn.Parameter(torch.randn(*shape) * 0.02)
        p.grad = torch.randn(*shape) * 1e-2
        group.append(p)

    add(decay, 30522, 384)
    for _ in range(6):
        add(decay, 1152, 384), add(no_decay, 1152)
        add(decay, 384, 384), add(no_decay, 384)
        add(decay, 1536, 384), add(no_decay, 1536)
        add(decay, 384, 1536), add(no_decay, 384)
    return decay, no_decay


def state_bytes(opt):
    n = 0
    for st in opt.state.values():
        for v in st.values():
            if torch.is_tensor(v) and v.dim() > 0:
                n += v.numel() * v.element_size()
            elif hasattr(v, "ortho_matrix") and v.ortho_matrix is not None:
                n += v.ortho_matrix.numel() * v.ortho_matrix.element_size()
    return n


def timed(label, make, steps):
    decay, no_decay = params()
    opt = make(decay, no_decay)
    opt.step()
    best, total = 1e30, 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.step()
        ms = (time.perf_counter() - t0) * 1e3
        best, total = min(best, ms), total + ms
    print(json.dumps({"impl": "pytorch " + torch.__version__, "optimizer": label, "best_ms": round(best, 2),
                      "mean_ms": round(total / steps, 2), "state_mib": round(state_bytes(opt) / 2**20, 2)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--galore", help="folder of the unpacked galore-torch 1.0 wheel")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    impls = [("adamw", dict(foreach=False)), ("adamw (foreach)", dict(foreach=True))]
    if tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 4):  # fused AdamW runs on CPU from 2.4
        impls.append(("adamw (fused)", dict(fused=True)))
    for label, kw in impls:
        timed(label, lambda d, n: torch.optim.AdamW([{"params": d, "weight_decay": 0.01}, {"params": n, "weight_decay": 0.0}],
                                                    lr=1e-4, betas=(0.9, 0.999), **kw), a.steps)
    if a.galore:
        GaLoreAdamW = load_galore(a.galore)
        # The projected group: the block matrices; the embedding and biases plain, as lmforge's default targets.
        timed("galore", lambda d, n: GaLoreAdamW(
            [{"params": d[:1], "weight_decay": 0.01}, {"params": n, "weight_decay": 0.0},
             {"params": d[1:], "rank": 8, "update_proj_gap": 200, "scale": 2.0, "proj_type": "std", "weight_decay": 0.01}],
            lr=1e-4, betas=(0.9, 0.999), no_deprecation_warning=True), a.steps)


if __name__ == "__main__":
    main()

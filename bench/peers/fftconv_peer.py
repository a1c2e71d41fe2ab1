#!/usr/bin/python3
"""PyTorch peer of lmforge's FFT convolution and Hyena layer, written the way the reference
repositories do it (safari `fftconv_ref` / flash-fft-conv's PyTorch reference): rfft with n = 2L,
pointwise product, irfft, then the skip term and the gates; the Hyena layer of safari's
standalone_hyena.py (in_proj, short depthwise conv, implicit sine-MLP filter with exponential
modulation, order-2 recurrence, out_proj).

Run with Debian's python3 (python3-torch); the pyenv python3 first on PATH cannot import torch.
  fftconv_peer.py conv  --B 4 --H 768 --L 4096 --dtype fp32 [--gated] [--threads 2]
  fftconv_peer.py hyena --B 4 --D 256 --L 4096 --dtype fp32
prints one JSON line: best-of-N ms forward and forward+backward, and the resident-memory
high-water (MB) of one forward+backward above the start (same method as `lmforge ops perf`).
bf16: torch's CPU FFT has no bf16 kernel, so (like the reference code) the FFT runs in fp32 on
the bf16 inputs and the result is cast back.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import best_ms, peak_mb  # noqa: E402  (shared with the other peers)


def fftconv_ref(u, k, D, pre=None, post=None):
    L = u.shape[-1]
    n = 2 * L
    dt = u.dtype
    v = u if pre is None else u * pre
    vf = v.float()
    k_f = torch.fft.rfft(k.float(), n=n) / n
    u_f = torch.fft.rfft(vf, n=n)
    y = torch.fft.irfft(u_f * k_f, n=n, norm="forward")[..., :L]
    y = y + vf * D.float().unsqueeze(-1)
    y = y.to(dt)
    return y if post is None else y * post


class Sin(nn.Module):
    def __init__(self, dim, w=1.0):
        super().__init__()
        self.freq = nn.Parameter(w * torch.ones(1, dim))

    def forward(self, x):
        return torch.sin(self.freq * x)


class HyenaFilter(nn.Module):
    def __init__(self, d, order=64, emb_dim=3, seq_len=1024, w=1.0):
        super().__init__()
        bands = (emb_dim - 1) // 2
        t = torch.linspace(0, 1, seq_len)[None, :, None]
        tr = torch.linspace(0, seq_len - 1, seq_len)[None, :, None]
        w_ = 2 * math.pi * tr / seq_len
        f = torch.linspace(1e-4, bands - 1, bands)[None, None]
        z = torch.exp(-1j * f * w_)
        self.z = nn.Parameter(torch.cat([t, z.real, z.imag], dim=-1))
        self.register_buffer("t", t)
        act = Sin(order, w)
        self.mlp = nn.Sequential(nn.Linear(emb_dim, order), act, nn.Linear(order, order), act,
                                 nn.Linear(order, order), act, nn.Linear(order, d, bias=False))
        target, fast, slow = 1e-2, 0.3, 1.5
        self.register_buffer("deltas", torch.linspace(math.log(target) / slow, math.log(target) / fast, d)[None, None])
        self.bias = nn.Parameter(torch.randn(d))

    def filter(self, L):
        h = self.mlp(self.z[:, :L])
        return h * torch.exp(-self.t[:, :L] * self.deltas.abs())


class HyenaOperator(nn.Module):
    def __init__(self, d, l_max, order=2):
        super().__init__()
        self.d, self.order = d, order
        self.in_proj = nn.Linear(d, (order + 1) * d)
        self.out_proj = nn.Linear(d, d)
        self.short_filter = nn.Conv1d((order + 1) * d, (order + 1) * d, 3, padding=2, groups=(order + 1) * d)
        self.filter_fn = HyenaFilter(d * (order - 1), seq_len=l_max)

    def forward(self, u):
        L = u.size(-2)
        u = self.in_proj(u).transpose(1, 2)
        uc = self.short_filter(u)[..., :L]
        *x, v = uc.split(self.d, dim=1)
        k = self.filter_fn.filter(L)[0].transpose(0, 1).reshape(self.order - 1, self.d, L)
        bias = self.filter_fn.bias.reshape(self.order - 1, self.d)
        for o, x_i in enumerate(reversed(x[1:])):
            v = fftconv_ref(v * x_i, k[o], bias[o])
        return self.out_proj((v * x[0]).transpose(1, 2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["conv", "hyena"])
    ap.add_argument("--B", type=int, default=4)
    ap.add_argument("--H", type=int, default=768)
    ap.add_argument("--D", type=int, default=256)
    ap.add_argument("--L", type=int, default=4096)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--gated", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=0.3)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dt = torch.float32 if a.dtype == "fp32" else torch.bfloat16
    torch.manual_seed(0)
    if a.what == "conv":
        u = torch.randn(a.B, a.H, a.L).to(dt)
        k = (torch.randn(a.H, a.L) / math.sqrt(a.L)).to(dt)
        D = torch.randn(a.H)
        pre = (1 + 0.5 * torch.randn(a.B, a.H, a.L)).to(dt) if a.gated else None
        post = (1 + 0.5 * torch.randn(a.B, a.H, a.L)).to(dt) if a.gated else None
        if not a.gated:
            D = torch.zeros(a.H)
        inputs = [t for t in (u, k, pre, post) if t is not None]

        def fwd():
            with torch.no_grad():
                fftconv_ref(u, k, D, pre, post)

        g = torch.randn(a.B, a.H, a.L).to(dt)

        def fb():
            xs = [t.detach().requires_grad_(True) for t in inputs]
            uu, kk = xs[0], xs[1]
            p, q = (xs[2], xs[3]) if a.gated else (None, None)
            y = fftconv_ref(uu, kk, D, p, q)
            torch.autograd.grad(y, xs, g)
        shape = f"B{a.B}_H{a.H}_L{a.L}" + ("_gated_skip" if a.gated else "")
    else:
        m = HyenaOperator(a.D, a.L).to(dt)
        x = torch.randn(a.B, a.L, a.D).to(dt)
        g = torch.randn(a.B, a.L, a.D).to(dt)

        def fwd():
            with torch.no_grad():
                m(x)

        def fb():
            xx = x.detach().requires_grad_(True)
            y = m(xx)
            torch.autograd.grad(y, [xx] + list(m.parameters()), g)
        shape = f"B{a.B}_L{a.L}_D{a.D}"
    r = {"what": a.what, "shape": shape, "dtype": a.dtype, "threads": torch.get_num_threads(),
         "ms": best_ms(fwd, a.seconds), "ms_fb": best_ms(fb, a.seconds)}
    r["peak_mb"] = peak_mb(fb)
    print(json.dumps(r))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch peers for bench/sparse_attention_moe.sh, written the way a PyTorch user would.

  --what attention   full causal multi-head attention (fused qkv, q k^T, causal mask, softmax, @ v, out;
                     F.scaled_dot_product_attention(is_causal=True) where the torch has it, as a
                     PyTorch 2.x user writes it; --attention manual forces the masked softmax)
  --what mlp         dense feed-forward Linear(D, H) -> act -> Linear(H, D)
  --what moe         top-k MoE the common way: a loop over experts, each selecting its tokens with a
                     mask over the whole batch (torch.where), index_add back

Measures like `lmforge bench-layer`: best-of-N ms for forward (no grad) and forward+backward of
(y * g).sum(), and the resident-memory high-water of one forward+backward above the RSS at its start
(VmHWM after writing 5 to /proc/self/clear_refs). Prints one JSON line.
Runs under Debian's python3 (python3-torch 1.13) and PyTorch 2.x (scripts/setup-peers.sh).
"""
import argparse
import ctypes
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, d, heads, sdpa):
        super().__init__()
        self.h = heads
        self.sdpa = sdpa
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x):
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.h, D // self.h).permute(2, 0, 3, 1, 4)
        if self.sdpa:
            return self.out(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, L, D))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D // self.h)
        mask = torch.triu(torch.ones(L, L, dtype=torch.bool), 1)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        return self.out((att @ v).transpose(1, 2).reshape(B, L, D))


class Mlp(nn.Module):
    def __init__(self, d, hidden, act):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(d, hidden), nn.Linear(hidden, d), act

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Moe(nn.Module):
    def __init__(self, d, hidden, experts, k, act):
        super().__init__()
        self.gate = nn.Linear(d, experts)
        self.experts = nn.ModuleList([Mlp(d, hidden, act) for _ in range(experts)])
        self.k = k

    def forward(self, x):
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        top_v, top_i = self.gate(x).topk(self.k, -1)
        w = top_v.softmax(-1)
        y = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            tok, slot = torch.where(top_i == e)
            if tok.numel():
                y = y.index_add(0, tok, expert(x[tok]) * w[tok, slot, None])
        return y.view(shape)


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return float(line.split()[1])
    return 0.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--what", choices=["attention", "mlp", "moe"], required=True)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--experts", type=int, default=8)
    p.add_argument("--top-k", type=int, default=2)
    p.add_argument("--activation", default="relu")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq", type=int, default=4096)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--attention", choices=["auto", "manual", "sdpa"], default="auto")
    a = p.parse_args()
    sdpa = a.attention == "sdpa" or (a.attention == "auto" and hasattr(F, "scaled_dot_product_attention"))
    if a.threads:
        torch.set_num_threads(a.threads)
    act = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu}[a.activation]
    torch.manual_seed(0)
    if a.what == "attention":
        m = Attention(a.d_model, a.heads, sdpa)
    elif a.what == "mlp":
        m = Mlp(a.d_model, a.hidden, act)
    else:
        m = Moe(a.d_model, a.hidden, a.experts, a.top_k, act)
    x = torch.randn(a.batch, a.seq, a.d_model, requires_grad=True)
    g = torch.randn(a.batch, a.seq, a.d_model)

    def once(backward):
        if not backward:
            with torch.no_grad():
                m(x)
            return
        (m(x) * g).sum().backward()

    def best(backward):  # best wall ms and best process CPU ms (all threads), as lmforge bench-layer
        b, bc = 1e30, 1e30
        for i in range(a.warmup + a.reps):
            t0, c0 = time.perf_counter(), time.process_time()
            once(backward)
            ms, cms = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
            if i >= a.warmup:
                b, bc = min(b, ms), min(bc, cms)
            m.zero_grad(set_to_none=True)
            x.grad = None
        return b, bc

    (ms_f, cpu_f), (ms_fb, cpu_fb) = best(False), best(True)
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    rss0 = status_kb("VmRSS:")
    once(True)
    peak = max(0.0, status_kb("VmHWM:") - rss0) / 1024
    impl = f"torch {torch.__version__.split('+')[0]}" + (" sdpa" if a.what == "attention" and sdpa else "")
    print(json.dumps({"impl": impl, "what": a.what, "B": a.batch, "L": a.seq, "D": a.d_model,
                      "ms_fwd": ms_f, "ms_fwd_bwd": ms_fb, "cpu_ms_fwd": cpu_f, "cpu_ms_fwd_bwd": cpu_fb, "peak_mb": peak,
                      "params": sum(q.numel() for q in m.parameters()), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()

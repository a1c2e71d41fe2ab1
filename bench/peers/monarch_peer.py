#!/usr/bin/python3
"""PyTorch peer for the Monarch benchmark (docs/benchmarks/monarch_sparse.md).

Times forward and forward+backward of (a) a dense linear layer (F.linear) and (b) a Monarch linear
layer with 4 blocks written the way fly's fast path does it (two torch.bmm over per-block
activations, hand-written backward in a torch.autograd.Function), for the same shapes and dtypes as
`lmforge ops perf --op monarch` / `--op linear`. Best of N, milliseconds.

Run with Debian's python3 (python3-torch 1.13):  /usr/bin/python3 bench/peers/monarch_peer.py --threads 2
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F


class MonarchFn(torch.autograd.Function):
    # x (B, n); w1 (k, q, p); w2 (l, s, r); l*r == k*q; y (B, l*s), y[s_i*l + l_i].
    @staticmethod
    def forward(ctx, x, w1, w2, bias):
        k, q, p = w1.shape
        l, s, r = w2.shape
        b = x.shape[0]
        x1 = x.view(b, k, p).transpose(0, 1).contiguous()
        y1 = torch.bmm(x1, w1.transpose(1, 2))  # (k, B, q)
        x2 = y1.view(k, b, q // l, l).permute(3, 1, 0, 2).contiguous().view(l, b, r)
        y2 = torch.baddbmm(bias.view(s, l).t().unsqueeze(1), x2, w2.transpose(1, 2))
        ctx.save_for_backward(x1, x2, w1, w2)
        return y2.permute(1, 2, 0).reshape(b, s * l)

    @staticmethod
    def backward(ctx, g):
        x1, x2, w1, w2 = ctx.saved_tensors
        k, q, p = w1.shape
        l, s, r = w2.shape
        b = x1.shape[1]
        g = g.contiguous()
        dy2 = g.view(b, s, l).permute(2, 0, 1).contiguous()
        dw2 = torch.bmm(dy2.transpose(1, 2), x2)
        dx2 = torch.bmm(dy2, w2)
        dy1 = dx2.view(l, b, k, q // l).permute(2, 1, 3, 0).contiguous().view(k, b, q)
        dw1 = torch.bmm(dy1.transpose(1, 2), x1)
        dx = torch.bmm(dy1, w1).transpose(0, 1).reshape(b, k * p)
        return dx, dw1, dw2, g.sum(0)


def best_ms(fn, seconds, max_reps=50):
    fn()
    t_end = time.perf_counter() + seconds
    best, reps = float("inf"), 0
    while reps < 3 or (time.perf_counter() < t_end and reps < max_reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        reps += 1
    return best * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    shapes = [("d1024", 1024, 1024), ("d1024_to4096", 1024, 4096), ("d4096_to1024", 4096, 1024), ("d2048", 2048, 2048)]
    rows = []
    for dt in (torch.float32, torch.bfloat16):
        for name, n, m in shapes:
            nb = 4
            ib, ob = n // nb, m // nb
            mid = ib if n <= m else ob
            x = torch.randn(a.rows, n).to(dt).requires_grad_()
            w = (torch.randn(m, n) / n ** 0.5).to(dt).requires_grad_()
            bias = torch.zeros(m).to(dt).requires_grad_()
            w1 = (torch.randn(nb, mid, ib) / ib ** 0.5).to(dt).requires_grad_()
            w2 = (torch.randn(nb, ob, mid) / mid ** 0.5).to(dt).requires_grad_()
            g = torch.randn(a.rows, m).to(dt)
            dense_f = lambda: F.linear(x, w, bias)
            mon_f = lambda: MonarchFn.apply(x, w1, w2, bias)

            def fb(f):
                def run():
                    y = f()
                    y.backward(g)
                return run

            with torch.no_grad():
                d_ms, m_ms = best_ms(dense_f, a.seconds), best_ms(mon_f, a.seconds)
            d_fb, m_fb = best_ms(fb(dense_f), a.seconds), best_ms(fb(mon_f), a.seconds)
            rows.append(dict(shape=f"B{a.rows}_{name}_nb4", dtype=str(dt).replace("torch.", ""), dense_ms=d_ms,
                             monarch_ms=m_ms, dense_fb_ms=d_fb, monarch_fb_ms=m_fb))
    if a.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"{'shape':26s} {'dtype':9s} {'dense fwd':>10s} {'monarch fwd':>12s} {'dense f+b':>10s} "
              f"{'monarch f+b':>12s} {'speedup f+b':>12s}")
        for r in rows:
            print(f"{r['shape']:26s} {r['dtype']:9s} {r['dense_ms']:10.2f} {r['monarch_ms']:12.2f} "
                  f"{r['dense_fb_ms']:10.2f} {r['monarch_fb_ms']:12.2f} {r['dense_fb_ms'] / r['monarch_fb_ms']:11.2f}x")


if __name__ == "__main__":
    main()

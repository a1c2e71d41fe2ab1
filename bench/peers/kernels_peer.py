#!/usr/bin/python3
"""PyTorch peers of every fused operator's perf cases, for `lmforge bench --suite kernels`.

Reads the JSON array that `lmforge ops perf --json` prints (op, shape, dtype per case) and, for each
case whose op it knows, times the same work written the way the papers' PyTorch code does it:
  fftconv           rfft(n=2L) * rfft(k) -> irfft, skip and gates (bench/peers/fftconv_peer.py);
                    partial and frequency-sparse shapes against the dense convolution (no peer has them)
  linear_attention  the better of the masked-quadratic and the cumulative-sum forms, per pass
                    (bench/peers/linear_attention_peer.py); a form whose estimated intermediates
                    exceed --max-gb (default 8) is skipped
  banded_attn       softmax attention with the band (and routing-group, causal) mask over the full
                    L x L scores, the obvious PyTorch local attention
  flash_attention   the better of softmax attention over the masked L x L scores and, under PyTorch 2.x,
                    F.scaled_dot_product_attention (its fused CPU flash kernel), per pass
  linear_xent       F.linear then F.cross_entropy(reduction="sum", ignore_index=-100)
  monarch           fly's two-bmm Monarch layer (bench/peers/monarch_peer.py); linear: F.linear
  hyena             safari's Hyena operator, order 2 (bench/peers/fftconv_peer.py HyenaOperator), the
                    gradients of the input and of every weight
  shortconv         Hyena's short filter as safari writes it: transpose, depthwise F.conv1d with
                    padding K-1, keep the first L outputs (the split into parts is a free view)
Prints one JSON line per case: op, shape, dtype, peer, peer_ms, peer_ms_fb, peer_peak_mb, or
skipped with the reason. Inputs are drawn like the harness's (shapes, dtypes), not the same numbers.
Runs under Debian's /usr/bin/python3 (python3-torch 1.13) and PyTorch 2.x (scripts/setup-peers.sh);
the kernels suite runs it under each (bench/runner.cpp, peer_pythons).
"""
import argparse
import json
import math
import os
import re
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import best_ms, peak_mb  # noqa: E402
from fftconv_peer import HyenaOperator, fftconv_ref  # noqa: E402
from linear_attention_peer import FORMS, estimate_gb  # noqa: E402
from monarch_peer import MonarchFn  # noqa: E402

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def ints(shape):
    """'B4_H768_L4096_gated' -> {'B': 4, 'H': 768, 'L': 4096}; flags -> True."""
    out = {}
    for part in shape.split("_"):
        m = re.fullmatch(r"([A-Za-z]+)(\d+)", part)
        if m:
            out[m[1]] = int(m[2])
        else:
            out[part] = True
    return out


def case_fftconv(s, dt):
    B, H, L = s["B"], s["H"], s["L"]
    Lk = s.get("Lk", L)
    u = torch.randn(B, H, L).to(dt)
    k = (torch.randn(H, Lk) / math.sqrt(Lk)).to(dt)
    D = torch.randn(H).to(dt)
    gates = (1 + 0.5 * torch.randn(B, H, L), 1 + 0.5 * torch.randn(B, H, L)) if s.get("gated") else (None, None)
    pre, post = (g.to(dt) if g is not None else None for g in gates)
    note = "dense convolution (the peer has no partial/sparse variant)" if ("partial" in s or "sparse" in s) else ""
    return (lambda u, k: fftconv_ref(u, k, D, pre, post)), [u, k], note


def case_linear_attention(s, dt, max_gb):
    B, H, L, Fd, Dd = s["B"], s["H"], s["L"], s["F"], s["D"]
    q = torch.exp(0.5 * torch.randn(B, H, L, Fd)).to(dt)
    k = torch.exp(0.5 * torch.randn(B, H, L, Fd)).to(dt)
    v = torch.randn(B, H, L, Dd).to(dt)
    forms = [f for f in ("quadratic", "cumsum") if estimate_gb(f, L, B, H, Fd, Dd, "fwdbwd") <= max_gb]
    return [(FORMS[f], [q, k, v], f) for f in forms]


def case_banded(s, dt):
    N, L, d, w = s["N"], s["L"], s["d"], s["w"]
    causal = bool(s.get("causal"))
    q, k, v = (torch.randn(N, L, d).to(dt) for _ in range(3))
    i = torch.arange(L)
    band = (i[:, None] - i[None, :]).abs() <= w
    if causal:
        band &= i[None, :] <= i[:, None]
    groups = s.get("g")
    mask = band.expand(N, L, L)
    if groups:
        g = torch.randint(0, groups, (N, L)).sort(1).values
        mask = mask & (g[:, :, None] == g[:, None, :])

    def attn(q, k, v):
        scores = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(d)
        return torch.matmul(scores.masked_fill(~mask, float("-inf")).softmax(-1), v)
    return attn, [q, k, v]


def case_flash_attention(s, dt):
    B, H, L, d = s["B"], s["H"], s["L"], s["d"]
    S = s.get("S", L)
    causal = not s.get("bidir")
    q = torch.randn(B, H, L, d).to(dt)
    k, v = (torch.randn(B, H, S, d).to(dt) for _ in range(2))
    hidden = torch.arange(S)[None, :] > torch.arange(S - L, S)[:, None] if causal else None

    def masked(q, k, v):
        scores = torch.matmul(q * (1.0 / math.sqrt(d)), k.transpose(-2, -1))
        if hidden is not None:
            scores = scores.masked_fill(hidden, float("-inf"))
        return torch.matmul(scores.softmax(-1), v)
    variants = [(masked, [q, k, v], "masked softmax attention")]
    if hasattr(F, "scaled_dot_product_attention") and L == S:
        variants.append((lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal), [q, k, v],
                         "F.scaled_dot_product_attention"))
    return variants


def case_linear_xent(s, dt):
    n, d, V = s["N"], s["D"], s["V"]
    x = torch.randn(n, d).to(dt)
    w = (torch.randn(V, d) * 0.2).to(dt)
    y = torch.randint(0, V, (n,))
    y[torch.randperm(n)[: n // 8]] = -100
    return (lambda x, w: F.cross_entropy(F.linear(x, w).float(), y, reduction="sum", ignore_index=-100)), [x, w]


def monarch_dims(s):
    """Shapes as ops/monarch/cases.cpp names them: B<rows>_d<in>[_to<out>]_nb<blocks>."""
    rows, n, nb = s["B"], s["d"], s["nb"]
    m = s.get("to", n)
    return rows, n, m, nb, min(n, m) // nb


def case_monarch(s, dt):
    rows, n, m, nb, q = monarch_dims(s)
    x = torch.randn(rows, n).to(dt)
    w1 = (torch.randn(nb, q, n // nb) / math.sqrt(n // nb)).to(dt)  # (k, q, p)
    w2 = (torch.randn(nb, m // nb, q) / math.sqrt(q)).to(dt)        # (l, s, r), l*r = k*q
    bias = torch.randn(m).to(dt)
    return (lambda x, w1, w2: MonarchFn.apply(x, w1, w2, bias)), [x, w1, w2]


def case_linear(s, dt):
    rows, n, m, _, _ = monarch_dims(s)
    x = torch.randn(rows, n).to(dt)
    w = (torch.randn(m, n) / math.sqrt(n)).to(dt)
    bias = torch.randn(m).to(dt)
    return (lambda x, w: F.linear(x, w, bias)), [x, w]


def case_hyena(s, dt):
    B, L, D = s["B"], s["L"], s["D"]
    m = HyenaOperator(D, L).to(dt)
    return (lambda x: m(x)), [torch.randn(B, L, D).to(dt)]


def case_shortconv(s, dt):
    B, L, C, K = s["B"], s["L"], s["C"], s["K"]
    z = torch.randn(B, L, C).to(dt)
    w = (torch.randn(C, 1, K) / math.sqrt(K)).to(dt)
    inputs = [z, w] + ([] if s.get("nobias") else [torch.randn(C).to(dt)])
    return (lambda z, w, b=None: F.conv1d(z.transpose(1, 2), w, b, padding=K - 1, groups=C)[..., :L]), inputs


def time_case(fn, inputs, seconds):
    g = None

    def fwd():
        with torch.no_grad():
            fn(*inputs)

    def fwdbwd():
        nonlocal g
        xs = [t.detach().requires_grad_() for t in inputs]
        y = fn(*xs)
        if g is None or g.shape != y.shape:
            g = torch.randn_like(y)
        y.backward(g)

    ms = best_ms(fwd, seconds)
    ms_fb = best_ms(fwdbwd, seconds)
    return ms, ms_fb, peak_mb(fwdbwd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", required=True, help="JSON array printed by `lmforge ops perf --json`")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=0.3, help="timing budget per function")
    # linear_attention_peer's estimate is conservative (the quadratic form's fwd+bwd at L=4K is
    # estimated above 4 GB and peaks at 1.1 GB), so the default allows 8 GB.
    ap.add_argument("--max-gb", type=float, default=8.0, help="skip forms whose intermediates exceed this")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open(a.cases) as f:
        text = f.read()
    cases = json.loads(text[text.find("["):])
    for c in cases:
        op, shape, dtype = c.get("op", ""), c.get("shape", ""), c.get("dtype", "")
        rec = {"op": op, "shape": shape, "dtype": dtype, "torch": "torch " + torch.__version__.split("+")[0]}
        try:
            s, dt = ints(shape), DTYPES[dtype]
            if op == "fftconv":
                fn, inputs, note = case_fftconv(s, dt)
                variants = [(fn, inputs, "rfft/irfft" + (": " + note if note else ""))]
            elif op == "linear_attention":
                variants = case_linear_attention(s, dt, a.max_gb)
            elif op == "banded_attn":
                variants = [(*case_banded(s, dt), "masked full softmax attention")]
            elif op == "flash_attention":
                variants = case_flash_attention(s, dt)
            elif op == "linear_xent":
                variants = [(*case_linear_xent(s, dt), "F.linear + F.cross_entropy")]
            elif op == "monarch":
                variants = [(*case_monarch(s, dt), "two-bmm Monarch (fly)")]
            elif op == "linear":
                variants = [(*case_linear(s, dt), "F.linear")]
            elif op == "hyena":
                variants = [(*case_hyena(s, dt), "safari HyenaOperator (rfft/irfft long conv)")]
            elif op == "shortconv":
                variants = [(*case_shortconv(s, dt), "transpose + depthwise F.conv1d")]
            else:
                rec["skipped"] = "no PyTorch peer for this op"
                print(json.dumps(rec), flush=True)
                continue
            if not variants:
                rec["skipped"] = f"every peer form needs more than {a.max_gb} GB"
                print(json.dumps(rec), flush=True)
                continue
            # The better form per pass (a form may win forward and lose forward+backward); peak
            # memory is the form that is best at forward+backward.
            timed = [(*time_case(fn, inputs, a.seconds), name) for fn, inputs, name in variants]
            fwd = min(timed, key=lambda t: t[0])
            fb = min(timed, key=lambda t: t[1])
            name = fb[3] if fwd[3] == fb[3] else f"fwd: {fwd[3]}, fwd+bwd: {fb[3]}"
            rec.update({"peer": name, "peer_ms": round(fwd[0], 4), "peer_ms_fb": round(fb[1], 4),
                        "peer_peak_mb": round(fb[2], 1)})
        except Exception as e:  # one case's failure is recorded, the others still run
            rec["error"] = f"{type(e).__name__}: {e}"[:300]
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()

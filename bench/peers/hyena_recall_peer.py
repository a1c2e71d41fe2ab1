#!/usr/bin/python3
"""Independent PyTorch Hyena on associative recall (docs/benchmarks/hyena_recall.md).

A 2-layer pre-LN LM (tied embeddings, no positional embedding, GELU MLP x4, final LayerNorm) whose
mixer is the Hyena operator of order 2 as the safari code defines it (in_proj -> depthwise causal
conv k=3 -> [x0, x1, v]; y = out_proj(x0 * (h * (x1 v) + bias * (x1 v))), implicit filter
h = MLP(z(t)) with shared-frequency sine activations and exponential decay; FFT conv with n = 2L)
or, with MIXER=conv, the same layer without the gates x0, x1 (the ungated long convolution).
Initialisation as safari's LM ends with it: every Linear N(0, 0.02^2) with zero bias (the filter
MLP's too), out_proj 0.02/sqrt(2 n_layers), conv default, skip bias N(0,1). AdamW betas 0.9/0.95,
weight decay on matrices except the filter MLP (wd 0), constant lr, no gradient clipping, fp32,
1 thread. Data: MQAR batches as lmforge's generator (keys from [1, V/2), values from [V/2, V),
context k1 v1 .. kK vK, each key queried once at an even offset after it with power-law gaps
(a = 0.01), other positions 0). Prints: step, train loss, answer accuracy on 256 fixed sequences, s.
Usage: /usr/bin/python3 bench/peers/hyena_recall_peer.py V L K B D STEPS LR MIXER [SINE_FREQ]
  e.g. /usr/bin/python3 bench/peers/hyena_recall_peer.py 30 64 8 32 64 1000 1e-3 hyena 10
"""
import math, sys, time, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(1); torch.manual_seed(0)
V, L, K, B, D, STEPS = [int(a) for a in sys.argv[1:7]]
LR, MIXER = float(sys.argv[7]), sys.argv[8]
FREQ = float(sys.argv[9]) if len(sys.argv) > 9 else 10.0
NL, W, EMB = 2, 64, 5
gap_w = torch.tensor([0.01 * (g + 1.0) ** (0.01 - 1) for g in range((L - 2 * K) // 2)])
def batch(n):
    x = torch.zeros(n, L, dtype=torch.long); y = torch.full((n, L), -100)
    for b in range(n):
        keys = torch.randperm(V // 2 - 1)[:K] + 1; vals = torch.randperm(V - V // 2)[:K] + V // 2
        x[b, 0:2*K:2] = keys; x[b, 1:2*K:2] = vals
        pos = 2 * K + 2 * torch.multinomial(gap_w, K, replacement=False)
        x[b, pos] = keys; y[b, pos] = vals
    return x, y
class Hyena(nn.Module):
    def __init__(s, gated):
        super().__init__(); s.gated = gated
        s.in_proj = nn.Linear(D, 3 * D); s.out_proj = nn.Linear(D, D)
        s.short = nn.Conv1d(3 * D, 3 * D, 3, groups=3 * D, padding=2)
        t = torch.linspace(0, 1, L)[:, None]; bands = (EMB - 1) // 2
        w = 2 * math.pi * torch.arange(L)[:, None] / L; f = torch.linspace(1e-4, bands - 1, bands)[None]
        s.register_buffer('z', torch.cat([t, torch.cos(f * w), -torch.sin(f * w)], 1)); s.register_buffer('t', t)
        s.register_buffer('decay', torch.linspace(math.log(1e-2) / 1.5, math.log(1e-2) / 0.3, D).abs())
        s.freq = nn.Parameter(FREQ * torch.ones(W))
        s.mlp = nn.ModuleList([nn.Linear(EMB, W), nn.Linear(W, W), nn.Linear(W, W), nn.Linear(W, D, bias=False)])
        s.bias = nn.Parameter(torch.randn(D))
    def filt(s):
        h = s.z
        for i, lin in enumerate(s.mlp):
            h = lin(h)
            if i < 3: h = torch.sin(s.freq * h)
        return (h * torch.exp(-s.t * s.decay)).t()  # (D, L)
    def forward(s, u):
        x0, x1, v = s.short(s.in_proj(u).transpose(1, 2))[..., :L].split(D, 1)
        if s.gated: v = v * x1
        y = torch.fft.irfft(torch.fft.rfft(v, n=2*L) * torch.fft.rfft(s.filt(), n=2*L), n=2*L)[..., :L] + v * s.bias[:, None]
        if s.gated: y = y * x0
        return s.out_proj(y.transpose(1, 2))
class Block(nn.Module):
    def __init__(s):
        super().__init__(); s.n1 = nn.LayerNorm(D); s.mix = Hyena(MIXER == 'hyena')
        s.n2 = nn.LayerNorm(D); s.f1 = nn.Linear(D, 4 * D); s.f2 = nn.Linear(4 * D, D)
    def forward(s, x):
        x = x + s.mix(s.n1(x))
        return x + s.f2(F.gelu(s.f1(s.n2(x))))
class M(nn.Module):
    def __init__(s):
        super().__init__(); s.e = nn.Embedding(V, D); s.b = nn.Sequential(*[Block() for _ in range(NL)]); s.n = nn.LayerNorm(D)
    def forward(s, x): return s.n(s.b(s.e(x))) @ s.e.weight.t()
m = M()
for name, mod in m.named_modules():
    if isinstance(mod, nn.Linear):
        nn.init.normal_(mod.weight, std=0.02 / (math.sqrt(2 * NL) if name.endswith('out_proj') else 1.0))
        if mod.bias is not None: nn.init.zeros_(mod.bias)
nn.init.normal_(m.e.weight, std=0.02)
filt = [p for n, p in m.named_parameters() if '.mlp.' in n or n.endswith('.freq')]
fid = {id(p) for p in filt}
rest = [p for p in m.parameters() if id(p) not in fid]
opt = torch.optim.AdamW([{'params': [p for p in rest if p.dim() > 1], 'weight_decay': 0.1},
                         {'params': [p for p in rest if p.dim() <= 1], 'weight_decay': 0.0},
                         {'params': filt, 'weight_decay': 0.0}], lr=LR, betas=(0.9, 0.95))
xv, yv = batch(256)
t0 = time.time()
for step in range(1, STEPS + 1):
    x, y = batch(B)
    loss = F.cross_entropy(m(x).view(-1, V), y.view(-1))
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 250 == 0:
        with torch.no_grad():
            lg = m(xv); msk = yv != -100
            acc = (lg.argmax(-1)[msk] == yv[msk]).float().mean().item()
        print(step, round(loss.item(), 3), round(acc, 3), round(time.time() - t0, 1), flush=True)

#!/usr/bin/python3
"""Independent PyTorch check of the MQAR training plateau (docs/benchmarks/mqar.md, calibration).

A minimal 2-layer pre-LN GPT (learned positions, tied embeddings, GELU MLP x4, AdamW, betas 0.9/0.95,
wd 0.1, clip 1.0, constant lr, fp32, 1 thread) trained on Zoology-style MQAR batches generated here
(keys from [1, V/2), values from [V/2, V), queries at even offsets after the context, other
query-region tokens random). Prints: step, train loss, answer accuracy on 256 fixed sequences,
seconds. It exists to show that the plateau at 1/K accuracy is the task, not an lmforge bug.
Usage: /usr/bin/python3 bench/peers/mqar_peer.py V L K B D H STEPS LR
  e.g. /usr/bin/python3 bench/peers/mqar_peer.py 64 32 4 32 64 2 1500 3e-3
"""
import math, sys, time, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(1); torch.manual_seed(0)
V, L, K, B, D, H, STEPS, LR = [float(a) if '.' in a or 'e' in a else int(a) for a in sys.argv[1:9]]
def batch(B):
    x = torch.zeros(B, L, dtype=torch.long); y = torch.full((B, L), -100)
    for b in range(B):
        keys = torch.randperm(V // 2 - 1)[:K] + 1; vals = torch.randperm(V - V // 2)[:K] + V // 2
        x[b, 0:2*K:2] = keys; x[b, 1:2*K:2] = vals
        gaps = torch.randperm((L - 2*K) // 2)[:K]
        pos = 2*K + 2*gaps
        x[b, pos] = keys; y[b, pos] = vals
        z = x[b] == 0; z[:2*K] = False; x[b][z] = torch.randint(V, (int(z.sum()),))
    return x, y
class Block(nn.Module):
    def __init__(s):
        super().__init__(); s.n1 = nn.LayerNorm(D); s.qkv = nn.Linear(D, 3*D); s.o = nn.Linear(D, D)
        s.n2 = nn.LayerNorm(D); s.f1 = nn.Linear(D, 4*D); s.f2 = nn.Linear(4*D, D)
    def forward(s, x):
        q, k, v = s.qkv(s.n1(x)).view(x.size(0), L, 3, H, D // H).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-1, -2)) / math.sqrt(D // H)
        a = a.masked_fill(torch.triu(torch.ones(L, L, dtype=torch.bool), 1), float('-inf')).softmax(-1)
        x = x + s.o((a @ v).transpose(1, 2).reshape(x.shape))
        return x + s.f2(F.gelu(s.f1(s.n2(x))))
class M(nn.Module):
    def __init__(s):
        super().__init__(); s.e = nn.Embedding(V, D); s.p = nn.Embedding(L, D); s.b = nn.Sequential(Block(), Block()); s.n = nn.LayerNorm(D)
    def forward(s, x): return s.n(s.b(s.e(x) + s.p.weight)) @ s.e.weight.t()
m = M()
for p in m.parameters():
    if p.dim() > 1: nn.init.normal_(p, std=0.02)
opt = torch.optim.AdamW(m.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.1)
xv, yv = batch(256)
t0 = time.time()
for step in range(1, STEPS + 1):
    x, y = batch(B)
    loss = F.cross_entropy(m(x).view(-1, V), y.view(-1))
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    if step % 250 == 0:
        with torch.no_grad():
            lg = m(xv); msk = yv != -100
            acc = (lg.argmax(-1)[msk] == yv[msk]).float().mean().item()
        print(step, round(loss.item(), 3), round(acc, 3), round(time.time() - t0, 1), flush=True)

#!/usr/bin/python3
"""PyTorch peer of lmforge's decoder LM, written the way a PyTorch user would (nanoGPT style).

Same architecture and parameter names as lmforge (attention mixer with fused qkv, RoPE in the
GPT-NeoX half-split layout, pre-norm LayerNorm, GELU MLP, tied embeddings), so that the two can
start from the same weights and train on the same batches; the step benchmark
(bench/gpt_step.sh) compares their losses and their time per step.

Runs under Debian's python3 (python3-torch 1.13) and under PyTorch 2.x (the peers environment of
scripts/setup-peers.sh); the pyenv python3 first on PATH cannot import torch.
  gpt_peer.py --write DIR ...   writes DIR/init.pt (weights) and DIR/batches.pt (token batches)
  gpt_peer.py --init DIR ...    trains on them and prints one JSON line
  --attention auto|manual|sdpa  auto (default): F.scaled_dot_product_attention where the torch has
                                it (2.x, as a user of 2.x writes it), else the masked softmax
  --compile                     torch.compile the model (2.x; the untimed warm-up steps compile)
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def rope(x, base):
    L, d = x.shape[-2], x.shape[-1]
    half = d // 2
    inv = base ** (-torch.arange(0, half, dtype=torch.float32) * (2.0 / d))
    ang = torch.outer(torch.arange(L, dtype=torch.float32), inv)
    cos = torch.cat([ang, ang], -1).cos().to(x.dtype)
    sin = torch.cat([ang, ang], -1).sin().to(x.dtype)
    rot = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rot * sin


class Attention(nn.Module):
    def __init__(self, d, heads, sdpa=False):
        super().__init__()
        self.h = heads
        self.sdpa = sdpa
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x):
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.h, D // self.h).permute(2, 0, 3, 1, 4)
        q, k = rope(q, 10000.0), rope(k, 10000.0)
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.out(y.transpose(1, 2).reshape(B, L, D))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D // self.h)
        mask = torch.triu(torch.ones(L, L, dtype=torch.bool), 1)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        return self.out((att @ v).transpose(1, 2).reshape(B, L, D))


class Mlp(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, d, heads, sdpa):
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.mixer = Attention(d, heads, sdpa)
        self.norm2 = nn.LayerNorm(d)
        self.ffn = Mlp(d)

    def forward(self, x):
        x = x + self.mixer(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class GPT(nn.Module):
    def __init__(self, vocab, d, layers, heads, sdpa=False):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList([Block(d, heads, sdpa) for _ in range(layers)])
        self.final_norm = nn.LayerNorm(d)
        std = 0.02
        for n, p in self.named_parameters():
            if n.endswith("bias"):
                nn.init.zeros_(p)
            elif "norm" in n:
                nn.init.ones_(p)
            elif n.endswith("out.weight") or n.endswith("fc2.weight"):
                nn.init.normal_(p, 0, std / math.sqrt(2 * layers))
            else:
                nn.init.normal_(p, 0, std)

    def forward(self, tokens, targets):
        x = self.embed(tokens)
        for b in self.layers:
            x = b(x)
        logits = F.linear(self.final_norm(x), self.embed.weight)
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", help="write init.pt and batches.pt into this folder and exit")
    ap.add_argument("--init", help="folder with init.pt and batches.pt to train on")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--attention", choices=["auto", "manual", "sdpa"], default="auto")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (PyTorch 2.x)")
    a = ap.parse_args()
    has_sdpa = hasattr(F, "scaled_dot_product_attention")
    if a.attention == "sdpa" and not has_sdpa:
        ap.error(f"--attention sdpa needs PyTorch 2.x (this is {torch.__version__})")
    if a.compile and not hasattr(torch, "compile"):
        ap.error(f"--compile needs PyTorch 2.x (this is {torch.__version__})")
    sdpa = a.attention == "sdpa" or (a.attention == "auto" and has_sdpa)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.write:
        torch.manual_seed(0)
        model = GPT(a.vocab, a.d, a.layers, a.heads)
        torch.save(dict(model.state_dict()), f"{a.write}/init.pt")
        n = a.steps + a.warmup
        toks = torch.randint(0, a.vocab, (n, a.batch, a.seq + 1))
        torch.save({"inputs": toks[..., :-1].contiguous(), "targets": toks[..., 1:].contiguous()},
                   f"{a.write}/batches.pt")
        return
    model = GPT(a.vocab, a.d, a.layers, a.heads, sdpa)
    model.load_state_dict(torch.load(f"{a.init}/init.pt"))
    batches = torch.load(f"{a.init}/batches.pt")
    step_model = torch.compile(model) if a.compile else model
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    losses, times = [], []
    for s in range(a.steps + a.warmup):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = step_model(batches["inputs"][s], batches["targets"][s])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if s >= a.warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    impl = f"torch {torch.__version__.split('+')[0]} " + ("sdpa" if sdpa else "manual") + (" compiled" if a.compile else "")
    print(json.dumps({"impl": impl, "precision": a.precision, "losses": losses,
                      "ms_per_step": 1000 * times[len(times) // 2],
                      "tokens_per_s": a.batch * a.seq / times[len(times) // 2],
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch peer of lmforge's linear_attention op: causal linear attention computed the usual ways.

  quadratic  A = tril(phi_q phi_k^T); y = A v / (A 1 + eps)             (O(L^2) time and memory)
  cumsum     S_t = cumsum_t(phi_k v^T); y = phi_q . S_t / (phi_q . cumsum(phi_k) + eps)
                                                                        (O(L F D) memory)
Inputs as in ops/linear_attention/cases.cpp: phi = exp(0.5 N(0,1)) features (B, H, L, F), v ~ N(0,1).
Prints one JSON line per measurement: form, L, dtype, mode (fwd | fwdbwd), best ms, peak MB
(resident high-water above the start, measured in a fresh process per point).
Run with Debian's /usr/bin/python3 (python3-torch 1.13).
"""
import argparse, json, resource, subprocess, sys, time

def quadratic(q, k, v, eps=1e-6):
    import torch
    A = torch.matmul(q, k.transpose(-2, -1)).tril()
    return torch.matmul(A, v) / (A.sum(-1, keepdim=True) + eps)


def cumsum(q, k, v, eps=1e-6):
    import torch
    S = torch.cumsum(k.unsqueeze(-1) * v.unsqueeze(-2), dim=2)      # (B, H, L, F, D)
    num = torch.matmul(q.unsqueeze(-2), S).squeeze(-2)
    den = (q * torch.cumsum(k, dim=2)).sum(-1, keepdim=True)
    return num / (den + eps)


FORMS = {"quadratic": quadratic, "cumsum": cumsum}


def measure(form, L, dtype, mode, B, H, F, D, threads, reps, eps=1e-6):
    import torch
    torch.set_num_threads(threads)
    dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    torch.manual_seed(0)
    q = torch.exp(0.5 * torch.randn(B, H, L, F)).to(dt)
    k = torch.exp(0.5 * torch.randn(B, H, L, F)).to(dt)
    v = torch.randn(B, H, L, D).to(dt)
    g = torch.randn(B, H, L, D).to(dt)

    fn = FORMS[form]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    best = float("inf")
    for _ in range(reps):
        if mode == "fwd":
            with torch.no_grad():
                t0 = time.perf_counter(); y = fn(q, k, v, eps); t1 = time.perf_counter()
        else:
            qq, kk, vv = (x.detach().requires_grad_() for x in (q, k, v))
            t0 = time.perf_counter(); y = fn(qq, kk, vv, eps); y.backward(g); t1 = time.perf_counter()
        best = min(best, (t1 - t0) * 1e3)
        del y
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 - base
    return {"form": form, "L": L, "dtype": dtype, "mode": mode, "B": B, "H": H, "F": F, "D": D,
            "threads": threads, "ms": round(best, 2), "peak_mb": round(peak, 1)}

def estimate_gb(form, L, B, H, F, D, mode):
    # bytes of the big intermediates (fp32 worst case), x3 for the backward's saved tensors and grads
    big = B * H * L * L * 4 * 3 if form == "quadratic" else B * H * L * F * D * 4 * 2
    return big * (3 if mode == "fwdbwd" else 1) / 1e9

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--L", default="1024,2048,4096,8192,16384,32768")
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--modes", default="fwd,fwdbwd")
    ap.add_argument("--forms", default="quadratic,cumsum")
    ap.add_argument("--B", type=int, default=1); ap.add_argument("--H", type=int, default=8)
    ap.add_argument("--F", type=int, default=64); ap.add_argument("--D", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-gb", type=float, default=4.0, help="skip points whose intermediates would exceed this")
    ap.add_argument("--one", help="internal: form,L,dtype,mode")
    a = ap.parse_args()
    if a.one:
        form, L, dtype, mode = a.one.split(",")
        print(json.dumps(measure(form, int(L), dtype, mode, a.B, a.H, a.F, a.D, a.threads, a.reps)))
        return
    for L in [int(x) for x in a.L.split(",")]:
        for dtype in a.dtypes.split(","):
            for mode in a.modes.split(","):
                for form in a.forms.split(","):
                    if estimate_gb(form, L, a.B, a.H, a.F, a.D, mode) > a.max_gb:
                        print(json.dumps({"form": form, "L": L, "dtype": dtype, "mode": mode, "skipped":
                                          f"needs > {a.max_gb} GB"}), flush=True)
                        continue
                    out = subprocess.run([sys.executable, __file__, "--one", f"{form},{L},{dtype},{mode}",
                                          "--B", str(a.B), "--H", str(a.H), "--F", str(a.F), "--D", str(a.D),
                                          "--threads", str(a.threads), "--reps", str(a.reps)],
                                         capture_output=True, text=True)
                    line = out.stdout.strip() or json.dumps({"form": form, "L": L, "dtype": dtype, "mode": mode,
                                                             "error": out.stderr.strip()[-200:]})
                    print(line, flush=True)

if __name__ == "__main__":
    main()

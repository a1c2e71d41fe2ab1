#!/usr/bin/env python3
"""Best-of-rounds table from the output of bench/monarch_sparse.sh (docs/benchmarks/monarch_sparse.md).

Usage: bench/monarch_sparse.sh 1 3 1.0 | tee run.txt; bench/monarch_sparse_table.py run.txt
Each cell is the minimum over the rounds; speedups are dense / Monarch of those minima; the last
column gives dense / Monarch within each round (same minutes), which the machine's load disturbs less.
"""
import re
import sys
from collections import defaultdict

best = defaultdict(lambda: float("inf"))
per_round = defaultdict(dict)  # (shape, dtype) -> round -> {kind: f+b ms}
section, rnd = "lmf", 0
for line in open(sys.argv[1]):
    if line.startswith("== round"):
        section, rnd = "lmf", rnd + 1
        continue
    if line.startswith("-- generic path"):
        section = "gen"
        continue
    f = line.split()
    if len(f) > 10 and f[0] in ("linear", "monarch") and f[1].startswith("B4096"):
        shape = f[1].replace("B4096_", "").replace("_nb4", "")
        kind = "dense" if f[0] == "linear" else ("mon" if section == "lmf" else "gen")
        fwd, fb = float(f[4]), float(f[9])
        per_round[(shape, f[2])].setdefault(rnd, {})[kind] = fb
        best[("lmf", kind, shape, f[2], "f")] = min(best[("lmf", kind, shape, f[2], "f")], fwd)
        best[("lmf", kind, shape, f[2], "fb")] = min(best[("lmf", kind, shape, f[2], "fb")], fb)
        continue
    m = re.match(r"B4096_(\S+)_nb4\s+(float32|bfloat16)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
    if m:
        shape, dt = m.group(1), {"float32": "fp32", "bfloat16": "bf16"}[m.group(2)]
        for kind, col in (("dense", 3), ("mon", 4)):
            best[("peer", kind, shape, dt, "f")] = min(best[("peer", kind, shape, dt, "f")], float(m.group(col)))
        for kind, col in (("dense", 5), ("mon", 6)):
            best[("peer", kind, shape, dt, "fb")] = min(best[("peer", kind, shape, dt, "fb")], float(m.group(col)))

names = {"d1024": "d 1024 -> 1024", "d1024_to4096": "d 1024 -> 4096", "d4096_to1024": "d 4096 -> 1024",
         "d2048": "d 2048 -> 2048"}
have_gen = any(k[1] == "gen" for k in best)
hdr = ("| shape | dtype | lmforge dense f+b ms | lmforge Monarch f+b ms | **lmforge speedup** |"
       + (" generic path f+b ms | generic speedup |" if have_gen else "")
       + " peer dense f+b | peer Monarch f+b | peer speedup | fwd: lmforge dense / Monarch ms |"
       + " lmforge speedup per round |")
print(hdr)
print("|" + "---|" * (hdr.count("|") - 1))
for dt in ("fp32", "bf16"):
    for shape in names:
        g = lambda src, kind, mode: best[(src, kind, shape, dt, mode)]
        d, mo = g("lmf", "dense", "fb"), g("lmf", "mon", "fb")
        if d == float("inf"):
            continue
        row = f"| {names[shape]} | {dt} | {d:.1f} | {mo:.1f} | **{d / mo:.2f}x** |"
        if have_gen:
            ge = g("lmf", "gen", "fb")
            row += f" {ge:.1f} | {d / ge:.2f}x |"
        pd, pm = g("peer", "dense", "fb"), g("peer", "mon", "fb")
        row += f" {pd:.1f} | {pm:.1f} | {pd / pm:.2f}x |" if pd < float("inf") else " - | - | - |"
        row += f" {g('lmf', 'dense', 'f'):.1f} / {g('lmf', 'mon', 'f'):.1f} |"
        rs = [v["dense"] / v["mon"] for _, v in sorted(per_round[(shape, dt)].items()) if "dense" in v and "mon" in v]
        row += " " + ", ".join(f"{x:.2f}" for x in rs) + " |"
        print(row)

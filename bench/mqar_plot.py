#!/usr/bin/python3
"""MQAR accuracy vs model width, one line per mixer, as a standalone SVG (no matplotlib).

Reads the sweep's run directories <OUT>/<mixer>_w<width> (written by bench/mqar_sweep.sh): the
evaluation at step STEP from log.jsonl, or metrics.json when no STEP is given, and writes an SVG
with a log2 width axis, accuracy 0..1, chance level dashed, and a legend.
Usage: /usr/bin/python3 bench/mqar_plot.py OUT_DIR out.svg [chance] [step]
"""
import json
import math
import os
import re
import sys

MIXERS = [  # (run name, legend label, colour)
    ("softmax", "softmax attention", "#000000"),
    ("hedgehog", "Hedgehog", "#d62728"),
    ("taylor", "Taylor (Based)", "#1f77b4"),
    ("elu", "1+ELU", "#2ca02c"),
    ("relu", "ReLU", "#9467bd"),
    ("performer", "Performer", "#8c564b"),
    ("hyena", "Hyena", "#ff7f0e"),
]


def load(out_dir, step=None):
    acc = {}
    for name in sorted(os.listdir(out_dir)):
        m = re.fullmatch(r"([a-z]+)_w(\d+)", name)
        if not m:
            continue
        metrics = None
        if step is None:
            f = os.path.join(out_dir, name, "metrics.json")
            if os.path.isfile(f):
                with open(f) as fh:
                    metrics = json.load(fh)
        else:
            f = os.path.join(out_dir, name, "log.jsonl")
            if os.path.isfile(f):
                with open(f) as fh:
                    for line in fh:
                        r = json.loads(line)
                        if r.get("type") == "eval" and r.get("step") == step:
                            metrics = r
        if metrics and "accuracy" in metrics:
            acc.setdefault(m.group(1), {})[int(m.group(2))] = float(metrics["accuracy"])
    return acc


def svg(acc, chance=None, title="MQAR accuracy vs model width"):
    W, H = 640, 400
    left, right, top, bottom = 60, 190, 40, 50
    pw, ph = W - left - right, H - top - bottom
    widths = sorted({w for per in acc.values() for w in per})
    if not widths:
        raise SystemExit("no metrics.json with an accuracy found")
    lo, hi = math.log2(widths[0]), math.log2(widths[-1])
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.15 * (hi - lo)
    lo, hi = lo - pad, hi + pad

    def x(w):
        return left + (math.log2(w) - lo) / (hi - lo) * pw

    def y(a):
        return top + (1.0 - a) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{left + pw / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>']
    for i in range(6):  # horizontal grid + y labels
        a = i / 5
        out.append(f'<line x1="{left}" y1="{y(a):.1f}" x2="{left + pw}" y2="{y(a):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y(a) + 4:.1f}" text-anchor="end">{a:.1f}</text>')
    for w in widths:  # x ticks
        out.append(f'<line x1="{x(w):.1f}" y1="{top}" x2="{x(w):.1f}" y2="{top + ph}" stroke="#eee"/>')
        out.append(f'<text x="{x(w):.1f}" y="{top + ph + 16}" text-anchor="middle">{w}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{left + pw / 2}" y="{H - 12}" text-anchor="middle">model width d_model (log scale)</text>')
    out.append(f'<text x="16" y="{top + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {top + ph / 2})">MQAR accuracy</text>')
    if chance is not None:
        out.append(f'<line x1="{left}" y1="{y(chance):.1f}" x2="{left + pw}" y2="{y(chance):.1f}" '
                   f'stroke="#888" stroke-dasharray="5,4"/>')
        out.append(f'<text x="{left + pw - 4}" y="{y(chance) - 4:.1f}" text-anchor="end" fill="#666">'
                   f'chance 1/K = {chance:.3f}</text>')
    ly = top + 10
    known = {m for m, _, _ in MIXERS}
    extra = [(m, m, "#7f7f7f") for m in sorted(acc) if m not in known]
    for name, label, colour in MIXERS + extra:
        per = acc.get(name)
        if not per:
            continue
        pts = [(x(w), y(a)) for w, a in sorted(per.items())]
        if len(pts) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py in pts:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}"/>')
        lx = left + pw + 15
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 24}" y2="{ly}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<circle cx="{lx + 12}" cy="{ly}" r="3.5" fill="{colour}"/>')
        out.append(f'<text x="{lx + 30}" y="{ly + 4}">{label}</text>')
        ly += 20
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    chance = float(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else None
    step = int(sys.argv[4]) if len(sys.argv) > 4 else None
    title = "MQAR accuracy vs model width" + (f" ({step} steps)" if step else "")
    with open(sys.argv[2], "w") as fh:
        fh.write(svg(load(sys.argv[1], step), chance, title))


if __name__ == "__main__":
    main()

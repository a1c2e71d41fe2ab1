"""Shared measurement helpers of the PyTorch peers (run by Debian's /usr/bin/python3).

best_ms: best wall time of fn() in milliseconds after one untimed warm-up call (lazy initialisation:
FFT plans, oneDNN primitives, PyTorch 2.x's first backward, is not the op's cost); repeats while
the time budget lasts (at least `min_reps`), but a call slower than the whole budget is timed once,
so the 64K-length cases of the kernels suite do not take minutes.
peak_mb: resident-memory high-water of one fn() above the resident size before it (VmHWM after
resetting it through /proc/self/clear_refs), the way `lmforge ops perf` measures its own.
"""
import ctypes
import gc
import time


def best_ms(fn, seconds, min_reps=3, max_reps=50):
    fn()
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if first > seconds:
        return first * 1e3
    best, total, reps = first, 0.0, 0
    while reps < max_reps and (reps < min_reps or total < seconds):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, total, reps = min(best, dt), total + dt, reps + 1
    return best * 1e3


def _status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return float(line.split()[1])
    return 0.0


def peak_mb(fn):
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    rss0 = _status_kb("VmRSS:")
    fn()
    return max(0.0, _status_kb("VmHWM:") - rss0) / 1024.0

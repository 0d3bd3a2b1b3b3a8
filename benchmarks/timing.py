"""Timing helpers the benchmarks share: one warm-up call, then the median (or best) of `repeat` calls."""

from __future__ import annotations

import time

import numpy as np


def _times(fn, repeat: int) -> list[float]:
    fn()  # warm-up: first-call costs (page faults, lazy imports) are not what we compare
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_ms(fn, repeat: int) -> float:
    """Median milliseconds per call of `fn`: robust to a noisy, shared machine."""
    return float(np.median(_times(fn, repeat))) * 1e3


def interleaved_ms(fns: dict, repeat: int) -> dict:
    """Median milliseconds per call of each of `fns` (name -> function), timed in turns (one call of each per
    round): on a shared machine whose load changes within a run, every candidate sees the same load."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) * 1e3 for name, t in times.items()}


def best(fn, repeat: int = 7) -> float:
    """Fastest seconds per call of `fn`."""
    return min(_times(fn, repeat))


def row(what: str, ms: float, base: float | None = None, target: str = "", width: int = 52) -> None:
    """One printed line: what, milliseconds, the ratio to `base` (same run) and the target."""
    ratio = f"{ms / base:7.2f}x" if base else " " * 8
    print(f"  {what:{width}} {ms:9.3f} ms {ratio}  {target}")

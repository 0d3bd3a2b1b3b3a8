"""Timing helpers the benchmarks share: one warm-up call, then the median (or best) of `repeat` calls, and a timed
Cython run."""

from __future__ import annotations

import time
from pathlib import Path

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


def cythonize(pyx: Path, module_name: str) -> tuple[Path, float]:
    """Cython on `pyx` in this process as aotgraph runs it (language level 3, Cython's shared utility module), as
    module `module_name`: the C file and the seconds it took."""
    from Cython.Compiler import Main

    from aotgraph.toolchain.compiler import shared_utility_name

    options = Main.CompilationOptions(Main.default_options, language_level=3, output_file=str(pyx.with_suffix(".c")),
                                      shared_utility_qualified_name=shared_utility_name())
    start = time.perf_counter()
    Main.compile_single(str(pyx), options, full_module_name=module_name)
    return pyx.with_suffix(".c"), time.perf_counter() - start

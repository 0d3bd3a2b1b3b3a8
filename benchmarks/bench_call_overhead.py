"""Call overhead of a compiled function: `f = ag.function([x], 2 * x)`, `f(4.0)`.

    python benchmarks/bench_call_overhead.py [--number 200000]

Measures, in one run: the in-process FAST_RUN function (positional calls run in the compiled module's
C front, `_FastCall`, without entering Python), the same function built with ag.build and imported as a
module, each with and without trust_input, the bare kernel (the thunk alone), a function with a
shared-variable update (the C front again, with the state lock and the commit), FAST_COMPILE, and
numpy's own `2 * a`. Targets (issue 3): <= 0.5 us for f(4.0) and >= 8x faster than PyTensor's C-mode
function, <= 0.25 us with trust_input. Ratios are against numpy's `2 * a` on the same 0-d array.

Then every call path of `g = function([x, Param(y, default=1.0, name='y')], x * y + 2)` (issue 15): keywords,
defaults, all keywords, and a default that the call updates (`In(s, value=0.0, update=s + x)`), each as a
ratio to the positional call of the same function, measured interleaved in this run (target: <= 1.5x).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import timeit

import numpy as np

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.codegen.aot import build


def per_call(fn, number: int) -> float:
    """Best of 5 runs, in microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def per_call_interleaved(calls: dict, number: int, rounds: int = 7) -> dict:
    """Best per-call time of each of `calls` in microseconds, the calls taking turns (a load spike on a shared
    machine then hits them all alike)."""
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for what, fn in calls.items():
            best[what] = min(best[what], timeit.timeit(fn, number=number) / number * 1e6)
    return best


def call_paths(number: int) -> dict:
    """Keyword and default calls against the positional call of the same compiled function."""
    x, y, s = at.dscalar("x"), at.dscalar("y"), at.dscalar("s")
    g = ag.function([x, ag.Param(y, default=1.0, name="y")], x * y + 2, mode="FAST_RUN")
    h = ag.function([x, ag.In(s, value=0.0, update=s + x, name="s")], x * s, mode="FAST_RUN")
    return per_call_interleaved({
        "g(4.0, 3.0) positional": lambda: g(4.0, 3.0),
        "g(4.0, y=3.0) keyword": lambda: g(4.0, y=3.0),
        "g(x=4.0, y=3.0) all keywords": lambda: g(x=4.0, y=3.0),
        "g(4.0) default": lambda: g(4.0),
        "h(4.0, 0.5) positional, updates s": lambda: h(4.0, 0.5),
        "h(4.0) default s, updated by the call": lambda: h(4.0),
    }, number)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000)
    args = parser.parse_args(argv)
    n = args.number

    x = at.dscalar("x")
    f = ag.function([x], 2 * x, mode="FAST_RUN", name="double")
    ref = ag.function([x], 2 * x, mode="FAST_COMPILE")
    a = np.array(4.0)
    out = tempfile.mkdtemp(prefix="aotgraph-bench-")
    build({"double": f}, "bench_call_overhead_mod", out)
    sys.path.insert(0, out)
    mod = importlib.import_module("bench_call_overhead_mod")

    rows = {}
    rows["numpy: 2 * a (0-d array)"] = per_call(lambda: 2 * a, n)
    rows["FAST_COMPILE f(4.0)"] = per_call(lambda: ref(4.0), n // 10)
    rows["in-process FAST_RUN f(4.0)"] = per_call(lambda: f(4.0), n)
    rows["in-process FAST_RUN f(a)"] = per_call(lambda: f(a), n)
    thunk, values = f._thunk, [a]
    rows["kernel alone: thunk([a], None)"] = per_call(lambda: thunk(values, None), n)
    total = ag.shared(0.0, name="total")
    accumulate = ag.function([x], 2 * x, updates=[(total, total + x)], mode="FAST_RUN")
    rows["in-process FAST_RUN f(4.0), with an update"] = per_call(lambda: accumulate(4.0), n // 10)
    g = mod.double
    rows["built module f(4.0)"] = per_call(lambda: g(4.0), n)
    rows["built module f(a)"] = per_call(lambda: g(a), n)
    f.trust_input = g.trust_input = True
    rows["in-process FAST_RUN f(a), trust_input"] = per_call(lambda: f(a), n)
    rows["built module f(a), trust_input"] = per_call(lambda: g(a), n)
    try:
        import pytensor
        import pytensor.tensor as pt

        px = pt.dscalar()
        pf = pytensor.function([px], 2 * px)
        rows["PyTensor C mode f(4.0)"] = per_call(lambda: pf(4.0), n // 10)
    except ImportError:
        pass

    base = rows["numpy: 2 * a (0-d array)"]
    print(f"{'what':45} {'us/call':>9} {'x numpy':>8}")
    for what, us in rows.items():
        print(f"{what:45} {us:9.3f} {us / base:8.2f}")
    pytensor_c = rows.get("PyTensor C mode f(4.0)")
    if pytensor_c is not None:
        print(f"PyTensor C mode / in-process FAST_RUN f(4.0): {pytensor_c / rows['in-process FAST_RUN f(4.0)']:.1f}x")
    print("targets: f(4.0) <= 0.5 us and >= 8x faster than PyTensor's C mode, trust_input <= 0.25 us")
    paths = call_paths(n // 4)
    print(f"\n{'call path (interleaved)':45} {'us/call':>9} {'x positional':>12}")
    positional = {"g": paths["g(4.0, 3.0) positional"], "h": paths["h(4.0, 0.5) positional, updates s"]}
    for what, us in paths.items():
        print(f"{what:45} {us:9.3f} {us / positional[what[0]]:12.2f}")
    print("target: every keyword or default call <= 1.5x the positional call of the same function")
    rows.update(paths)
    return rows


if __name__ == "__main__":
    main()

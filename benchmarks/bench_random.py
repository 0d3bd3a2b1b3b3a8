"""Drawing 10**7 uniform float64 numbers: aotgraph's compiled Philox draw against numpy's Generator.random.

Target (issue 11): at most 1x numpy's `Generator.random` (PCG64). Prints the best of several calls of each,
measured in this run, and the ratio; also float32, normal, and a dropout mask (binomial n=1 times an input).
Threads: the draw splits its blocks over `aotgraph.config.num_threads` threads (the same numbers with any
count); run with AOTGRAPH_NUM_THREADS=1 for the single-thread figure.

    python benchmarks/bench_random.py [n]
"""

from __future__ import annotations

import sys
import tempfile

import numpy as np
from timing import best  # noqa: E402 - benchmarks/timing.py, beside this script

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.tensor.shared_randomstreams import RandomStreams


def built_uniform(function):
    """The same function in a module built with ag.build (portable flags, as wheels: no -march=native)."""
    directory = tempfile.mkdtemp(prefix="bench-random-")
    ag.build({"uniform64": function}, "bench_random_module", directory)
    sys.path.insert(0, directory)
    import bench_random_module

    return bench_random_module.uniform64


def main(n: int) -> None:
    streams = RandomStreams(seed=1234)
    x = at.dvector("x")
    uniform64 = ag.function([], streams.uniform((n,)), name="uniform64")
    uniform32 = ag.function([], streams.uniform((n,), dtype="float32"), name="uniform32")
    normal64 = ag.function([], streams.normal((n,)), name="normal64")
    dropout = ag.function([x], x * streams.binomial(size=x.shape, p=0.5, dtype="float64"), name="dropout")
    built = built_uniform(uniform64)
    rng = np.random.default_rng(1234)
    data = np.ones(n)
    rows = [
        ("uniform float64", best(uniform64), best(lambda: rng.random(n))),
        ("uniform float64, ag.build module", best(built), best(lambda: rng.random(n))),
        ("uniform float32", best(uniform32), best(lambda: rng.random(n, dtype=np.float32))),
        ("normal float64", best(normal64), best(lambda: rng.standard_normal(n))),
        ("dropout x * binomial(p=0.5)", best(lambda: dropout(data)), best(lambda: data * (rng.random(n) < 0.5))),
    ]
    print(f"n = {n:.0e}, aotgraph threads = {ag.config.num_threads}")
    print(f"{'draw':34s} {'aotgraph ms':>12s} {'numpy ms':>10s} {'ratio':>7s}")
    for name, ours, theirs in rows:
        print(f"{name:34s} {ours * 1e3:12.2f} {theirs * 1e3:10.2f} {ours / theirs:7.2f}")
    print("target: uniform float64 ratio <= 1.0 (numpy's Generator.random, PCG64)")


if __name__ == "__main__":
    main(int(float(sys.argv[1])) if len(sys.argv) > 1 else 10**7)

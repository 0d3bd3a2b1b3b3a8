"""Graph optimization time: rewrite_graph on elementwise graphs of 1k to 10k nodes, and how it grows.

    python benchmarks/bench_rewrite.py [--sizes 1000 2000 5000 10000] [--repeat 3]

Each graph is a random DAG of elementwise ops over two vectors, with work for every pass: repeated
sub-expressions (merge), constant sub-expressions (fold), x*1, x+0, x**2, x**0.5 (canonicalize) and
log(1+x), exp(x)-1 (stabilize). The target is <= 2 s for 5,000 nodes and linear growth: the last column
is (time per node) / (time per node of the smallest graph), which stays near 1 when growth is linear
(10x the nodes in 10x the time) and would reach about 10 for quadratic growth from 1k to 10k. (The smallest
graph fits in the CPU caches: the time per node rises about 1.5x up to 5k nodes, then stays flat up to 40k.)
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import aotgraph.tensor as at
from aotgraph.graph.basic import toposort
from aotgraph.rewrite import rewrite_graph

sys.setrecursionlimit(10_000)


def make_graph(n_nodes: int, seed: int = 0):
    """An elementwise DAG of about `n_nodes` nodes; returns its outputs."""
    rng = random.Random(seed)
    x, y = at.dvector("x"), at.dvector("y")
    values = [x, y]

    def pick():
        return values[-1 - min(int(rng.expovariate(0.3)), len(values) - 1)]  # mostly recent values: a deep graph

    makers = [
        lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, lambda a, b: at.maximum(a, b),
        lambda a, b: at.tanh(a), lambda a, b: at.exp(-a) * b, lambda a, b: a * 1 + 0,
        lambda a, b: a ** 2, lambda a, b: abs(a) ** 0.5, lambda a, b: at.log(1 + abs(a)),
        lambda a, b: at.exp(a * 0.001) - 1, lambda a, b: (a + b) * (a + b),
        lambda a, b: a * (at.constant(2.0) * at.constant(3.0)),
    ]
    while len(toposort(values[-1:])) < n_nodes:
        for _ in range(max(1, (n_nodes - len(values)) // 4)):
            values.append(rng.choice(makers)(pick(), pick()))
    return [values[-1]]


def best_time(outputs, pipeline: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        rewrite_graph(outputs, pipeline)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'nodes':>7} {'after':>7} {'fast_compile s':>15} {'fast_run s':>11} {'us/node':>8} {'growth':>7}")
    base = None
    runs = []
    for size in args.sizes:
        outputs = make_graph(size)
        n = len(toposort(outputs))
        after = len(toposort(rewrite_graph(outputs, "fast_run")))
        t_compile = best_time(outputs, "fast_compile", args.repeat)
        t_run = best_time(outputs, "fast_run", args.repeat)
        per_node = t_run / n
        base = base or per_node
        print(f"{n:>7} {after:>7} {t_compile:>15.3f} {t_run:>11.3f} {per_node * 1e6:>8.1f} {per_node / base:>7.2f}")
        runs.append((n, t_run))
    (n0, t0), (n1, t1) = runs[0], runs[-1]
    print(f"growth: {n1 / n0:.1f}x the nodes took {t1 / t0:.1f}x the time "
          f"(linear: {n1 / n0:.0f}x, quadratic: {(n1 / n0) ** 2:.0f}x)")


if __name__ == "__main__":
    main()

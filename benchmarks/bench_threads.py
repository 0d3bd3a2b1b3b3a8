"""Do two threads calling two different compiled functions run in parallel? (issue 6: long loops should release
the GIL.)

    python benchmarks/bench_threads.py [--size 2000000] [--calls 20]

For each pair of functions, times `calls` calls of the first then `calls` of the second in one thread
(sequential), then both at once in two threads (parallel); the speedup is sequential / parallel: about
2 on two free cores when the calls release the GIL, about 1 when they hold it. Pairs: two fused
elementwise loops (Cython loops), two kernels made of numpy calls (softmax, log_softmax: numpy ufuncs
and reductions, which release the GIL inside each call), and the same computations written with numpy
in the same run, for the ratio against numpy. Memory bandwidth bounds all of them: 2 is the ceiling.
Set AOTGRAPH_NUM_THREADS/ag.config.num_threads to 1 if the compiled loops use OpenMP threads themselves.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np

import aotgraph as ag
import aotgraph.tensor as at


def timed(work: list) -> float:
    """Seconds to run every callable of `work` in its own thread, all started together."""
    start = threading.Barrier(len(work) + 1)

    def run(fn):
        start.wait()
        fn()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in work]
    for t in threads:
        t.start()
    begin = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    return time.perf_counter() - begin


def speedup(f, g, calls: int, repeat: int = 3) -> tuple[float, float, float]:
    """(sequential seconds, parallel seconds, speedup), best of `repeat`."""

    def many(fn):
        return lambda: [fn() for _ in range(calls)]

    sequential = min(timed([lambda: (many(f)(), many(g)())]) for _ in range(repeat))
    parallel = min(timed([many(f), many(g)]) for _ in range(repeat))
    return sequential, parallel, sequential / parallel


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(x):
    s = x - x.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2_000_000)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--loop-threads", type=int, default=1, help="ag.config.num_threads (OpenMP threads per loop)")
    args = parser.parse_args(argv)
    n, calls = args.size, args.calls
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    m1, m2 = rng.standard_normal((n // 500, 500)), rng.standard_normal((n // 500, 500))

    x, y = at.dvectors("x", "y")
    p, q = at.dmatrices("p", "q")
    ag.config.num_threads = args.loop_threads  # 1: one thread per call, the question is whether two calls overlap
    loop1 = ag.function([x, y], at.exp(x) * y + at.sin(x), mode="FAST_RUN")
    loop2 = ag.function([x, y], at.tanh(x) * 2 - at.sqrt(abs(y)), mode="FAST_RUN")
    call1 = ag.function([p], at.softmax(p), mode="FAST_RUN")
    call2 = ag.function([q], at.log_softmax(q), mode="FAST_RUN")

    pairs = {
        "FAST_RUN fused loops (exp*y+sin | tanh*2-sqrt|y|)": (lambda: loop1(a, b), lambda: loop2(a, b)),
        "numpy, same loops": (lambda: np.exp(a) * b + np.sin(a), lambda: np.tanh(a) * 2 - np.sqrt(np.abs(b))),
        "FAST_RUN numpy-call kernels (softmax | log_softmax)": (lambda: call1(m1), lambda: call2(m2)),
        "numpy, same calls": (lambda: _softmax(m1), lambda: _log_softmax(m2)),
    }
    print(f"{os.cpu_count()} CPUs, arrays of {n} float64, {calls} calls per function per thread, "
          f"ag.config.num_threads={ag.config.num_threads}")
    print(f"{'pair':52} {'sequential s':>12} {'parallel s':>10} {'speedup':>8}")
    rows = {}
    for what, (f, g) in pairs.items():
        rows[what] = speedup(f, g, calls)
        seq, par, ratio = rows[what]
        print(f"{what:52} {seq:12.3f} {par:10.3f} {ratio:8.2f}")
    loops, numpy_loops = rows["FAST_RUN fused loops (exp*y+sin | tanh*2-sqrt|y|)"], rows["numpy, same loops"]
    print(f"compiled loops vs numpy: {loops[0] / numpy_loops[0]:.2f}x numpy's sequential time, "
          f"speedup from a second thread {loops[2]:.2f} (numpy {numpy_loops[2]:.2f})")
    return rows


if __name__ == "__main__":
    main()

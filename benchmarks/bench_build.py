"""Build time of the Theano tutorial's logistic-regression training function, cold and from the cache.

    python benchmarks/bench_build.py

Cold: a fresh build cache (a temporary AOTGRAPH_CACHE_DIR), so the compilers run (gcc alone for an in-process
module written in C, Cython and gcc for ag.build; Cython's shared utility module is built first, once per cache:
reported separately). Cache hit: the same graph built again in this process (a fresh graph, so everything but
the compiler runs: lowering, rendering, hashing, the cache lookup and import), and for ag.build, the
whole build of the same module again. Targets (issue 3): cold <= 5 s, cache hit <= 0.1 s. Ratios
against the time numpy takes to run one training step, to give a scale.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

_CACHE = tempfile.mkdtemp(prefix="aotgraph-bench-cache-")
os.environ["AOTGRAPH_CACHE_DIR"] = _CACHE

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import logistic_regression as lr  # noqa: E402

import aotgraph as ag  # noqa: E402
from aotgraph.codegen.aot import build  # noqa: E402
from aotgraph.toolchain import loader  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> dict:
    rng = np.random.RandomState(0)
    data = lr.make_data(rng)
    warm = ag.function([], ag.shared(np.zeros(2)) * 2, mode="FAST_RUN")  # builds Cython's shared utility module
    del warm
    rows = {}

    def usable(model):
        """`model` once both its functions can run: their first calls wait for background builds (the C compiler
        may still run when ag.function returns, see config.background_builds)."""
        model.train(*data)
        model.predict(data[0])
        return model

    rows["in-process cold build (ag.function FAST_RUN + first calls)"], model = timed(
        lambda: usable(lr.build_model(rng, mode="FAST_RUN")))
    loader._loaded.clear()  # forget the imported module: the next function() goes through the cache
    rows["in-process cache hit (same graph, new process state)"], _ = timed(
        lambda: usable(lr.build_model(np.random.RandomState(0), mode="FAST_RUN")))
    ref_model = lr.build_model(np.random.RandomState(0), mode="FAST_COMPILE")
    rows["FAST_COMPILE function() (no compilation)"], _ = timed(
        lambda: lr.build_model(np.random.RandomState(0), mode="FAST_COMPILE"))
    out = tempfile.mkdtemp(prefix="aotgraph-bench-build-")
    functions = {"train": ref_model.train, "predict": ref_model.predict}
    rows["ag.build cold (train + predict, one module)"], _ = timed(lambda: build(functions, "bench_logreg", out))
    rows["ag.build again (cache hit)"], _ = timed(lambda: build(functions, "bench_logreg", out))
    import timeit

    step_fast = min(timeit.repeat(lambda: model.train(*data), number=20, repeat=3)) / 20
    step_ref = min(timeit.repeat(lambda: ref_model.train(*data), number=20, repeat=3)) / 20
    print(f"{'what':55} {'seconds':>9}")
    for what, seconds in rows.items():
        print(f"{what:55} {seconds:9.3f}")
    print(f"one training step: FAST_RUN {step_fast * 1e3:.2f} ms, FAST_COMPILE {step_ref * 1e3:.2f} ms "
          f"(ratio {step_ref / step_fast:.2f})")
    print("targets: cold build <= 5 s, cache hit <= 0.1 s")
    return rows


if __name__ == "__main__":
    main()

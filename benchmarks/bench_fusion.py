"""Fused loops against numpy (and numexpr / PyTensor when installed), ratios measured in one run (medians).

    python benchmarks/bench_fusion.py [--n 10000000] [--repeat 15] [--steps 300] [--parts 1234]

1. fused elementwise `a*b + c*exp(-a) - a/(1+b*b)` on n float64: one thread vs numpy eager (target <= 0.5x),
   two threads vs numexpr with two threads (target <= 0.65x);
2. fused reduction `sum((a-b)**2)` vs reading both inputs once, `a.sum() + b.sum()` (target <= 1.3x);
3. the logistic-regression training step of examples/logistic_regression.py (N=400, 784 features, grad and
   updates) vs a hand-written numpy step (target <= 0.8x) and PyTensor's C mode (target <= 0.6x), on the
   configured threads and on one; "before": the same step compiled without the `matvec` pass (X @ w and X.T @ d
   as two BLAS products instead of one pass over X);
4. `dot(x, w) + b`: numpy's matmul then the bias added in place by a fused loop (what aotgraph does) vs one
   BLAS gemm with beta=1 on a bias-filled output (scipy's BLAS, for the measurement only: aotgraph modules
   import numpy alone).

Compiled functions are in-process FAST_RUN functions (built for this CPU with OpenMP and vector math). On
shared or throttled CPUs two threads may not be faster than one, for numexpr as for aotgraph: compare the
one- and two-thread rows of each.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from timing import median_ms, row  # noqa: E402 - benchmarks/timing.py, beside this script

import aotgraph as ag
import aotgraph.tensor as at

HERE = os.path.dirname(os.path.abspath(__file__))






def bench_elementwise(n: int, repeat: int) -> dict:
    rng = np.random.default_rng(0)
    A, B, C = (rng.standard_normal(n) for _ in range(3))
    a, b, c = at.dvectors("a", "b", "c")
    f = ag.function([a, b, c], a * b + c * at.exp(-a) - a / (1 + b * b), mode="FAST_RUN")
    f.trust_input = True
    results = {"numpy": median_ms(lambda: A * B + C * np.exp(-A) - A / (1 + B * B), repeat)}
    for threads in (1, 2):
        ag.config.num_threads = threads
        results[f"aotgraph {threads}"] = median_ms(lambda: f(A, B, C), repeat)
    try:
        import numexpr

        for threads in (1, 2):
            numexpr.set_num_threads(threads)
            results[f"numexpr {threads}"] = median_ms(lambda: numexpr.evaluate("a*b + c*exp(-a) - a/(1+b*b)",
                                                                                 local_dict={"a": A, "b": B, "c": C}),
                                                      repeat)
    except ImportError:
        pass
    pt = pytensor_function(lambda x, y, z, ptm: x * y + z * ptm.exp(-x) - x / (1 + y * y), 3)
    if pt is not None:
        results["PyTensor C"] = median_ms(lambda: pt(A, B, C), repeat)
    ag.config.num_threads = 1
    one = f(A, B, C)
    ag.config.num_threads = 2
    two = f(A, B, C)
    assert np.array_equal(one, two), "one and two threads differ"
    np.testing.assert_allclose(one, A * B + C * np.exp(-A) - A / (1 + B * B), rtol=1e-12, atol=1e-13)
    print(f"1. fused elementwise a*b + c*exp(-a) - a/(1+b*b), {n:,} float64")
    row("numpy eager", results["numpy"])
    row("aotgraph, 1 thread", results["aotgraph 1"], results["numpy"], "target <= 0.5x numpy")
    for key in ("numexpr 1", "numexpr 2", "PyTensor C"):
        if key in results:
            row(key.replace("numexpr 1", "numexpr, 1 thread").replace("numexpr 2", "numexpr, 2 threads"),
                results[key], results["numpy"])
    row("aotgraph, 2 threads", results["aotgraph 2"], results["numpy"])
    if "numexpr 2" in results:
        row("aotgraph 2 threads / numexpr 2 threads", results["aotgraph 2"], results["numexpr 2"],
            "target <= 0.65x numexpr")
    return results


def bench_reduction(n: int, repeat: int) -> dict:
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal(n), rng.standard_normal(n)
    a, b = at.dvectors("a", "b")
    f = ag.function([a, b], at.sum((a - b) ** 2), mode="FAST_RUN")
    f.trust_input = True
    results = {"read": median_ms(lambda: A.sum() + B.sum(), repeat),
               "numpy": median_ms(lambda: np.sum((A - B) ** 2), repeat)}
    for threads in (1, 2):
        ag.config.num_threads = threads
        results[f"aotgraph {threads}"] = median_ms(lambda: f(A, B), repeat)
    try:
        import numexpr

        numexpr.set_num_threads(2)
        results["numexpr 2"] = median_ms(lambda: numexpr.evaluate("sum((a-b)**2)", local_dict={"a": A, "b": B}),
                                         repeat)
    except ImportError:
        pass
    exact = float(np.sum((A - B) ** 2))
    assert abs(float(f(A, B)) - exact) <= 1e-12 * exact
    print(f"2. fused reduction sum((a-b)**2), {n:,} float64")
    row("a.sum() + b.sum() (reading both inputs once)", results["read"])
    row("numpy np.sum((a-b)**2)", results["numpy"], results["read"])
    if "numexpr 2" in results:
        row("numexpr, 2 threads", results["numexpr 2"], results["read"])
    row("aotgraph, 1 thread", results["aotgraph 1"], results["read"], "target <= 1.3x reading")
    row("aotgraph, 2 threads", results["aotgraph 2"], results["read"], "target <= 1.3x reading")
    return results


def numpy_step(x, y, state):
    """The tutorial's training step written by hand with numpy (same outputs and updates)."""
    w, b = state
    p = 1 / (1 + np.exp(-(x @ w) - b))
    prediction = p > 0.5
    xent = -y * np.log(p) - (1 - y) * np.log(1 - p)
    d = (p - y) / len(y)
    state[0] = w - 0.1 * (x.T @ d + 0.02 * w)
    state[1] = b - 0.1 * d.sum()
    return prediction, xent


def bench_logistic(steps: int) -> dict:
    sys.path.insert(0, os.path.join(HERE, "..", "examples"))
    from logistic_regression import build_model, make_data

    from aotgraph.compile.mode import Mode
    from aotgraph.rewrite import PIPELINES

    rng = np.random.RandomState(0)
    x, y = make_data(rng)
    y = y.astype(np.float64)
    model = build_model(rng, 0.01, mode="FAST_RUN")
    model.train.trust_input = True
    # the same step without the matvec pass (X @ w and X.T @ d as two BLAS products): the "before" of issue 15
    two_pass = build_model(np.random.RandomState(0), 0.01,
                           mode=Mode("cython", tuple(p for p in PIPELINES["fast_run"] if p != "matvec")))
    two_pass.train.trust_input = True
    w0, b0 = model.w.get_value(), model.b.get_value()
    state = [w0.copy(), b0.copy()]
    d = np.ones(len(y)) / len(y)
    threads = ag.config.num_threads
    results = {"numpy": median_ms(lambda: numpy_step(x, y, state), steps),
               "aotgraph": median_ms(lambda: model.train(x, y), steps),
               "two products": median_ms(lambda: two_pass.train(x, y), steps),
               "blas": median_ms(lambda: (x @ w0, x.T @ d), steps)}
    ag.config.num_threads = 1
    try:
        results["aotgraph 1"] = median_ms(lambda: model.train(x, y), steps)
        results["two products 1"] = median_ms(lambda: two_pass.train(x, y), steps)
    finally:
        ag.config.num_threads = threads
    pt = pytensor_logistic(x, y, w0, b0)
    if pt is not None:
        results["PyTensor C"] = median_ms(lambda: pt(x, y), steps)
    model.w.set_value(w0)
    model.b.set_value(b0)
    state = [w0.copy(), b0.copy()]
    for _ in range(5):
        ours, theirs = model.train(x, y), numpy_step(x, y, state)
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.w.get_value(), state[0], rtol=1e-9, atol=1e-12)
    print("3. logistic regression training step (N=400, 784 features; outputs prediction and xent, updates w, b)")
    row("hand-written numpy step", results["numpy"])
    row("its two matrix-vector products alone (both steps do them)", results["blas"], results["numpy"])
    row(f"aotgraph FAST_RUN ({threads} threads)", results["aotgraph"], results["numpy"], "target <= 0.8x numpy")
    row("aotgraph FAST_RUN (1 thread)", results["aotgraph 1"], results["numpy"], "target <= 0.8x numpy")
    row(f"  before: without the one-pass X.T @ f(X @ w) ({threads} threads)", results["two products"],
        results["numpy"])
    row("  before: without the one-pass X.T @ f(X @ w) (1 thread)", results["two products 1"], results["numpy"])
    if "PyTensor C" in results:
        row("PyTensor C mode", results["PyTensor C"], results["numpy"])
        row("aotgraph / PyTensor C mode", results["aotgraph"], results["PyTensor C"], "target <= 0.6x PyTensor")
    return results


def bench_dot_bias(repeat: int) -> None:
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2000, 500)), rng.standard_normal((500, 1000)), rng.standard_normal(1000)
    xs, ws, bs = at.dmatrix("x"), at.dmatrix("w"), at.dvector("b")
    f = ag.function([xs, ws, bs], at.dot(xs, ws) + bs, mode="FAST_RUN")
    f.trust_input = True
    out = np.empty((2000, 1000))
    print("4. dot(x, w) + b, x 2000x500, w 500x1000 (one pass over the result saved by a gemm with beta=1?)")
    matmul = median_ms(lambda: np.matmul(x, w, out=out), repeat)
    row("np.matmul(x, w, out=) alone", matmul)
    row("aotgraph: matmul, then + b in place (fused loop)", median_ms(lambda: f(x, w, b), repeat), matmul)
    try:
        from scipy.linalg.blas import dgemm
    except ImportError:
        print("  (scipy not installed: no gemm comparison)")
        return
    c = np.empty((1000, 2000), order="F")

    def gemm():
        c[...] = b[:, None]  # C = b broadcast, then C = x @ w + 1 * C in one BLAS call (computed transposed)
        return dgemm(1.0, w.T, x.T, 1.0, c, overwrite_c=True, trans_a=False, trans_b=False)

    row("scipy dgemm(beta=1) on a bias-filled output", median_ms(gemm, repeat), matmul)


def pytensor_function(expr, nin):
    try:
        import pytensor
        import pytensor.tensor as pt
    except ImportError:
        return None
    try:
        xs = [pt.dvector() for _ in range(nin)]
        return pytensor.function(xs, expr(*xs, pt), mode="FAST_RUN")
    except Exception as err:  # noqa: BLE001 - a missing C compiler etc.: no comparison
        print(f"  (PyTensor not usable: {err})")
        return None


def pytensor_logistic(x, y, w0, b0):
    try:
        import pytensor
        import pytensor.tensor as pt
    except ImportError:
        return None
    xs, ys = pt.dmatrix("x"), pt.dvector("y")
    w, b = pytensor.shared(w0.copy(), name="w"), pytensor.shared(float(b0), name="b")
    p_1 = 1 / (1 + pt.exp(-pt.dot(xs, w) - b))
    xent = -ys * pt.log(p_1) - (1 - ys) * pt.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    gw, gb = pytensor.grad(cost, [w, b])
    return pytensor.function([xs, ys], [p_1 > 0.5, xent], updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)],
                             mode="FAST_RUN")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--parts", default="1234", help="which parts to run, e.g. 3 (default: all)")
    args = parser.parse_args(argv)
    print(f"CPUs: {os.cpu_count()} (OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')})")
    results = {}
    if "1" in args.parts:
        results["elementwise"] = bench_elementwise(args.n, args.repeat)
    if "2" in args.parts:
        results["reduction"] = bench_reduction(args.n, args.repeat)
    if "3" in args.parts:
        results["logistic"] = bench_logistic(args.steps)
    if "4" in args.parts:
        bench_dot_bias(args.repeat)
    ag.config.num_threads = os.cpu_count() or 1
    return results


if __name__ == "__main__":
    main()

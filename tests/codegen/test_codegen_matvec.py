"""The compiled fused_matvec (X @ w and X.T @ f(X @ w) in one pass over X) against the numpy reference, from ONE
built module: the logistic-regression step with its updates, a linear-regression gradient in float64 and float32,
X transposed, strided, reversed, empty, one row; the threads; the size errors."""

from __future__ import annotations

import numpy as np
import pytest

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.graph.basic import toposort
from aotgraph.rewrite import optimize_spec

rng = np.random.default_rng(11)
N, M = 37, 23  # 37 rows: blocks of four and a tail
BIG = (4000, 300)  # 1.2e6 elements: above the size from which the loop runs on threads (matvec_kernel.PAR_MIN)
TOL = {"float64": 1e-11, "float32": 2e-4}


def _logistic(mode):
    x, y = at.dmatrix("x"), at.dvector("y")
    w = ag.shared(np.linspace(-0.05, 0.05, M), name="w")
    b = ag.shared(0.1, name="b")
    p_1 = 1 / (1 + at.exp(-at.dot(x, w) - b))
    xent = -y * at.log(p_1) - (1 - y) * at.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = ag.grad(cost, [w, b])
    f = ag.function([x, y], [p_1 > 0.5, xent], updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)], mode=mode,
                    name="train")
    return f, w, b


def _linreg(dtype, mode):
    """X.T @ (X @ w - y); in float64 also z - y and the product written the other way (the node's g again), in
    float32 the Gram product X2.T @ (X2 @ w) of another matrix (v is z itself)."""
    x, w, y = at.matrix("x", dtype=dtype), at.vector("w", dtype=dtype), at.vector("y", dtype=dtype)
    x2 = at.matrix("x2", dtype=dtype)
    residual = at.dot(x, w) - y
    if dtype == "float64":
        return ag.function([x, w, y], [at.dot(x.T, residual), residual, at.dot(residual, x) * 2], mode=mode,
                           name=f"linreg_{dtype}")
    return ag.function([x, w, y, x2], [at.dot(x.T, residual), at.dot(x2.T, at.dot(x2, w))], mode=mode,
                       name=f"linreg_{dtype}")


def _functions(mode) -> dict:
    return {"train": _logistic(mode)[0], "linreg_float64": _linreg("float64", mode),
            "linreg_float32": _linreg("float32", mode)}


REFERENCE = _functions("FAST_COMPILE")


@pytest.fixture(scope="module")
def built(build_module):
    return build_module(_functions("FAST_COMPILE"), "cg_matvec")  # ag.build compiles them with FAST_RUN's rewrites


def test_every_function_holds_the_fused_node():
    for name, f in REFERENCE.items():
        spec = optimize_spec(f._spec, "fast_run")
        names = [node.op.name for node in toposort(spec.results)]
        assert names.count("fused_matvec") >= 1 and "matmul" not in names, (name, names)


def _layouts(dtype, n=N, m=M):
    """(name, X) in the layouts the loop meets: contiguous, transposed, row-strided, column-strided, reversed."""
    base = rng.standard_normal((2 * n, 2 * m)).astype(dtype)
    return {"contiguous": np.ascontiguousarray(base[:n, :m]), "fortran": np.asfortranarray(base[:n, :m]),
            "row_stride": base[::2, :m], "column_stride": base[:n, ::2], "reversed": base[:n, :m][::-1],
            "one_row": base[:1, :m].copy(), "no_rows": base[:0, :m].copy()}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_linear_regression_gradient_in_every_layout(built, dtype):
    f, ref = getattr(built, f"linreg_{dtype}"), REFERENCE[f"linreg_{dtype}"]
    for name, x in _layouts(dtype).items():
        n = x.shape[0]
        w = rng.standard_normal(M).astype(dtype)
        y = rng.standard_normal(2 * n).astype(dtype)[::2]  # a strided leaf
        args = (x, w, y) if dtype == "float64" else (x, w, y, x[::-1])
        got, want = f(*args), ref(*args)
        for g, r in zip(got, want):
            assert g.dtype == r.dtype == dtype and g.shape == r.shape, name
            np.testing.assert_allclose(g, r, rtol=TOL[dtype], atol=TOL[dtype] * M, err_msg=name)


def test_no_columns(built):
    x, w, y = np.zeros((5, 0)), np.zeros(0), rng.standard_normal(5)
    got = built.linreg_float64(x, w, y)
    np.testing.assert_array_equal(got[1], -y)
    assert got[0].shape == (0,) and got[2].shape == (0,)


def test_logistic_training_matches_the_reference(built):
    """Five steps of the built module's train against FAST_COMPILE's, from the same weights: xent after the first
    step depends on the updates of w and b."""
    ref = _logistic("FAST_COMPILE")[0]  # new shared variables, with the initial values the build saved
    x, y = rng.standard_normal((400, M)), rng.integers(0, 2, 400).astype(float)
    for _ in range(5):
        (pred, xent), (pred_ref, xent_ref) = built.train(x, y), ref(x, y)
        np.testing.assert_array_equal(pred, pred_ref)
        np.testing.assert_allclose(xent, xent_ref, rtol=1e-11)


def test_threads_give_identical_results():
    """In process (built with OpenMP where the compiler has it): the same bits on 1 and on 2 threads."""
    f = _linreg("float64", "FAST_RUN")
    x, w, y = rng.standard_normal(BIG), rng.standard_normal(BIG[1]), rng.standard_normal(BIG[0])
    before = ag.config.num_threads
    results = {}
    try:
        for threads in (1, 2):
            ag.config.num_threads = threads
            results[threads] = f(x, w, y)
    finally:
        ag.config.num_threads = before
    for one, two, want in zip(results[1], results[2], REFERENCE["linreg_float64"](x, w, y)):
        assert np.array_equal(one, two)
        np.testing.assert_allclose(one, want, rtol=1e-10, atol=1e-9)


def test_size_errors_name_the_sizes(built):
    x = rng.standard_normal((N, M))
    with pytest.raises(ValueError, match=f"X has {M} columns but w has {M - 1} elements"):
        built.linreg_float64(x, np.zeros(M - 1), np.zeros(N))
    with pytest.raises(ValueError, match=f"has {N + 1} elements where X has {N} rows"):
        built.linreg_float64(x, np.zeros(M), np.zeros(N + 1))

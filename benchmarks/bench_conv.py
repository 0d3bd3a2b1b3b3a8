"""LeNet's first layer compiled by aotgraph against numpy, ratios measured in one run (medians).

    python benchmarks/bench_conv.py [--batch 500] [--repeat 15] [--dtype float64]

The layer: input (batch, 1, 28, 28), 20 filters 5x5 ('valid', flipped as Theano's conv2d), max-pool 2x2,
bias, tanh. Rows:

1. forward: aotgraph (FAST_RUN, one function) vs a numpy im2col + matmul implementation (target <= 0.5x)
   and vs the one matmul that implementation contains (target <= 1.5x);
2. forward + gradient of sum(out * R) with respect to the filters and the bias (the training step's
   work): the same comparisons, the matmuls being the forward and the filter-gradient products.

The numpy implementation is the usual one: the windows gathered by `sliding_window_view`, copied into a
(batch * 24 * 24, 25) matrix, one matmul with the filters, max-pool by reshaping, then bias and tanh; its
gradient routes the pooled gradient to each window's max and multiplies it with the same matrix.

aotgraph's convolution multiplies cache-sized chunks of that matrix (numpy's matmul on each), so the two
sides use BLAS differently: numpy's one large product uses BLAS's threads, which on a shared, loaded
machine can cost more than they bring. Run it also with OPENBLAS_NUM_THREADS=1 (or the variable of your
BLAS) to compare on one thread. The six timings are taken in turns (one call of each per round; medians),
so a change of the machine's load during the run weighs on every row alike.
"""

from __future__ import annotations

import argparse

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from timing import interleaved_ms, row  # noqa: E402 - benchmarks/timing.py, beside this script

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.tensor.nnet import conv2d
from aotgraph.tensor.signal.pool import pool_2d

FILTERS, KERNEL, POOL = 20, 5, 2






# ---- numpy: im2col + matmul ----------------------------------------------------------------------------


def numpy_columns(x: np.ndarray) -> np.ndarray:
    """(batch * rows * cols, channels * 5 * 5): every 5x5 window of x as a row (the copy im2col makes)."""
    n, c = x.shape[:2]
    windows = sliding_window_view(x, (KERNEL, KERNEL), axis=(2, 3))  # (n, c, 24, 24, 5, 5)
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, c * KERNEL * KERNEL)


def numpy_forward(x, w, b, keep: bool = False):
    n, rows = x.shape[0], x.shape[2] - KERNEL + 1
    cols = numpy_columns(x)
    w_matrix = w[:, :, ::-1, ::-1].reshape(FILTERS, -1)  # Theano's conv2d flips the filters
    conv = (cols @ w_matrix.T).reshape(n, rows, rows, FILTERS)  # (n, 24, 24, 20): channels last
    blocks = conv.reshape(n, rows // POOL, POOL, rows // POOL, POOL, FILTERS)
    pooled = blocks.max(axis=(2, 4))  # (n, 12, 12, 20)
    out = np.tanh(pooled + b)
    if keep:
        return out, (cols, blocks, pooled)
    return out.transpose(0, 3, 1, 2)


def numpy_forward_backward(x, w, b, r):
    """(out, d sum(out * r) / dw, / db) with r given in the output's NCHW layout."""
    out, (cols, blocks, pooled) = numpy_forward(x, w, b, keep=True)
    g_pre = r.transpose(0, 2, 3, 1) * (1 - out * out)  # (n, 12, 12, 20)
    mask = blocks == pooled[:, :, None, :, None, :]
    g_conv = (mask * g_pre[:, :, None, :, None, :]).reshape(-1, FILTERS)  # (n * 24 * 24, 20)
    g_w = (g_conv.T @ cols).reshape(w.shape)[:, :, ::-1, ::-1]
    return out.transpose(0, 3, 1, 2), g_w, g_pre.sum(axis=(0, 1, 2))


# ---- aotgraph ----------------------------------------------------------------------------------------------


def aotgraph_functions(dtype: str):
    x = at.tensor(dtype, (None, 1, 28, 28), name="x")
    r = at.tensor(dtype, (None, FILTERS, 12, 12), name="r")
    w = ag.shared(np.zeros((FILTERS, 1, KERNEL, KERNEL), dtype), name="w")
    b = ag.shared(np.zeros(FILTERS, dtype), name="b")
    out = at.tanh(pool_2d(conv2d(x, w, filter_shape=(FILTERS, 1, KERNEL, KERNEL)), (POOL, POOL), ignore_border=True)
                  + b.dimshuffle("x", 0, "x", "x"))
    g_w, g_b = ag.grad((out * r).sum(), [w, b])
    forward = ag.function([x], out, mode="FAST_RUN")
    backward = ag.function([x, r], [out, g_w, g_b], mode="FAST_RUN")
    return forward, backward, w, b


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 1, 28, 28)).astype(args.dtype)
    w_value = rng.standard_normal((FILTERS, 1, KERNEL, KERNEL)).astype(args.dtype) * 0.2
    b_value = rng.standard_normal(FILTERS).astype(args.dtype) * 0.1
    r = rng.standard_normal((args.batch, FILTERS, 12, 12)).astype(args.dtype)
    forward, backward, w, b = aotgraph_functions(args.dtype)
    w.set_value(w_value)
    b.set_value(b_value)
    forward.trust_input = backward.trust_input = True

    tol = 1e-10 if args.dtype == "float64" else 1e-4
    np.testing.assert_allclose(forward(x), numpy_forward(x, w_value, b_value), rtol=tol, atol=tol)
    for got, want in zip(backward(x, r), numpy_forward_backward(x, w_value, b_value, r)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 100)

    cols = numpy_columns(x)
    w_matrix = np.ascontiguousarray(w_value[:, :, ::-1, ::-1].reshape(FILTERS, -1))
    g_conv = rng.standard_normal((cols.shape[0], FILTERS)).astype(args.dtype)
    ms = interleaved_ms({
        "matmul": lambda: cols @ w_matrix.T,
        "grad_matmul": lambda: g_conv.T @ cols,
        "numpy_fwd": lambda: numpy_forward(x, w_value, b_value),
        "numpy_both": lambda: numpy_forward_backward(x, w_value, b_value, r),
        "ours_fwd": lambda: forward(x),
        "ours_both": lambda: backward(x, r),
    }, args.repeat)
    matmul, matmuls = ms["matmul"], ms["matmul"] + ms["grad_matmul"]
    numpy_fwd, numpy_both, ours_fwd, ours_both = ms["numpy_fwd"], ms["numpy_both"], ms["ours_fwd"], ms["ours_both"]

    print(f"LeNet layer 1: {args.batch} x 1x28x28 {args.dtype}, {FILTERS} filters 5x5, max-pool 2x2, tanh")
    print("1. forward")
    row("numpy im2col + matmul", numpy_fwd)
    row("its matmul alone (cols @ W.T)", matmul)
    row("aotgraph FAST_RUN vs numpy im2col + matmul", ours_fwd, numpy_fwd, "target <= 0.5x")
    row("aotgraph FAST_RUN vs its matmul", ours_fwd, matmul, "target <= 1.5x")
    print("2. forward + gradient (filters and bias)")
    row("numpy im2col + matmul", numpy_both)
    row("its two matmuls alone (forward, filter gradient)", matmuls)
    row("aotgraph FAST_RUN vs numpy im2col + matmul", ours_both, numpy_both, "target <= 0.5x")
    row("aotgraph FAST_RUN vs its matmuls", ours_both, matmuls, "target <= 1.5x")


if __name__ == "__main__":
    main()

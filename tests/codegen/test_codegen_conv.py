"""Compiled conv2d, pool_2d and their gradients (in process, as FAST_RUN compiles them) against the reference
backend, verify_grad compiled, and the run-time errors of compiled functions."""

from __future__ import annotations

import numpy as np
import pytest
from buildbatches import in_process
from cgcases import assert_outputs_match, assert_same

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.codegen.window_ops import CHUNK_ELEMENTS
from aotgraph.gradient import verify_grad
from aotgraph.graph.basic import Op
from aotgraph.tensor.basic import apply
from aotgraph.tensor.nnet import conv2d
from aotgraph.tensor.signal.pool import pool_2d

rng = np.random.default_rng(0)
X = rng.standard_normal((2, 4, 9, 10))
W4 = rng.standard_normal((6, 4, 3, 2))
W2 = rng.standard_normal((6, 2, 3, 2))
BIG_X = rng.standard_normal((7, 2, 24, 24))  # 2*5*5 * 20*20 = 20000 columns per image: chunks of 3, 3 and 1
BIG_W = rng.standard_normal((3, 2, 5, 5))
assert CHUNK_ELEMENTS // 20000 == 3
P = rng.standard_normal((2, 3, 7, 8))
P_NAN = P.copy()
P_NAN[0, 1, 2, 3] = np.nan  # a NaN wins its windows' max (numpy's rule), in the unrolled 2x2 path too

CONVS = [dict(), dict(border_mode="full", subsample=(2, 1)), dict(border_mode="half", filter_flip=False),
         dict(border_mode=(1, 2), filter_dilation=(2, 1), subsample=(1, 3))]
GROUPED = dict(border_mode=(1, 0), num_groups=2, subsample=(2, 2))
POOLS = [((2, 2), True, None, (0, 0)), ((3, 2), False, None, (0, 0)), ((2, 3), False, (1, 2), (0, 0)),
         ((3, 3), True, (2, 1), (1, 2)), ((2, 2), True, (3, 3), (1, 0))]
MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def _with_grads(y, wrt):
    return [y, *ag.grad((y * y).sum() / 2, wrt)]


def _cases():
    """name -> (inputs, outputs, argument values, rtol)."""
    x, w4, w2 = at.dtensor4("x"), at.dtensor4("w4"), at.dtensor4("w2")
    conv_outs = [o for kw in CONVS for o in _with_grads(conv2d(x, w4, **kw), [x, w4])]
    conv_outs += _with_grads(conv2d(x, w2, **GROUPED), [x, w2])
    xf, wf = at.ftensor4("xf"), at.ftensor4("wf")
    bx, bw = at.dtensor4("bx"), at.dtensor4("bw")
    p = at.dtensor4("p")
    pool_outs = [o for g in POOLS for m in MODES for o in _with_grads(pool_2d(p, g[0], g[1], g[2], g[3], m), [p])]
    p3, p5 = at.ftensor3("p3"), at.tensor("float32", (None,) * 5, name="p5")
    lx, lw, lb = at.dtensor4("lx"), at.dtensor4("lw"), at.dvector("lb")
    layer = at.tanh(pool_2d(conv2d(lx, lw), (2, 2)) + lb.dimshuffle("x", 0, "x", "x"))
    gz = at.dtensor4("gz")
    sum_grad = apply(Op("average_pool_grad", ws=(2, 2), stride=(2, 2), pad=(0, 0), ignore_border=True, mode="sum"),
                     p, gz)
    return {
        "conv64": ([x, w4, w2], conv_outs, [X, W4, W2], 1e-12),
        "conv32": ([xf, wf], [o for kw in CONVS[:2] for o in _with_grads(conv2d(xf, wf, **kw), [xf, wf])],
                   [X.astype("float32"), W4.astype("float32")], 2e-5),
        "chunks": ([bx, bw], _with_grads(conv2d(bx, bw, border_mode="half"), [bx, bw]), [BIG_X, BIG_W], 1e-12),
        "pool64": ([p], pool_outs, [P], 1e-13),
        "pool_nan": ([p], pool_outs[:2 * len(MODES)], [P_NAN], 1e-13),
        "pool32": ([p3, p5], [*_with_grads(pool_2d(p3, (2, 3), False), [p3]),
                              *_with_grads(pool_2d(p5, (3, 2), stride=(1, 1), mode="average_exc_pad"), [p5])],
                   [P[0].astype("float32"), P[None].astype("float32")], 2e-6),
        "layer": ([lx, lw, lb], [layer, *ag.grad((layer * layer).sum(), [lw, lb])],
                  [rng.random((5, 1, 12, 12)), W4[:3, :1, :3, :2].copy() * 0.3, rng.standard_normal(3)], 1e-12),
        "sum_grad": ([p, gz], [sum_grad], [P, rng.standard_normal((2, 3, 3, 4))], 0),
    }


CASES = _cases()


@pytest.fixture(scope="module")
def mod(codegen_cache_dir):
    """The cases compiled as FAST_RUN compiles them, in modules of <= ~2 MB of C (tests/buildbatches.py: each module
    holds conv's drivers once, ~1 MB of C, which a module made by ag.build could not fit beside its own ~0.9 MB)."""
    functions = {name: ag.function(ins, outs, mode="FAST_COMPILE", name=name) for name, (ins, outs, _, _) in
                 CASES.items()}
    return in_process(functions, "cg_conv"), functions


@pytest.mark.parametrize("name", list(CASES))
def test_against_reference(mod, name):
    built, functions = mod
    _, outs, args, rtol = CASES[name]
    expected = functions[name](*args)
    got = getattr(built, name)(*args)
    assert_outputs_match(name, got, expected, outs, rtol)


def _first_line(err: pytest.ExceptionInfo) -> str:
    return str(err.value).splitlines()[0]


@pytest.mark.parametrize("name,args", [
    ("conv64", [X[:, :3], W4, W2]),  # 3 channels, the filters expect 4
    ("conv64", [X[:, :, :2], W4, W2]),  # 2 rows, filters of 3
    ("sum_grad", [P, np.zeros((2, 3, 3, 3))]),  # a gradient of the wrong shape
], ids=["channels", "filter-larger", "gradient-shape"])
def test_run_time_errors_read_as_in_the_reference(mod, name, args):
    built, functions = mod
    with pytest.raises(ValueError) as compiled:
        getattr(built, name)(*args)
    with pytest.raises(ValueError) as reference:
        functions[name](*args)
    assert _first_line(compiled) == _first_line(reference)
    assert "while computing" in str(compiled.value) and __file__ in str(compiled.value)
    # a failed call leaves the module usable
    assert_same(getattr(built, name)(*CASES[name][2])[0], functions[name](*CASES[name][2])[0], name,
                rtol=CASES[name][3] or None)


def test_verify_grad_compiled():
    r = np.random.default_rng(5)
    point = [r.standard_normal((2, 2, 6, 5)), r.standard_normal((4, 1, 2, 3))]

    def layer(a, f):
        y = conv2d(a, f, border_mode="half", subsample=(2, 1), num_groups=2)
        return [y, pool_2d(y, (2, 2), ignore_border=False), pool_2d(a, (2, 2), pad=(1, 1), mode="average_exc_pad")]

    verify_grad(layer, point, mode="FAST_RUN")


def test_pooling_threads_give_the_same_bits():
    """In-process FAST_RUN modules are OpenMP builds: pooling splits the images between threads."""
    x = at.dtensor4("x")
    outs = [o for m in MODES for o in _with_grads(pool_2d(x, (3, 2), stride=(2, 2), mode=m), [x])]
    f = ag.function([x], outs, mode="FAST_RUN")
    value = np.random.default_rng(7).standard_normal((16, 4, 40, 30))  # 76800 elements: above _PAR_MIN
    before = ag.config.num_threads
    try:
        ag.config.num_threads = 1
        one = f(value)
        ag.config.num_threads = 2
        two = f(value)
    finally:
        ag.config.num_threads = before
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    expected = ag.function([x], outs, mode="FAST_COMPILE")(value)
    for a, e in zip(one, expected):  # window sums in another order than numpy's: error relative to the terms
        np.testing.assert_allclose(a, e, rtol=1e-13, atol=1e-13 * np.abs(value).max())

"""The fused convolution ops (window_fuse: conv2d + max-pool + bias + activation, and their gradient) and the
max-pool gradient's gradient compiled (in process, <= ~2 MB of C per module), against the reference backend (numpy)."""

from __future__ import annotations

import numpy as np
import pytest
from buildbatches import in_process
from cgcases import assert_outputs_match, assert_same

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.graph.basic import Op
from aotgraph.tensor.basic import apply
from aotgraph.tensor.nnet import conv2d, relu, sigmoid
from aotgraph.tensor.signal.pool import pool_2d

rng = np.random.default_rng(0)
X = rng.random((5, 2, 12, 13))
X[0, :, :7, :7] = 0  # all-zero windows: tied maxima, each tied element gets the window's gradient
X[1, 1, 3, 4] = np.nan  # a NaN wins its windows' max
W = rng.standard_normal((3, 2, 3, 3)) * 0.3
B = rng.standard_normal(3)
BIG_X = rng.random((9, 1, 28, 28))  # several chunks, the last one partial
BIG_W = rng.standard_normal((6, 1, 5, 5)) * 0.3
R = rng.standard_normal((5, 3, 5, 5))  # the pooled output's shape


def _bias(b):
    return b.dimshuffle("x", 0, "x", "x")


def _cases():
    """name -> (inputs, outputs, argument values, rtol)."""
    x, w, b, r = at.dtensor4("x"), at.dtensor4("w"), at.dvector("b"), at.dtensor4("r")
    layer = at.tanh(pool_2d(conv2d(x, w), (2, 2)) + _bias(b))
    xf, wf, bf = at.ftensor4("xf"), at.ftensor4("wf"), at.tensor("float32", (None, 1, 1), name="bf")
    layer32 = at.tanh(pool_2d(conv2d(xf, wf, border_mode="half"), (2, 3), stride=(3, 3)) + bf)
    pooled = pool_2d(conv2d(x, w, subsample=(1, 2)), (2, 2))
    reused = at.tanh(pooled + _bias(b))
    xs, ws, bs = at.dtensor4("xs"), at.dtensor4("ws"), at.dvector("bs")
    big = sigmoid(pool_2d(conv2d(xs, ws), (2, 2)) + _bias(bs))
    p, gz, gg = at.dtensor4("p"), at.dtensor4("gz"), at.dtensor4("gg")
    seconds = []
    for z in (pool_2d(p, (2, 2)), pool_2d(p, (3, 2), ignore_border=False), pool_2d(p, (2, 2), stride=(1, 1),
                                                                                  pad=(1, 1))):
        routed = apply(Op("max_pool_grad", **z.owner.op.params), p, z, gz[:, :, :z.shape[2], :z.shape[3]])
        seconds.append(ag.grad((routed * gg).sum(), gz))
    return {
        "grad_grad": ([p, gz, gg], seconds, [X, rng.standard_normal((5, 2, 14, 14)), rng.standard_normal(X.shape)],
                      1e-12),
        "layer": ([x, w, b], [layer, *ag.grad((layer * layer).sum(), [x, w, b])], [X, W, B], 1e-12),
        "layer_w": ([x, w, b], [layer, *ag.grad((layer * layer).sum(), [w, b])], [X, W, B], 1e-12),
        "layer_r": ([x, w, b, r], [layer, *ag.grad((layer * r).sum(), [w, b])], [X, W, B, R], 1e-12),
        "layer32": ([xf, wf, bf], [layer32, *ag.grad((layer32 * layer32).sum(), [xf, wf, bf])],
                    [X.astype("float32"), W.astype("float32"), B.astype("float32")[:, None, None]], 2e-5),
        "reused": ([x, w, b], [reused, pooled, ag.grad(reused.sum(), w)], [X, W, B], 1e-12),
        "acts": ([x, w, b], [relu(conv2d(x, w) + _bias(b)), at.tanh(conv2d(x, w * 2) + _bias(b)),
                             sigmoid(conv2d(x, w * 3, border_mode="full") + _bias(b))], [X, W, B], 1e-12),
        "acts32": ([xf, wf, bf], [relu(conv2d(xf, wf) + bf), sigmoid(conv2d(xf, wf * 2) - bf)],
                   [X.astype("float32"), W.astype("float32"), B.astype("float32")[:, None, None]], 2e-5),
        "chunks": ([xs, ws, bs], [big, *ag.grad((big * big).sum(), [ws, bs])], [BIG_X, BIG_W, B[:1].repeat(6)],
                   1e-12),
    }


CASES = _cases()


@pytest.fixture(scope="module")
def mod(codegen_cache_dir):
    """The cases compiled as FAST_RUN compiles them, in modules of <= ~2 MB of C (tests/buildbatches.py: each module
    holds conv's drivers once, ~1 MB of C, which a module made by ag.build could not fit beside its own ~0.9 MB)."""
    functions = {name: ag.function(ins, outs, mode="FAST_COMPILE", name=name) for name, (ins, outs, _, _) in
                 CASES.items()}
    return in_process(functions, "cg_conv_fused"), functions


def test_the_module_computes_the_fused_ops(mod):
    built, _ = mod
    assert "_cvp_forward" in built.layer.source and "_cvp_grad" in built.layer.source
    # the pooled gradient's elementwise step and the bias gradient's sum run inside the gradient's loop
    assert ", True, ('filters',)," in built.layer_r.source and "_cvp_spread_" in built.layer_r.source


@pytest.mark.parametrize("name", list(CASES))
def test_against_reference(mod, name):
    built, functions = mod
    _, outs, args, rtol = CASES[name]
    expected = functions[name](*args)
    got = getattr(built, name)(*args)
    assert_outputs_match(name, got, expected, outs, rtol)


def test_a_bias_that_does_not_broadcast_is_refused(mod):
    built, functions = mod
    with pytest.raises(ValueError, match="epilogue"):
        built.acts32(X.astype("float32"), W.astype("float32"), np.ones((2, 1, 1), "float32"))
    with pytest.raises(ValueError, match="broadcast"):
        functions["acts32"](X.astype("float32"), W.astype("float32"), np.ones((2, 1, 1), "float32"))
    assert_same(built.acts32(*CASES["acts32"][2])[0], functions["acts32"](*CASES["acts32"][2])[0], "acts32", 2e-5)


def test_a_pooled_gradient_input_that_does_not_broadcast_is_refused(mod):
    built, functions = mod
    message = r"conv2d gradient: input 4 \(of the pooled gradient's expression\) has shape \(5, 2, 5, 5\)"
    with pytest.raises(ValueError, match=message):
        built.layer_r(X, W, B, R[:, :2])
    with pytest.raises(ValueError, match="broadcast"):
        functions["layer_r"](X, W, B, R[:, :2])

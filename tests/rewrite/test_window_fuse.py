"""The window_fuse pass: conv2d -> max-pool -> epilogue chains become conv2d_pool (+ conv2d_pool_grad), and
what must stay unfused stays; values checked against the graph as written (numpy reference)."""

from __future__ import annotations

import numpy as np
from rewritecheck import check_rewrite

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.tensor.nnet import conv2d, relu, sigmoid
from aotgraph.tensor.signal.pool import pool_2d

rng = np.random.default_rng(0)
X = rng.random((3, 2, 10, 10))
X[0, :, :6, :6] = 0  # all-zero windows: ties for the max (every tied element gets the gradient, as in Theano)
W = rng.standard_normal((4, 2, 3, 3)) * 0.3
B = rng.standard_normal(4)
R = rng.standard_normal((3, 4, 4, 4))


def _layer(x, w, b, act=at.tanh):
    return act(pool_2d(conv2d(x, w), (2, 2)) + b.dimshuffle("x", 0, "x", "x"))


def test_layer_and_its_gradients_become_two_nodes():
    x, w, b = at.dtensor4("x"), at.dtensor4("w"), at.dvector("b")
    out = _layer(x, w, b)
    grads = ag.grad((out * at.constant(R)).sum(), [x, w, b])
    new = check_rewrite([out, *grads], "fast_run", {x: X, w: W, b: B}, exact=False,
                        ops={"conv2d_pool": 1, "conv2d_pool_grad": 1, "conv2d": 0, "pool": 0, "max_pool_grad": 0,
                             "conv2d_grad_inputs": 0, "conv2d_grad_filters": 0})
    nodes = {n.op.name: n for n in ag.graph.basic.toposort(new)}
    assert nodes["conv2d_pool_grad"].op.wrt == ("inputs", "filters")
    assert nodes["conv2d_pool"].op.expr.ops == ["add", "tanh"] and nodes["conv2d_pool"].op.masked


def test_filters_only_gradient_computes_no_input_gradient():
    x, w, b = at.dtensor4("x"), at.dtensor4("w"), at.dvector("b")
    out = _layer(x, w, b)
    grads = ag.grad((out * at.constant(R)).sum(), [w, b])
    new = check_rewrite([out, *grads], "fast_run", {x: X, w: W, b: B}, exact=False, ops={"conv2d_pool_grad": 1})
    (grad_node,) = [n for n in ag.graph.basic.toposort(new) if n.op.name == "conv2d_pool_grad"]
    assert grad_node.op.wrt == ("filters",)


def test_conv_bias_activation_without_pooling():
    x, b = at.dtensor4("x"), at.dvector("b")
    ws = [at.dtensor4(f"w{k}") for k in range(3)]  # one convolution each (a shared one has three readers)
    outs = [act(conv2d(x, w) + b.dimshuffle("x", 0, "x", "x")) for w, act in zip(ws, (relu, at.tanh, sigmoid))]
    givens = {x: X, b: B} | {w: W * (k + 1) for k, w in enumerate(ws)}
    new = check_rewrite(outs, "fast_run", givens, exact=False, ops={"conv2d_pool": 3, "conv2d": 0})
    assert all(n.op.ws == (1, 1) and not n.op.masked for n in ag.graph.basic.toposort(new)
               if n.op.name == "conv2d_pool")


def test_float32_and_a_bias_of_lower_rank():
    x, w = at.ftensor4("x"), at.ftensor4("w")
    b = at.tensor("float32", (None, 1, 1), name="b")  # (4, 1, 1): broadcasts from the left
    out = at.tanh(pool_2d(conv2d(x, w), (2, 2)) + b)
    check_rewrite(out, "fast_run", {x: X.astype("float32"), w: W.astype("float32"),
                                    b: B.astype("float32")[:, None, None]}, exact=False, rtol=1e-5,
                  ops={"conv2d_pool": 1, "conv2d": 0})


def test_pooled_value_read_elsewhere_keeps_the_epilogue_apart():
    x, w, b = at.dtensor4("x"), at.dtensor4("w"), at.dvector("b")
    pooled = pool_2d(conv2d(x, w), (2, 2))
    out = at.tanh(pooled + b.dimshuffle("x", 0, "x", "x"))
    new = check_rewrite([out, pooled.sum()], "fast_run", {x: X, w: W, b: B}, exact=False,
                        ops={"conv2d_pool": 1, "conv2d": 0, "pool": 0})
    (node,) = [n for n in ag.graph.basic.toposort(new) if n.op.name == "conv2d_pool"]
    assert node.op.expr is None


def test_conv_output_read_elsewhere_is_not_fused():
    x, w, b = at.dtensor4("x"), at.dtensor4("w"), at.dvector("b")
    z = conv2d(x, w)
    out = at.tanh(pool_2d(z, (2, 2)) + b.dimshuffle("x", 0, "x", "x"))
    check_rewrite([out, z], "fast_run", {x: X, w: W, b: B}, exact=False,
                  ops={"conv2d_pool": 0, "conv2d": 1, "pool": 1})


def test_relu_gradient_reads_the_conv_output_so_nothing_fuses():
    x, w, b = at.dtensor4("x"), at.dtensor4("w"), at.dvector("b")
    out = relu(conv2d(x, w) + b.dimshuffle("x", 0, "x", "x"))
    check_rewrite([out, ag.grad(out.sum(), w)], "fast_run", {x: X, w: W, b: B}, exact=False,
                  ops={"conv2d_pool": 0, "conv2d": 1})


def test_overlapping_windows_are_not_fused():
    x, w = at.dtensor4("x"), at.dtensor4("w")
    out = pool_2d(conv2d(x, w), (2, 2), stride=(1, 1))
    check_rewrite([out, ag.grad(out.sum(), w)], "fast_run", {x: X, w: W}, exact=False,
                  ops={"conv2d_pool": 0, "pool": 1})


def test_two_chained_layers_fuse_once_each():
    x, w, b, w2, b2 = at.dtensor4("x"), at.dtensor4("w"), at.dvector("b"), at.dtensor4("w2"), at.dvector("b2")
    hidden = _layer(x, w, b)
    out = _layer(hidden, w2, b2)
    cost = (out * out).sum()
    W2 = rng.standard_normal((2, 4, 2, 2))
    new = check_rewrite([cost, *ag.grad(cost, [w, b, w2, b2])], "fast_run", {x: X, w: W, b: B, w2: W2, b2: B[:2]},
                        exact=False, ops={"conv2d_pool": 2, "conv2d_pool_grad": 2, "conv2d": 0, "pool": 0,
                                          "max_pool_grad": 0, "conv2d_grad_inputs": 0, "conv2d_grad_filters": 0})
    assert sorted(n.op.wrt for n in ag.graph.basic.toposort(new) if n.op.name == "conv2d_pool_grad") == [
        ("filters",), ("inputs", "filters")]


def test_an_epilogue_with_integer_statements_stays_apart():
    x, w = at.dtensor4("x"), at.dtensor4("w")
    out = pool_2d(conv2d(x, w), (2, 2))
    out = (at.cast(out * 4, "int64") ** 2).astype("float64")  # an integer power: the loop's error flag
    new = check_rewrite(out, "fast_run", {x: X, w: W}, exact=False, ops={"conv2d_pool": 1})
    (node,) = [n for n in ag.graph.basic.toposort(new) if n.op.name == "conv2d_pool"]
    assert node.op.expr is None


def test_pooled_gradient_step_and_bias_sum_join_the_gradient_node():
    x, w, b = at.dtensor4("x"), at.dtensor4("w"), at.dvector("b")
    out = _layer(x, w, b)
    grads = ag.grad((out * at.constant(R)).sum(), [w, b])  # gz = R * (1 - out**2), the bias gradient its sum
    new = check_rewrite([out, *grads], "fast_run", {x: X, w: W, b: B}, exact=False,
                        ops={"conv2d_pool_grad": 1, "reduce": 0, "fused": 0})
    (node,) = [n for n in ag.graph.basic.toposort(new) if n.op.name == "conv2d_pool_grad"]
    assert node.op.bias and node.op.expr is not None and len(node.outputs) == 2


def test_pooled_gradient_read_elsewhere_stays_a_node_of_its_own():
    x, w, b = at.dtensor4("x"), at.dtensor4("w"), at.dvector("b")
    pre = pool_2d(conv2d(x, w), (2, 2)) + b.dimshuffle("x", 0, "x", "x")
    out = at.tanh(pre)
    grads = ag.grad((out * at.constant(R)).sum(), [pre, w, b])  # the pooled gradient is an output too
    new = check_rewrite([out, *grads], "fast_run", {x: X, w: W, b: B}, exact=False,
                        ops={"conv2d_pool_grad": 1})
    (node,) = [n for n in ag.graph.basic.toposort(new) if n.op.name == "conv2d_pool_grad"]
    assert not node.op.bias and node.op.expr is None


def test_a_sum_over_other_axes_is_not_absorbed():
    x, w, b = at.dtensor4("x"), at.dtensor4("w"), at.dvector("b")
    pre = pool_2d(conv2d(x, w), (2, 2)) + b.dimshuffle("x", 0, "x", "x")
    out = at.tanh(pre)
    g_w, g_pre = ag.grad((out * at.constant(R)).sum(), [w, pre])
    new = check_rewrite([out, g_w, g_pre.sum(axis=(0, 1))], "fast_run", {x: X, w: W, b: B}, exact=False,
                        ops={"conv2d_pool_grad": 1})
    (node,) = [n for n in ag.graph.basic.toposort(new) if n.op.name == "conv2d_pool_grad"]
    assert not node.op.bias

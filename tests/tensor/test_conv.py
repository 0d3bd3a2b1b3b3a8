"""conv2d and its gradient ops against a direct-loop numpy reference: values, static shapes, errors, gradients."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from opcheck import check_rule_grad, run

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.gradient import verify_grad
from aotgraph.graph.basic import Op
from aotgraph.tensor.basic import apply
from aotgraph.tensor.nnet import conv2d


def loop_conv(x, w, pad, stride, dilation, flip, groups):
    """The definition, one output element at a time (the oracle of the oracle)."""
    if flip:
        w = w[:, :, ::-1, ::-1]
    n, _, rows, cols = x.shape
    k, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh = (rows + 2 * pad[0] - (kh - 1) * dilation[0] - 1) // stride[0] + 1
    ow = (cols + 2 * pad[1] - (kw - 1) * dilation[1] - 1) // stride[1] + 1
    out = np.zeros((n, k, oh, ow))
    for b, o, r, q in itertools.product(range(n), range(k), range(oh), range(ow)):
        g = o // (k // groups)
        for c, i, j in itertools.product(range(cg), range(kh), range(kw)):
            out[b, o, r, q] += (xp[b, g * cg + c, r * stride[0] + i * dilation[0], q * stride[1] + j * dilation[1]]
                                * w[o, c, i, j])
    return out


# (kwargs of conv2d, the padding it means for a 3x4 filter at dilation 1, groups)
CASES = [
    (dict(), (0, 0)),
    (dict(border_mode="full"), (2, 3)),
    (dict(border_mode="half"), (1, 2)),
    (dict(border_mode=1), (1, 1)),
    (dict(border_mode=(2, 0), subsample=(2, 3)), (2, 0)),
    (dict(filter_flip=False, subsample=(1, 2)), (0, 0)),
    (dict(filter_dilation=(2, 1), border_mode=(1, 2)), (1, 2)),
    (dict(num_groups=2, border_mode="half", filter_dilation=(1, 2)), (1, 3)),
]


@pytest.mark.parametrize("kwargs,pad", CASES, ids=[str(c[0]) for c in CASES])
def test_values_against_loops(kwargs, pad):
    rng = np.random.default_rng(0)
    groups = kwargs.get("num_groups", 1)
    a, f = rng.standard_normal((2, 4, 9, 10)), rng.standard_normal((6, 4 // groups, 3, 4))
    x, w = at.dtensor4("x"), at.dtensor4("w")
    y = conv2d(x, w, **kwargs)
    got = run(y, {x: a, w: f})
    want = loop_conv(a, f, pad, kwargs.get("subsample", (1, 1)), kwargs.get("filter_dilation", (1, 1)),
                     kwargs.get("filter_flip", True), groups)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    static = conv2d(at.tensor("float64", a.shape), at.tensor("float64", f.shape), **kwargs)
    assert static.type.shape == want.shape


def test_dtypes_and_theano_names():
    assert at.nnet.conv2d is conv2d
    x32, w32, w64 = at.ftensor4(), at.ftensor4(), at.dtensor4()
    assert conv2d(x32, w32).dtype == "float32"
    assert conv2d(x32, w64).dtype == "float64"
    rng = np.random.default_rng(1)
    a, f = rng.standard_normal((1, 2, 5, 5)).astype("float32"), rng.standard_normal((3, 2, 2, 2)).astype("float32")
    got = run(conv2d(x32, w32, image_shape=(None, 2, 5, 5)), {x32: a, w32: f})
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, loop_conv(a, f, (0, 0), (1, 1), (1, 1), True, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs,pad", CASES, ids=[str(c[0]) for c in CASES])
def test_gradient_rules(kwargs, pad):
    rng = np.random.default_rng(2)
    groups = kwargs.get("num_groups", 1)
    x, w = at.dtensor4("x"), at.dtensor4("w")
    givens = {x: rng.standard_normal((1, 4, 5, 6)), w: rng.standard_normal((2, 4 // groups, 3, 4))}
    y = conv2d(x, w, **kwargs)
    check_rule_grad(y, givens, [x, w])
    # the gradient ops (linear in both operands) have rules of their own, checked the same way
    gz = at.dtensor4("gz")
    givens[gz] = rng.standard_normal(run(y, givens).shape)
    check_rule_grad(apply(Op("conv2d_grad_inputs", **y.owner.op.params), w, gz, x), givens, [w, gz])
    check_rule_grad(apply(Op("conv2d_grad_filters", **y.owner.op.params), x, gz, w), givens, [x, gz])


def test_verify_grad_reference():
    rng = np.random.default_rng(3)
    point = [rng.standard_normal((2, 2, 6, 5)), rng.standard_normal((4, 1, 2, 3))]
    verify_grad(lambda a, f: conv2d(a, f, border_mode="half", subsample=(2, 1), num_groups=2), point,
                   mode="FAST_COMPILE")


# ---- errors -------------------------------------------------------------------------------------------


def test_construction_errors_name_op_and_shapes():
    x, w = at.dtensor4("x"), at.dtensor4("w")
    with pytest.raises(TypeError, match=r"conv2d: takes 4-d tensors.*operand types"):
        conv2d(at.dmatrix(), w)
    with pytest.raises(TypeError, match="conv2d: takes floating-point tensors"):
        conv2d(at.itensor4(), w)
    with pytest.raises(TypeError, match=r"conv2d: input has 3 channels but the filters expect 2"):
        conv2d(at.tensor("float64", (None, 3, None, None)), at.tensor("float64", (4, 2, 3, 3)))
    with pytest.raises(TypeError, match=r"conv2d: input has 3 channels.*\(1 per group x 2 groups\)"):
        conv2d(x, w, input_shape=(None, 3, 8, 8), filter_shape=(4, 1, 3, 3), num_groups=2)
    with pytest.raises(TypeError, match=r"conv2d: the filter \(5 rows, dilation 1\) is larger than the input "
                                        r"\(4 rows \+ padding 0 on each side\) with border_mode 'valid'"):
        conv2d(at.tensor("float64", (1, 1, 4, 9)), at.tensor("float64", (1, 1, 5, 5)))
    with pytest.raises(TypeError, match="5 output channels cannot be split into 2 groups"):
        conv2d(x, at.tensor("float64", (5, 1, 2, 2)), num_groups=2)
    with pytest.raises(ValueError, match="conv2d: subsample must be >= 1"):
        conv2d(x, w, subsample=(0, 1))
    with pytest.raises(ValueError, match="conv2d: filter_dilation must be >= 1"):
        conv2d(x, w, filter_dilation=-1)
    with pytest.raises(ValueError, match="conv2d: border_mode must be"):
        conv2d(x, w, border_mode="same")
    with pytest.raises(ValueError, match="conv2d: border_mode must be >= 0"):
        conv2d(x, w, border_mode=(-1, 0))
    with pytest.raises(ValueError, match="conv2d: num_groups must be a positive int"):
        conv2d(x, w, num_groups=0)
    with pytest.raises(ValueError, match=r"input_shape \(1, 2, 3\) has 3 entries"):
        conv2d(x, w, input_shape=(1, 2, 3))


@pytest.mark.parametrize("mode", ["FAST_COMPILE"])
def test_run_time_errors_name_op_shapes_and_line(mode):
    x, w = at.dtensor4("x"), at.dtensor4("w")
    f = ag.function([x, w], conv2d(x, w), mode=mode)
    with pytest.raises(ValueError, match=r"(?s)conv2d: input has 3 channels but the filters expect 2.*"
                                         r"input shape \(1, 3, 8, 8\), filter shape \(4, 2, 3, 3\).*test_conv.py"):
        f(np.zeros((1, 3, 8, 8)), np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"(?s)conv2d: the filter \(3 cols, dilation 1\) is larger than the input "
                                         r"\(2 cols.*test_conv.py"):
        f(np.zeros((1, 2, 8, 2)), np.zeros((4, 2, 3, 3)))
    np.testing.assert_allclose(f(np.ones((1, 2, 3, 3)), np.ones((1, 2, 3, 3))), [[[[18.0]]]])

"""pool_2d and its gradient ops against a transcription of Theano's loops: values, shapes, errors, gradients."""

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
from aotgraph.tensor.signal.pool import pool_2d, pool_output_size

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def loop_pool(x, ws, ignore_border, stride, pad, mode):
    """Theano's Pool.perform, window by window: the padded image, each window clipped as Theano clips it."""
    rows, cols = (pool_output_size(x.shape[-2 + a], ws[a], stride[a], pad[a], ignore_border) for a in (0, 1))
    height, width = x.shape[-2] + 2 * pad[0], x.shape[-1] + 2 * pad[1]
    y = np.zeros(x.shape[:-2] + (height, width))
    y[..., pad[0]:height - pad[0], pad[1]:width - pad[1]] = x
    z = np.zeros(x.shape[:-2] + (rows, cols))
    reduce = {"max": np.max, "sum": np.sum}.get(mode, np.mean)
    for r, c in itertools.product(range(rows), range(cols)):
        r0, r1 = r * stride[0], min(r * stride[0] + ws[0], height)
        c0, c1 = c * stride[1], min(c * stride[1] + ws[1], width)
        if mode != "average_inc_pad":
            r0, r1 = max(r0, pad[0]), min(r1, x.shape[-2] + pad[0])
            c0, c1 = max(c0, pad[1]), min(c1, x.shape[-1] + pad[1])
        z[..., r, c] = reduce(y[..., r0:r1, c0:c1], axis=(-2, -1))
    return z


# (ws, ignore_border, stride, pad)
GEOMETRIES = [((2, 2), True, None, (0, 0)), ((3, 2), False, None, (0, 0)), ((2, 3), False, (1, 2), (0, 0)),
              ((3, 3), True, (2, 1), (1, 2)), ((2, 2), True, (3, 3), (1, 0)), ((1, 1), True, None, (0, 0))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_values_against_theano_loops(geometry, mode):
    ws, ignore_border, stride, pad = geometry
    a = np.random.default_rng(0).standard_normal((2, 3, 7, 8))
    x = at.dtensor4("x")
    y = pool_2d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
    want = loop_pool(a, ws, ignore_border, stride or ws, pad, mode)
    np.testing.assert_allclose(run(y, {x: a}), want, rtol=1e-13, atol=1e-13)
    assert pool_2d(at.tensor("float64", a.shape), ws, ignore_border, stride, pad, mode).type.shape == want.shape


def test_ranks_dtypes_nan_and_theano_names():
    rng = np.random.default_rng(1)
    v = at.fmatrix("v")
    got = run(pool_2d(v, (2, 2)), {v: rng.standard_normal((5, 6)).astype("float32")})
    assert got.dtype == np.float32 and got.shape == (2, 3)
    t5 = at.tensor("float64", (None,) * 5)
    a = rng.standard_normal((2, 1, 3, 4, 5))
    np.testing.assert_allclose(run(pool_2d(t5, ds=(2, 2), st=(1, 2), mode="sum"), {t5: a}),
                               loop_pool(a, (2, 2), True, (1, 2), (0, 0), "sum"))
    a = np.ones((1, 4, 4))
    a[0, 0, 1] = np.nan
    x3 = at.dtensor3()
    got = run(pool_2d(x3, (2, 2)), {x3: a})
    assert np.isnan(got[0, 0, 0]) and (got[0, 1:, :] == 1).all() and got[0, 0, 1] == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("geometry", GEOMETRIES[:5], ids=str)
def test_gradient_rules(geometry, mode):
    ws, ignore_border, stride, pad = geometry
    rng = np.random.default_rng(2)
    x = at.dtensor4("x")
    givens = {x: rng.standard_normal((1, 2, 7, 6))}
    y = pool_2d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
    check_rule_grad(y, givens, [x])
    if mode != "max":  # the average gradient is linear in the output gradient: its own rule, checked too
        gz = at.dtensor4("gz")
        givens[gz] = rng.standard_normal(run(y, givens).shape)
        check_rule_grad(apply(Op("average_pool_grad", **y.owner.op.params), x, gz), givens, [gz])


def test_max_gradient_goes_to_every_tied_max_as_in_theano():
    x = at.dmatrix("x")
    g = ag.grad(pool_2d(x, (2, 2)).sum(), x)
    np.testing.assert_array_equal(run(g, {x: np.array([[1.0, 1.0], [0.0, 1.0]])}), [[1.0, 1.0], [0.0, 1.0]])


def test_max_gradient_of_gradient_is_its_transpose():
    """max_pool_grad_grad (Theano's DownsampleFactorMaxGradGrad): <ggx, max_pool_grad(gz)> = <mpgg(ggx), gz>; ties
    and a NaN window included; and the gradient of the second derivative is the max-pool gradient again."""
    rng = np.random.default_rng(4)
    x, gz, gg = at.dtensor4("x"), at.dtensor4("gz"), at.dtensor4("gg")
    xv = rng.standard_normal((1, 2, 5, 7))
    xv[0, 0, :2, :2] = 1.0  # a tied window
    xv[0, 1, 3, 4] = np.nan
    for ws, ignore_border, stride, pad in GEOMETRIES[:5]:
        z = pool_2d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad)
        params = z.owner.op.params
        routed = apply(Op("max_pool_grad", **params), x, z, gz)
        (second,) = ag.grad((routed * gg).sum(), [gz])
        assert second.owner.op.name == "max_pool_grad_grad"
        zv = run(z, {x: xv})
        gzv, ggv = rng.standard_normal(zv.shape), rng.standard_normal(xv.shape)
        left = np.sum(run(routed, {x: xv, gz: gzv}) * ggv)
        right = np.sum(run(second, {x: xv, gz: gzv, gg: ggv}) * gzv)
        np.testing.assert_allclose(left, right, rtol=1e-12)
        (third,) = ag.grad((second * gz).sum(), [gg])
        np.testing.assert_allclose(run(third, {x: xv, gz: gzv, gg: ggv}), run(routed, {x: xv, gz: gzv}), rtol=1e-12)


def test_verify_grad_reference():
    point = np.random.default_rng(3).standard_normal((2, 5, 6))
    verify_grad(lambda a: [pool_2d(a, (3, 2), ignore_border=False, stride=(1, 2)),
                           pool_2d(a, (2, 2), pad=(1, 1), mode="average_exc_pad")], [point], mode="FAST_COMPILE")


def test_construction_errors():
    x = at.dtensor4("x")
    with pytest.raises(TypeError, match=r"pool: pools the last two axes: the input must be at least 2-d"):
        pool_2d(at.dvector(), (2, 2))
    with pytest.raises(TypeError, match="pool: takes a float32 or float64 input"):
        pool_2d(at.itensor4(), (2, 2))
    with pytest.raises(ValueError, match=r"pool_2d: ws must be positive, got \(0, 2\)"):
        pool_2d(x, (0, 2))
    with pytest.raises(ValueError, match=r"pool_2d: stride must be positive, got \(2, -1\)"):
        pool_2d(x, (2, 2), stride=(2, -1))
    with pytest.raises(TypeError, match="pool_2d: ws must be a pair of ints"):
        pool_2d(x, (2.0, 2))
    with pytest.raises(TypeError, match="pool_2d: ws .* is required"):
        pool_2d(x)
    with pytest.raises(ValueError, match="pool_2d: padding works only with ignore_border=True"):
        pool_2d(x, (2, 2), ignore_border=False, pad=(1, 1))
    with pytest.raises(ValueError, match="pool_2d: each padding must be smaller than the window"):
        pool_2d(x, (2, 2), pad=(2, 0))
    with pytest.raises(ValueError, match="pool_2d: mode must be one of"):
        pool_2d(x, (2, 2), mode="average")


def test_run_time_error_of_a_gradient_op_names_shapes():
    x, gz = at.dtensor4("x"), at.dtensor4("gz")
    g = apply(Op("average_pool_grad", ws=(2, 2), stride=(2, 2), pad=(0, 0), ignore_border=True, mode="sum"), x, gz)
    f = ag.function([x, gz], g, mode="FAST_COMPILE")
    with pytest.raises(ValueError, match=r"(?s)average_pool_grad: expected pooled values of shape \(1, 1, 2, 2\) "
                                         r"for an input of shape \(1, 1, 4, 5\), got \(1, 1, 3, 3\).*test_pool.py"):
        f(np.zeros((1, 1, 4, 5)), np.zeros((1, 1, 3, 3)))

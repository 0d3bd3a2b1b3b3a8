"""softmax and log_softmax against a numpy reference: values, dtypes, stability, errors and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from opcheck import check_rule_grad, run, sample

import aotgraph.tensor as at


def np_softmax(a, axis):
    a = np.asarray(a, dtype=np.float64)
    e = np.exp(a - np.max(a, axis=axis, keepdims=True)) if a.size else a
    return e / np.sum(e, axis=axis, keepdims=True)


def np_log_softmax(a, axis):
    a = np.asarray(a, dtype=np.float64)
    if not a.size:
        return a
    s = a - np.max(a, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


FUNCS = [(at.softmax, np_softmax), (at.log_softmax, np_log_softmax)]
OUT_DTYPE = {"float64": "float64", "float32": "float32", "int64": "float64", "int8": "float32", "bool": "float32"}


@pytest.mark.parametrize("fn,ref", FUNCS, ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", list(OUT_DTYPE))
@pytest.mark.parametrize("shape,axis", [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), None),
                                        ((2, 3, 4), (0, 2)), ((3, 1), -1), ((0, 4), -1), ((4, 0), -1), ((1,), 0)])
def test_values_and_types(fn, ref, dtype, shape, axis):
    a = sample(shape, dtype)
    x = at.tensor(dtype, (None,) * len(shape))
    y = fn(x, axis=axis)
    assert y.dtype == OUT_DTYPE[dtype] and y.type.shape == x.type.shape
    got = run(y, {x: a})
    tol = 1e-6 if y.dtype == "float32" else 1e-13
    np.testing.assert_allclose(got, ref(a, axis), rtol=tol, atol=tol)
    static = fn(at.tensor(dtype, shape), axis=axis)
    assert static.type.shape == shape


def test_numerically_stable():
    x = at.dmatrix()
    a = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -2000.0], [0.0, -np.inf, 1.0]])
    sm, lsm = run([at.softmax(x), at.log_softmax(x)], {x: a})
    assert np.all(np.isfinite(sm))
    np.testing.assert_allclose(sm, np_softmax(a, -1), rtol=1e-14)
    np.testing.assert_allclose(lsm[:2], np_log_softmax(a[:2], -1), rtol=1e-14)
    assert lsm[2, 1] == -np.inf and np.isfinite(lsm[2, [0, 2]]).all()
    np.testing.assert_allclose(sm.sum(axis=1), 1.0)
    f = at.fvector()
    big = np.array([88.0, 89.0, 100.0], dtype="float32")  # exp overflows float32 without the shift
    assert np.isfinite(run(at.softmax(f), {f: big})).all()


def test_nnet_namespace_and_errors():
    assert at.nnet.softmax is at.softmax and at.nnet.sigmoid is at.sigmoid
    x = at.dmatrix()
    assert at.nnet.relu(x).owner.op.name == "relu"  # Theano's relu(x, alpha=0): the relu op when alpha is 0
    assert at.softmax(x).owner.op.axis == (1,)
    assert at.softmax(x, axis=None).owner.op.axis == (0, 1)
    with pytest.raises(np.exceptions.AxisError, match="softmax: axis 2 is out of bounds for array of dimension 2"):
        at.softmax(x, axis=2)
    with pytest.raises(np.exceptions.AxisError, match="log_softmax: axis -3 is out of bounds"):
        at.log_softmax(x, axis=-3)
    with pytest.raises(TypeError, match="axis must be an int, a tuple of ints or None"):
        at.softmax(x, axis=1.0)
    with pytest.raises(ValueError, match="repeated axis"):
        at.softmax(x, axis=(0, -2))


@pytest.mark.parametrize("fn", [at.softmax, at.log_softmax], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", [((4,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 2), (0, 2)), ((2, 2), None)])
def test_grad(fn, shape, axis):
    pytest.importorskip("aotgraph.tensor.reduction")
    x = at.tensor("float64", (None,) * len(shape), name="x")
    check_rule_grad(fn(x, axis=axis), {x: sample(shape, "float64")}, [x])


def test_grad_of_integer_input_is_none():
    i = at.lmatrix()
    y = at.softmax(i)
    from aotgraph.graph.rules import rule_of

    assert rule_of(y.owner.op).grad(y.owner.op, y.owner.inputs, y.owner.outputs, [at.dmatrix()]) == [None]

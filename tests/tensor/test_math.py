"""Elementwise ops against numpy: each row of tests/opspecs.py drives value, dtype and static-type checks."""

from __future__ import annotations

import numpy as np
import pytest
from opspecs import FLOATS, SPECS

import aotgraph.tensor as at
from aotgraph.graph.evaluate import evaluate

RNG = np.random.default_rng(0)


def sample(dtype: str, shape=(3, 4), low=-3, high=3, positive=False):
    if dtype == "bool":
        return RNG.integers(0, 2, shape).astype(bool)
    lo = 1 if positive else (0 if dtype.startswith("u") else low)
    if dtype.startswith(("int", "uint")):
        return RNG.integers(lo, high + 1, shape).astype(dtype)
    values = RNG.uniform(0.1 if positive else low, high, shape)
    return values.astype(dtype)


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_elementwise_matches_numpy(spec):
    fn = getattr(at, spec.name)
    for dtype in spec.dtypes:
        args = [spec.values(dtype, seed=k) for k in range(spec.arity)]
        if spec.name == "pow" and dtype.startswith(("int", "uint")):
            args[1] = np.abs(args[1]) % 3
        variables = [at.tensor(dtype, (None, None)) for _ in range(spec.arity)]
        out = fn(*variables)
        (got,) = evaluate([out], dict(zip(variables, args)))
        with np.errstate(all="ignore"):
            expected = np.asarray(spec.reference(*args))
        if expected.dtype == np.float16:
            expected = expected.astype(np.float32)
        if dtype in FLOATS:
            expected = expected.astype(got.dtype)
        assert got.dtype == out.dtype, (spec.name, dtype)
        assert got.dtype == expected.dtype, (spec.name, dtype, got.dtype, expected.dtype)
        rtol = spec.rtol32 if got.dtype == np.float32 else 1e-12
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol, err_msg=f"{spec.name} {dtype}")
        else:
            np.testing.assert_array_equal(got, expected, err_msg=f"{spec.name} {dtype}")


@pytest.mark.parametrize("a, b", [("int8", "float32"), ("uint8", "int8"), ("int32", "float32"), ("bool", "int16"),
                                  ("uint64", "int64"), ("float32", "float64"), ("int64", "uint32")])
def test_mixed_dtypes_follow_numpy_promotion(a, b):
    x, y = at.tensor(a, (None,)), at.tensor(b, (None,))
    for fn, ref in [(at.add, np.add), (at.mul, np.multiply), (at.true_div, np.true_divide), (at.maximum, np.maximum)]:
        out = fn(x, y)
        xv, yv = sample(a, (5,), positive=True), sample(b, (5,), positive=True)
        expected = ref(xv, yv)
        assert out.dtype == expected.dtype.name
        (got,) = evaluate([out], {x: xv, y: yv})
        np.testing.assert_array_equal(got, expected)


def test_python_scalars_are_weak_like_numpy():
    cases = [("int8", 2, "int8"), ("float32", 2.5, "float32"), ("int16", 2.5, "float64"), ("bool", 1, "int64"),
             ("uint8", 3, "uint8"), ("float64", True, "float64")]
    for dtype, scalar, expected in cases:
        x = at.tensor(dtype, (None,))
        assert (x * scalar).dtype == expected == (np.ones(2, dtype) * scalar).dtype.name
        assert (scalar - x).dtype == expected
    with pytest.raises(OverflowError, match="out of bounds for int8"):
        at.bvector() + 1000


def test_types_constructors_and_static_shapes():
    assert at.dscalar().type == at.TensorType("float64", ())
    assert at.fmatrix().type == at.TensorType("float32", (None, None))
    assert at.ivector().dtype == "int32" and at.lvector().dtype == "int64" and at.bscalar().dtype == "int8"
    assert at.dtensor3().ndim == 3 and at.ftensor3().dtype == "float32"
    a, b = at.dscalars("a", "b")
    assert (a.name, b.name) == ("a", "b")
    assert [v.name for v in at.dmatrices("p", "q")] == ["p", "q"]
    assert all(v.ndim == 1 for v in at.dvectors(3))
    row = at.tensor(dtype="float64", shape=(1, None), name="row")
    assert row.broadcastable == (True, False)
    col = at.tensor(dtype="float64", shape=(None, 1))
    assert (row + col).type.shape == (None, None)
    assert (row + at.dvector()).type.broadcastable == (True, False)
    fixed3, fixed4 = at.tensor("float64", (3,)), at.tensor("float64", (4,))
    assert (fixed3 + at.dvector()).type.shape == (3,)
    with pytest.raises(TypeError, match=r"add: shapes cannot broadcast .*Tensor\{f64, \(3,\)\}.*Tensor\{f64, \(4,\)\}"):
        fixed3 + fixed4
    c = at.constant([1, 2, 3])
    assert c.dtype == "int64" and c.type.shape == (3,)
    assert at.constant(1.5).dtype == "float64"
    with pytest.raises(TypeError, match="not supported"):
        at.tensor("complex128", ())
    with pytest.raises(TypeError, match="cannot make a tensor constant"):
        at.constant("text")


def test_dtype_errors_name_the_op():
    with pytest.raises(TypeError, match="and_: not defined for these dtypes"):
        at.and_(at.dvector(), at.dvector())
    with pytest.raises(TypeError, match="neg: not defined"):
        at.neg(at.tensor("bool", (None,)))


def test_symbolic_variables_refuse_truth_and_iteration():
    x = at.dvector()
    with pytest.raises(TypeError, match="no truth value"):
        bool(x > 0)
    with pytest.raises(TypeError, match="not iterable"):
        list(x)


def test_cast_and_astype():
    x = at.dvector()
    assert at.cast(x, "float64") is x
    y = x.astype("int32")
    assert y.dtype == "int32"
    (got,) = evaluate([y], {x: np.array([1.7, -2.5])})
    np.testing.assert_array_equal(got, np.array([1.7, -2.5]).astype(np.int32))


def test_switch_clip_where_broadcast():
    c, a = at.tensor("bool", (None, 1)), at.dmatrix()
    out = at.switch(c, a, 0)
    cv, av = np.array([[True], [False]]), np.arange(6.0).reshape(2, 3)
    (got,) = evaluate([out], {c: cv, a: av})
    np.testing.assert_array_equal(got, np.where(cv, av, 0))
    (clipped,) = evaluate([at.clip(a, 1, 4)], {a: av})
    np.testing.assert_array_equal(clipped, np.clip(av, 1, 4))
    assert at.where is at.switch


def test_nan_and_inf_flow_through():
    x = at.dvector()
    (got,) = evaluate([at.log(x) / x], {x: np.array([0.0, -1.0, np.inf, np.nan])})
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(got, np.log([0.0, -1.0, np.inf, np.nan]) / [0.0, -1.0, np.inf, np.nan])


def test_integer_division_by_zero_like_numpy():
    x, y = at.ivector(), at.ivector()
    xv, yv = np.array([5, -5, 0], np.int32), np.array([0, 0, 0], np.int32)
    got = evaluate([x // y, x % y], {x: xv, y: yv})
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(got[0], xv // yv)
        np.testing.assert_array_equal(got[1], xv % yv)

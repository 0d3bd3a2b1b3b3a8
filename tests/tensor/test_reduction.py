"""Reductions against numpy: values, dtypes, static types, construction errors and gradients."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from opcheck import check_rule_grad, run, sample

import aotgraph.tensor as at
from aotgraph.gradient import verify_grad
from aotgraph.graph.rules import rule_of
from aotgraph.tensor.reduction import unreduce

DTYPES = ["float64", "float32", "int8", "int64", "uint8", "bool"]
SHAPES = [(), (5,), (3, 4), (2, 0, 3), (2, 1, 3)]


def axis_forms(ndim, multi=True):
    """None, every axis as an int, -1 and, if `multi`, (), all axes, and pairs (the second one negative)."""
    forms = [None, *range(ndim), *([-1] if ndim else [])]
    if multi:
        forms += [(), tuple(range(ndim))]
        forms += [(a, b - ndim) for a, b in itertools.combinations(range(ndim), 2)]
    return forms


# (name, at function, numpy function, extra keyword sets, takes several axes)
SPECS = [
    ("sum", at.sum, np.sum, [{}, {"dtype": "float64"}], True),
    ("prod", at.prod, np.prod, [{}, {"dtype": "int64"}], True),
    ("max", at.max, np.max, [{}], True),
    ("min", at.min, np.min, [{}], True),
    ("all", at.all, np.all, [{}], True),
    ("any", at.any, np.any, [{}], True),
    ("mean", at.mean, np.mean, [{}, {"dtype": "float32"}], True),
    ("var", at.var, np.var, [{}, {"ddof": 1}], True),
    ("std", at.std, np.std, [{}, {"ddof": 1}], True),
    ("argmax", at.argmax, np.argmax, [{}], False),
    ("argmin", at.argmin, np.argmin, [{}], False),
]


def numpy_result(np_fn, value, axis, keepdims, kwargs):
    """numpy's result, or the ValueError numpy raises (empty max/argmax)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.asarray(np_fn(value, axis=axis, keepdims=keepdims, **kwargs)), None
    except ValueError as err:
        return None, err


def assert_matches(got, expected, dtype):
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert got.shape == expected.shape
    if expected.dtype.kind == "f":
        rtol = 1e-12 if expected.dtype == np.float64 else 1e-6
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=0 if dtype != "float32" else 1e-6)
    else:
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("spec", SPECS, ids=[s[0] for s in SPECS])
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_numpy(spec, dtype):
    name, at_fn, np_fn, kwarg_sets, multi = spec
    for shape, kwargs, keepdims in itertools.product(SHAPES, kwarg_sets, (False, True)):
        value = sample(shape, dtype)
        for axis in axis_forms(len(shape), multi):
            expected, error = numpy_result(np_fn, value, axis, keepdims, kwargs)
            statics = [(None,) * len(shape), shape] if dtype in ("float64", "int8") else [(None,) * len(shape)]
            for static in statics:  # static shapes are dtype-independent: check them for two dtypes
                x = at.tensor(dtype, shape=static)
                out = at_fn(x, axis, keepdims=keepdims, **kwargs)
                context = f"{name}({dtype}{shape}, axis={axis}, keepdims={keepdims}, {kwargs})"
                if error is not None:  # numpy refuses at run time (empty max/argmax)
                    with pytest.raises(ValueError):
                        run(out, {x: value})
                    continue
                assert out.dtype == expected.dtype.name, context
                assert out.ndim == expected.ndim, context
                assert all(s is None or s == e for s, e in zip(out.type.shape, expected.shape)), context
                if static == shape:
                    assert out.type.shape == expected.shape, context
                with np.errstate(all="ignore"):  # means of empty slices
                    got = run(out, {x: value})  # also checks dtype, shape and aliasing against the static type
                assert_matches(got, expected, dtype)


def test_methods_match_functions():
    x = at.dtensor3("x")
    value = sample((2, 3, 4), "float64")
    pairs = [
        (x.sum(axis=1, keepdims=True), value.sum(axis=1, keepdims=True)),
        (x.sum(axis=(0, 2), dtype="float32"), value.sum(axis=(0, 2), dtype="float32")),
        (x.prod(axis=-1), value.prod(axis=-1)),
        (x.mean(axis=0), value.mean(axis=0)),
        (x.var(axis=(1, 2), ddof=1), value.var(axis=(1, 2), ddof=1)),
        (x.std(keepdims=True), value.std(keepdims=True)),
        (x.max(axis=-2), value.max(axis=-2)),
        (x.min(), value.min()),
        (x.argmax(axis=2, keepdims=True), value.argmax(axis=2, keepdims=True)),
        (x.argmin(), value.argmin()),
        (x.all(axis=0), value.all(axis=0)),
        (x.any(keepdims=True), value.any(keepdims=True)),
    ]
    got = run([p[0] for p in pairs], {x: value})
    for g, (_, expected) in zip(got, pairs):
        assert_matches(g, np.asarray(expected), "float64")


def test_static_types():
    x = at.tensor("float32", shape=(2, None, 4, 1), name="x")
    assert at.sum(x, axis=1).type == at.TensorType("float32", (2, 4, 1))
    assert at.sum(x, axis=(0, -1), keepdims=True).type == at.TensorType("float32", (1, None, 4, 1))
    assert at.max(x).type == at.TensorType("float32", ())
    assert at.argmax(x, axis=2).type == at.TensorType("int64", (2, None, 1))
    assert at.argmax(x, keepdims=True).type == at.TensorType("int64", (1, 1, 1, 1))
    assert at.mean(x, axis=0).type == at.TensorType("float32", (None, 4, 1))
    assert at.var(at.tensor("int8", shape=(3, 5)), axis=1).type == at.TensorType("float64", (3,))
    assert at.std(x, axis=2, keepdims=True).type == at.TensorType("float32", (2, None, 1, 1))
    assert at.sum(at.tensor("uint8", shape=(3,))).dtype == "uint64"
    assert at.sum(at.tensor("int8", shape=(3,)), dtype="int16").dtype == "int16"
    assert at.all(x).dtype == "bool"


def test_equal_reductions_are_equal_ops():
    x = at.tensor("int8", shape=(None, None))
    assert at.sum(x, axis=-1).owner.op == at.sum(x, axis=1, dtype="int64").owner.op
    assert at.max(x, axis=(1, 0)).owner.op == at.max(x).owner.op


@pytest.mark.parametrize("build, error, match", [
    (lambda x: at.sum(x, axis=2), ValueError, r"sum: axis 2 is out of bounds for a 2-d .*Tensor\{f64, \(\?, \?\)\}"),
    (lambda x: at.max(x, axis=-3), ValueError, r"max: axis -3 is out of bounds"),
    (lambda x: at.sum(x, axis=(0, -2)), ValueError, r"sum: duplicate value in axis \(0, -2\)"),
    (lambda x: at.mean(x, axis=1.0), TypeError, r"mean: axis must be None, an int or a tuple of ints"),
    (lambda x: at.prod(x, axis=True), TypeError, r"prod: axis must be"),
    (lambda x: at.argmax(x, axis=(0, 1)), TypeError, r"argmax: axis must be None or one int"),
    (lambda x: at.argmin(x, axis=5), ValueError, r"argmin: axis 5 is out of bounds"),
    (lambda x: at.sum(x, 0, "float64"), TypeError, r"sum: keepdims must be a bool"),
    (lambda x: at.var(x, ddof="1"), TypeError, r"var: ddof must be a number"),
    (lambda x: at.sum(x, dtype="complex128"), TypeError, r"not supported"),
    (lambda x: at.sum(at.dscalar(), axis=0), ValueError, r"sum: axis 0 is out of bounds for a 0-d operand"),
])
def test_construction_errors(build, error, match):
    with pytest.raises(error, match=match):
        build(at.dmatrix("x"))


def test_axis_error_is_numpy_axis_error():
    with pytest.raises(np.exceptions.AxisError):
        at.sum(at.dvector(), axis=1)


def test_empty_reductions():
    x = at.dmatrix("x")
    value = np.zeros((0, 3))
    with np.errstate(invalid="ignore"):  # 0 / 0 in the mean, as in numpy
        got = run([at.sum(x), at.prod(x, axis=0), at.all(x), at.any(x), at.mean(x, axis=0)], {x: value})
    assert got[0] == 0 and got[2] and not got[3]
    np.testing.assert_array_equal(got[1], np.ones(3))
    assert np.isnan(got[4]).all()
    with pytest.raises(ValueError, match="zero-size array"):
        run([at.max(x, axis=0)], {x: value})
    with pytest.raises(ValueError):
        run([at.argmin(x)], {x: value})


def test_mean_and_var_follow_numpy_exactly():
    rng = np.random.default_rng(1)
    value = rng.standard_normal((50, 37)) * 1e3 + 1e6
    x = at.dmatrix("x")
    for axis in (None, 0, 1):
        for ddof in (0, 1, 2):
            got_mean, got_var, got_std = run(
                [at.mean(x, axis), at.var(x, axis, ddof=ddof), at.std(x, axis, ddof=ddof)], {x: value}
            )
            np.testing.assert_allclose(got_mean, np.mean(value, axis), rtol=1e-12)
            np.testing.assert_allclose(got_var, np.var(value, axis, ddof=ddof), rtol=1e-12)
            np.testing.assert_allclose(got_std, np.std(value, axis, ddof=ddof), rtol=1e-12)


def test_mean_with_integer_dtype_truncates_like_numpy():
    x = at.lvector("x")
    (got,) = run([at.mean(x, dtype="int64")], {x: np.arange(5)})
    assert got.dtype == np.int64 and got == np.mean(np.arange(5), dtype=np.int64)


def test_var_with_ddof_beyond_count_is_nan_or_inf():
    x = at.dvector("x")
    with pytest.warns(RuntimeWarning):
        expected = np.var(np.ones(3), ddof=5)
    with np.errstate(divide="ignore", invalid="ignore"):
        (got,) = run([at.var(x, ddof=5)], {x: np.ones(3)})
    np.testing.assert_array_equal(got, expected)


# ---- gradients ---------------------------------------------------------------------------------------

LIKE = at.constant(np.zeros((2, 3, 4)))

# the rule of one reduce/unreduce node, called directly: (id, build, input shape)
RULE_GRAD_CASES = [
    ("sum all", lambda x: at.sum(x), (3, 4)),
    ("sum axis", lambda x: at.sum(x, axis=1), (3, 4)),
    ("sum keepdims", lambda x: at.sum(x, axis=(0, 2), keepdims=True), (2, 3, 2)),
    ("sum negative", lambda x: at.sum(x, axis=-1), (2, 3)),
    ("sum no axes", lambda x: at.sum(x, axis=()), (2, 3)),
    ("sum scalar", lambda x: at.sum(x), ()),
    ("prod", lambda x: at.prod(x, axis=0), (3, 4)),
    ("prod keepdims", lambda x: at.prod(x, axis=1, keepdims=True), (3, 4)),
    ("max", lambda x: at.max(x, axis=1), (3, 4)),
    ("max keepdims", lambda x: at.max(x, axis=(0, 1), keepdims=True), (3, 4)),
    ("min", lambda x: at.min(x), (3, 4)),
    ("unreduce", lambda g: unreduce(g, LIKE, (1,)), (2, 4)),
    ("unreduce keepdims", lambda g: unreduce(g, LIKE, (0, 2), keepdims=True), (1, 3, 1)),
]


@pytest.mark.parametrize("build, shape", [c[1:] for c in RULE_GRAD_CASES], ids=[c[0] for c in RULE_GRAD_CASES])
def test_rule_gradient(build, shape):
    x = at.tensor("float64", shape=(None,) * len(shape))
    check_rule_grad(build(x), {x: sample(shape, "float64")}, [x])


# graphs of several ops, through aotgraph.gradient: (id, build, point shape; size-1 dims are broadcastable)
GRAPH_GRAD_CASES = [
    ("mean", lambda x: at.mean(x, axis=0), (3, 4)),
    ("mean keepdims", lambda x: at.mean(x, axis=-1, keepdims=True), (3, 4)),
    ("mean scalar", lambda x: at.mean(x), ()),
    ("var", lambda x: at.var(x, axis=1), (3, 4)),
    ("var ddof", lambda x: at.var(x, ddof=1), (3, 4)),
    ("var broadcastable", lambda x: at.var(x, axis=(0, 2)), (2, 1, 3)),
    ("std", lambda x: at.std(x, axis=0, keepdims=True), (3, 4)),
    ("std ddof", lambda x: at.std(x, axis=(0, 2), ddof=1), (2, 3, 2)),
]


@pytest.mark.parametrize("build, shape", [c[1:] for c in GRAPH_GRAD_CASES], ids=[c[0] for c in GRAPH_GRAD_CASES])
def test_graph_gradient(build, shape):
    verify_grad(build, [sample(shape, "float64")], mode="FAST_COMPILE")


@pytest.mark.parametrize("axis", [0, 1, None])
def test_prod_gradient_with_zeros(axis):
    """One zero in a slice: the gradient there is the product of the rest; two zeros: all zero."""
    x = at.dmatrix("x")
    value = np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [1.0, 2.0, -1.0], [0.0, 4.0, 0.5]])
    check_rule_grad(at.prod(x, axis=axis), {x: value}, [x])


def test_max_gradient_goes_to_every_tie():
    x, gz = at.dmatrix("x"), at.dvector("gz")
    node = at.max(x, axis=1).owner
    (gx,) = rule_of(node.op).grad(node.op, node.inputs, node.outputs, [gz])
    got = run(gx, {x: [[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], gz: [10.0, 20.0]})
    np.testing.assert_array_equal(got, [[0.0, 10.0, 10.0], [20.0, 0.0, 0.0]])


@pytest.mark.parametrize("fn", [at.argmax, at.argmin, at.all, at.any], ids=lambda f: f.__name__)
def test_no_gradient(fn):
    node = fn(at.dmatrix("x"), axis=0).owner
    assert rule_of(node.op).grad(node.op, node.inputs, node.outputs, [at.dvector()]) == [None]

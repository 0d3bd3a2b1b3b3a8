"""dot, matmul (@) and outer against numpy: values, dtypes, static types, construction errors and gradients."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from opcheck import check_rule_grad, run, sample

import aotgraph.tensor as at
from aotgraph.gradient import grad, verify_grad
from aotgraph.tensor.blas import _matmul

DTYPES = ["float64", "float32", "int8", "int64", "uint8", "bool"]


def check(out, inputs, values, expected):
    """`out` evaluates to numpy's `expected`, with its dtype, and its static type admits that shape."""
    expected = np.asarray(expected)
    assert out.dtype == expected.dtype.name
    assert out.ndim == expected.ndim
    assert all(s is None or s == e for s, e in zip(out.type.shape, expected.shape)), (out.type, expected.shape)
    got = run(out, dict(zip(inputs, values)))  # also checks dtype, shape and aliasing against the static type
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-12 if expected.dtype == np.float64 else 1e-5)
    else:
        np.testing.assert_array_equal(got, expected)


# operand shapes for each rank combination (inner sizes agree)
DOT_SHAPES = {
    (0, 0): ((), ()), (0, 1): ((), (3,)), (1, 0): ((3,), ()), (0, 2): ((), (2, 3)), (2, 0): ((2, 3), ()),
    (1, 1): ((3,), (3,)), (1, 2): ((3,), (3, 4)), (2, 1): ((2, 3), (3,)), (2, 2): ((2, 3), (3, 4)),
}
MATMUL_SHAPES = [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
    ((5, 2, 3), (5, 3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (3, 4)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,)),
    ((1, 2, 3), (5, 3, 4)), ((6, 1, 2, 3), (5, 3, 4)), ((0, 2, 3), (3, 4)), ((2, 0), (0, 4)), ((0,), (0,)),
]


@pytest.mark.parametrize("ranks", list(DOT_SHAPES), ids=str)
def test_dot_ranks(ranks):
    shapes = DOT_SHAPES[ranks]
    values = [sample(s, "float64", seed=i) for i, s in enumerate(shapes)]
    for static in (False, True):
        inputs = [at.tensor("float64", shape=s if static else (None,) * len(s)) for s in shapes]
        out = at.dot(*inputs)
        if static:
            assert out.type.shape == np.dot(*values).shape
        check(out, inputs, values, np.dot(*values))


@pytest.mark.parametrize("a_dtype, b_dtype", list(itertools.product(DTYPES, DTYPES)))
def test_dtypes(a_dtype, b_dtype):
    for ranks in [(0, 1), (1, 1), (2, 1), (2, 2)]:
        shapes = DOT_SHAPES[ranks]
        values = [sample(shapes[0], a_dtype), sample(shapes[1], b_dtype, seed=1)]
        inputs = [at.tensor(d, shape=(None,) * len(s)) for d, s in zip((a_dtype, b_dtype), shapes)]
        check(at.dot(*inputs), inputs, values, np.dot(*values))
        if 0 not in ranks:
            check(at.matmul(*inputs), inputs, values, np.matmul(*values))
    a, b = at.tensor(a_dtype, shape=(None,)), at.tensor(b_dtype, shape=(None,))
    values = [sample((3,), a_dtype), sample((4,), b_dtype, seed=1)]
    check(at.outer(a, b), [a, b], values, np.outer(*values))


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes):
    values = [sample(s, "float64", seed=i) for i, s in enumerate(shapes)]
    expected = np.matmul(*values)
    static_inputs = [at.tensor("float64", shape=s) for s in shapes]
    assert at.matmul(*static_inputs).type.shape == expected.shape
    inputs = [at.tensor("float64", shape=(None,) * len(s)) for s in shapes]
    check(at.matmul(*inputs), inputs, values, expected)
    check(inputs[0] @ inputs[1], inputs, values, expected)


def test_matmul_with_numpy_operands():
    x = at.dmatrix("x")
    value, other = sample((2, 3), "float64"), sample((3, 2), "float64", seed=1)
    check(x @ other, [x], [value], value @ other)
    check(other @ x, [x], [value], other @ value)


def test_static_shapes_propagate():
    a = at.tensor("float32", shape=(None, 1, 2, None))
    b = at.tensor("float32", shape=(7, None, 5))
    assert at.matmul(a, b).type == at.TensorType("float32", (None, 7, 2, 5))
    assert at.dot(at.tensor("int8", shape=(2, None)), at.tensor("int8", shape=(3,))).type == at.TensorType("int8", (2,))
    assert at.outer(at.tensor("float64", shape=(4,)), at.fvector()).type == at.TensorType("float64", (4, None))
    assert at.dot(at.dscalar(), at.tensor("float32", shape=(2, 3))).type == at.TensorType("float64", (2, 3))


@pytest.mark.parametrize("build, match", [
    (lambda: at.dot(at.dmatrix(), at.dtensor3()),
     r"dot: supports operands of rank 0, 1 and 2.*Tensor\{f64, \(\?, \?\)\}, Tensor\{f64, \(\?, \?, \?\)\}"),
    (lambda: at.dot(at.dtensor3(), at.dvector()), r"dot: .*rank"),
    (lambda: at.dot(at.tensor("float64", shape=(3,)), at.tensor("float64", shape=(4,))),
     r"dot: inner dimensions differ \(3 and 4\).*Tensor\{f64, \(3,\)\}, Tensor\{f64, \(4,\)\}"),
    (lambda: at.dot(at.tensor("float64", shape=(2, 3)), at.tensor("float64", shape=(2, 3))), r"dot: inner dimensions"),
    (lambda: at.matmul(at.dscalar(), at.dvector()), r"matmul: operands must be at least 1-d"),
    (lambda: at.matmul(at.dmatrix(), 2.0), r"matmul: operands must be at least 1-d"),
    (lambda: at.matmul(at.tensor("float64", shape=(None, 3)), at.tensor("float64", shape=(5,))),
     r"matmul: inner dimensions differ \(3 and 5\)"),
    (lambda: at.matmul(at.tensor("float64", shape=(2, 3, 4)), at.tensor("float64", shape=(5, 4, 3))),
     r"matmul: batch dimensions cannot broadcast"),
    (lambda: at.outer(at.dmatrix(), at.dvector()), r"outer: takes two vectors"),
    (lambda: _matmul(at.dvector(), at.dmatrix(), trans_b=True), r"matmul: trans_a/trans_b need two operands"),
])
def test_construction_errors(build, match):
    with pytest.raises(TypeError, match=match):
        build()


def test_runtime_size_mismatch_raises():
    a, b = at.dmatrix("a"), at.dmatrix("b")
    with pytest.raises(ValueError, match="matmul"):
        run(at.dot(a, b), {a: np.ones((2, 3)), b: np.ones((4, 2))})


@pytest.mark.parametrize("trans_a, trans_b", list(itertools.product([False, True], repeat=2)))
def test_transposed_operands(trans_a, trans_b):
    left, right = sample((5, 2, 3), "float64"), sample((5, 3, 4), "float64", seed=1)
    a_value = np.swapaxes(left, -1, -2) if trans_a else left  # stored so that the flags undo the swap
    b_value = np.swapaxes(right, -1, -2) if trans_b else right
    a, b = at.dtensor3("a"), at.dtensor3("b")
    check(_matmul(a, b, trans_a, trans_b), [a, b], [a_value, b_value], left @ right)
    check_rule_grad(_matmul(a, b, trans_a, trans_b), {a: a_value, b: b_value}, [a, b])
    a, b = at.dmatrix("a"), at.dmatrix("b")
    check_rule_grad(_matmul(a, b, trans_a, trans_b), {a: a_value[0], b: b_value[0]}, [a, b])


# ---- gradients --------------------------------------------------------------------------------------


@pytest.mark.parametrize("ranks", list(DOT_SHAPES), ids=str)
def test_dot_gradient(ranks):
    """Through aotgraph.gradient: with a 0-d operand, dot is an elementwise product."""
    shapes = DOT_SHAPES[ranks]
    verify_grad(at.dot, [sample(s, "float64", seed=i) for i, s in enumerate(shapes)], mode="FAST_COMPILE")


@pytest.mark.parametrize("shapes", [s for s in MATMUL_SHAPES if 0 not in s[0] + s[1]], ids=str)
def test_matmul_gradient(shapes):
    """The matmul rule alone; size-1 batch dims are broadcastable and their gradient is summed back."""
    a, b = [at.tensor("float64", shape=tuple(1 if n == 1 else None for n in s)) for s in shapes]
    values = [sample(s, "float64", seed=i) for i, s in enumerate(shapes)]
    check_rule_grad(at.matmul(a, b), {a: values[0], b: values[1]}, [a, b])


def test_outer_gradient():
    a, b = at.dvector("a"), at.dvector("b")
    check_rule_grad(at.outer(a, b), {a: sample((3,), "float64"), b: sample((4,), "float64", seed=1)}, [a, b])


def test_second_order_gradient():
    """Gradients of gradients use the transposed-operand flags; they type-check and evaluate."""
    a, b = at.dmatrix("a"), at.dmatrix("b")
    ga = grad(at.sum(at.dot(a, b)), a)
    gga = grad(at.sum(ga * ga), b)
    a_value, b_value = sample((2, 3), "float64"), sample((3, 4), "float64", seed=1)
    got = run(gga, {a: a_value, b: b_value})
    # ga[i, k] = sum_j b[k, j] for each of a's 2 rows, so d/db sum(ga^2) = 2 * 2 * rowsum(b) in every column
    np.testing.assert_allclose(got, 2 * 2 * np.repeat(b_value.sum(1, keepdims=True), 4, axis=1))

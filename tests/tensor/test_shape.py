"""Shape ops against numpy: values, dtypes, static types, construction errors and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from opcheck import check_graph_grad, check_rule_grad, run, sample

import aotgraph.tensor as at
from aotgraph.graph.rules import rule_of

DTYPES = ["float64", "float32", "int64", "int8", "bool"]


def var(dtype, shape, static=False, name="x"):
    """A symbolic input for values of `shape`: with that static shape, or all sizes unknown."""
    return at.tensor(dtype, shape if static else (None,) * len(shape), name=name)


# ---- shape ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 1, 4), (0, 3)])
def test_shape(shape):
    x = var("float32", shape)
    s = at.shape(x)
    assert s.type == at.TensorType("int64", (len(shape),))
    got = run(s, {x: sample(shape, "float32")})
    np.testing.assert_array_equal(got, np.array(shape, dtype="int64"))
    for i in range(len(shape)):
        assert run(x.shape[i], {x: sample(shape, "float32")}) == shape[i]
        assert x.shape[i].type == at.TensorType("int64", ())
    import aotgraph.tensor.shape_ops  # noqa: F401 - importing the module keeps at.shape the function

    assert callable(at.shape) and at.shape.__name__ == "shape"


def test_shape_gradient_is_disconnected():
    from aotgraph.gradient import DISCONNECTED

    x = at.dvector()
    node = x.shape.owner
    assert rule_of(node.op).grad(node.op, node.inputs, node.outputs, [at.lvector()]) == [DISCONNECTED]


# ---- dimshuffle and transpose ---------------------------------------------------------------------
DIMSHUFFLES = [
    ((2, 3), (1, 0)), ((2, 3), ("x", 0, 1)), ((2, 3), (0, "x", 1, "x")), ((2, 1, 3), (2, 0)),
    ((1, 1), ()), ((), ("x", "x")), ((4,), (0,)), ((0, 2), (1, "x", 0)), ((2, 1, 3), (1, 2, 0)),
]


def np_dimshuffle(a, pattern):
    kept = [p for p in pattern if p != "x"]
    dropped = tuple(i for i in range(a.ndim) if i not in kept)
    b = a.reshape([s for i, s in enumerate(a.shape) if i not in dropped])
    b = b.transpose([p - sum(d < p for d in dropped) for p in kept])
    return b[tuple(None if p == "x" else slice(None) for p in pattern)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,pattern", DIMSHUFFLES)
def test_dimshuffle(dtype, shape, pattern):
    static = tuple(1 if s == 1 else None for s in shape)
    x = at.tensor(dtype, static)
    y = x.dimshuffle(*pattern) if pattern else x.dimshuffle(())
    a = sample(shape, dtype)
    expected = np_dimshuffle(a, pattern)
    assert y.type.shape == tuple(1 if p == "x" else static[p] for p in pattern)
    np.testing.assert_array_equal(run(y, {x: a}), expected)
    z = at.dimshuffle(at.tensor(dtype, shape), pattern)  # fully static input: fully static output
    assert z.type.shape == expected.shape


@pytest.mark.parametrize("pattern,match", [
    ((0,), "drops dimension 1, which is not broadcastable"),
    ((0, 0, 1), "repeats a dimension"),
    ((0, 2), "neither 'x' nor an input dimension"),
    ((0, "y", 1), "neither 'x' nor an input dimension"),
    ((-1, 0), "neither 'x' nor an input dimension"),
])
def test_dimshuffle_errors(pattern, match):
    x = at.tensor("float64", (None, None))
    with pytest.raises(TypeError, match=match) as err:
        x.dimshuffle(pattern)
    assert "dimshuffle" in str(err.value) and "Tensor{f64, (?, ?)}" in str(err.value)
    with pytest.raises(TypeError, match="pattern entries must be ints or 'x'"):
        x.dimshuffle(0, 1.0)


def test_dimshuffle_runtime_size_check():
    # a static size of 1 is a promise; a value breaking it fails like numpy's squeeze
    x = at.tensor("float64", (None, 1))
    with pytest.raises(ValueError):
        run(x.dimshuffle(0), {x: np.zeros((2, 3))})


@pytest.mark.parametrize("shape,axes", [
    ((2, 3), None), ((2, 3, 4), None), ((2, 3, 4), (1, 0, 2)), ((2, 3, 4), (-1, 0, -2)), ((5,), None), ((), None),
    ((0, 3), (1, 0)), ((2, 1, 3), (2, 1, 0)),
])
@pytest.mark.parametrize("dtype", ["float32", "int8", "bool"])
def test_transpose(shape, axes, dtype):
    x = var(dtype, shape)
    a = sample(shape, dtype)
    for y in (at.transpose(x, axes), x.transpose(axes) if axes else x.T):
        assert y.owner.op.name == "dimshuffle"
        np.testing.assert_array_equal(run(y, {x: a}), np.transpose(a, axes))
    assert at.transpose(at.tensor(dtype, shape), axes).type.shape == np.transpose(a, axes).shape
    if len(shape) == 3:
        np.testing.assert_array_equal(run(x.transpose(2, 0, 1), {x: a}), a.transpose(2, 0, 1))


def test_transpose_errors():
    x = at.dtensor3()
    with pytest.raises(ValueError, match=r"transpose: axes \(0, 1\) don't match array"):
        at.transpose(x, (0, 1))
    with pytest.raises(ValueError, match="repeated axis in transpose"):
        at.transpose(x, (0, 1, -2))
    with pytest.raises(np.exceptions.AxisError, match="axis 3 is out of bounds for array of dimension 3"):
        at.transpose(x, (0, 1, 3))
    with pytest.raises(TypeError, match="axis must be an integer"):
        at.transpose(x, (0, 1, 2.0))


# ---- reshape and flatten ------------------------------------------------------------------------
RESHAPES = [
    ((2, 3), (3, 2)), ((2, 3), (-1,)), ((2, 3), (6,)), ((2, 3), 6), ((2, 3), (1, -1, 1)), ((6,), (2, -1)),
    ((0, 3), (3, 0)), ((0, 3), (0, 5, 2)), ((2, 3, 4), (4, -1)), ((1,), ()), ((), (1, 1)), ((2, 3), (-3, 2)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,new", RESHAPES)
def test_reshape_constant_shape(dtype, shape, new):
    a = sample(shape, dtype)
    expected = np.reshape(a, new)
    x = var(dtype, shape)
    y = at.reshape(x, new)
    assert y.type.shape == tuple(s if s >= 0 else None for s in np.reshape(new, -1))
    np.testing.assert_array_equal(run(y, {x: a}), expected)
    z = at.reshape(var(dtype, shape, static=True), new)
    assert z.type.shape == expected.shape  # a -1 is worked out from a fully static input
    if isinstance(new, tuple) and new:
        np.testing.assert_array_equal(run(x.reshape(*new), {x: a}), expected)


def test_reshape_symbolic_sizes():
    x = at.dmatrix("x")
    n, m = at.lscalar("n"), at.iscalar("m")
    a = sample((4, 6), "float64")
    cases = [
        (x.reshape((n, -1)), {n: 3}, a.reshape(3, -1)),
        (x.reshape((n, m)), {n: 8, m: 3}, a.reshape(8, 3)),
        (at.reshape(x, [2, n, 2]), {n: 6}, a.reshape(2, 6, 2)),
        (at.reshape(x, at.stack([n, m])), {n: 12, m: 2}, a.reshape(12, 2)),
        (at.reshape(x, at.as_tensor_variable([m, n])), {n: 12, m: 2}, a.reshape(2, 12)),
        (x.reshape((x.shape[1], x.shape[0])), {}, a.reshape(6, 4)),
        (x.reshape(x.T.shape), {}, a.reshape(6, 4)),
        (x.reshape((x.shape[0] * x.shape[1],)), {}, a.reshape(24)),
    ]
    for y, sizes, expected in cases:
        assert y.owner.op.name == "reshape"
        np.testing.assert_array_equal(run(y, {x: a, **sizes}), expected)
    # static sizes known through y.shape and stacked constants land in the op's params
    s = at.tensor("float32", (2, None, 3))
    y = at.reshape(x, s.shape)
    assert y.owner.op.shape == (2, None, 3) and y.type.shape == (2, None, 3)
    assert at.reshape(x, (2, at.constant(12))).owner.inputs == [x]


def test_reshape_vector_shape_of_unknown_length():
    x, v = at.dvector("x"), at.lvector("v")
    a = np.arange(12.0)
    with pytest.raises(TypeError, match="length of shape vector .* is not known; pass ndim="):
        at.reshape(x, v)
    y = at.reshape(x, v, ndim=2)
    assert y.ndim == 2
    np.testing.assert_array_equal(run(y, {x: a, v: [3, 4]}), a.reshape(3, 4))
    with pytest.raises(ValueError, match="specify_shape: expected shape"):
        run(y, {x: a, v: [3, 2, 2]})
    with pytest.raises(TypeError, match="shape has 2 entries but ndim=3"):
        at.reshape(x, (3, 4), ndim=3)


def test_reshape_errors():
    x = at.tensor("float64", (2, 3))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape array of size 6 into shape \(4,\)"):
        x.reshape(4)
    with pytest.raises(ValueError, match=r"cannot reshape array of size 6 into shape \(4, -1\)"):
        x.reshape((4, -1))
    with pytest.raises(ValueError, match="can only specify one unknown dimension"):
        at.dvector().reshape((-1, -1))
    with pytest.raises(ValueError, match="cannot reshape array of size 0"):
        at.tensor("float64", (0, 3)).reshape((0, -1))  # numpy refuses -1 next to 0
    with pytest.raises(TypeError, match="shape entries must be integer scalars"):
        x.reshape((2.0, 3))
    with pytest.raises(TypeError, match="shape entries must be integer scalars"):
        x.reshape((at.dscalar(), 3))
    with pytest.raises(TypeError, match="shape entries must be integer scalars"):
        x.reshape((True, 6))
    y = at.dmatrix()
    with pytest.raises(ValueError, match="cannot reshape array of size 6 into shape"):
        run(y.reshape((4, -1)), {y: np.zeros((2, 3))})
    n = at.lscalar()
    with pytest.raises(ValueError, match="cannot reshape array of size 6 into shape"):
        run(y.reshape((n, 4)), {y: np.zeros((2, 3)), n: 1})


def test_reshape_static_symbolic_entry():
    x = at.tensor("float64", (4, 6))
    n = at.lscalar()
    assert x.reshape((n, 8)).type.shape == (3, 8)  # the only value numpy would accept
    assert at.tensor("float64", (0, 6)).reshape((n, 0)).type.shape == (None, 0)
    with pytest.raises(ValueError):
        x.reshape((n, 5))


@pytest.mark.parametrize("shape", [(2, 3, 4), (0, 3, 2), (2, 0, 5), (3,), (), (1, 1, 1, 2)])
@pytest.mark.parametrize("static", [False, True])
def test_flatten(shape, static):
    a = sample(shape, "int8")
    x = var("int8", shape, static)
    for ndim in range(1, max(len(shape), 1) + 1):
        expected = a.reshape(a.shape[: ndim - 1] + (-1,)) if a.size else a.reshape(
            a.shape[: ndim - 1] + (int(np.prod(a.shape[ndim - 1:])),))
        y = at.flatten(x, ndim)
        assert y.ndim == ndim and y.dtype == "int8"
        np.testing.assert_array_equal(run(y, {x: a}), expected)
        if static:
            assert y.type.shape == expected.shape
    np.testing.assert_array_equal(run(x.flatten(), {x: a}), a.ravel())


def test_flatten_errors():
    x = at.dmatrix()
    with pytest.raises(ValueError, match="flatten: ndim must be between 1 and 2, got 3"):
        at.flatten(x, 3)
    with pytest.raises(ValueError, match="ndim must be between 1 and 2, got 0"):
        at.flatten(x, 0)
    with pytest.raises(TypeError, match="ndim must be an int"):
        at.flatten(x, 1.0)


# ---- specify_shape --------------------------------------------------------------------------------
def test_specify_shape():
    x, n = at.dmatrix(), at.lscalar()
    y = at.specify_shape(x, (2, None))
    assert y.type.shape == (2, None)
    a = np.zeros((2, 5))
    np.testing.assert_array_equal(run(y, {x: a}), a)
    with pytest.raises(ValueError, match=r"expected shape \(2, \?\), got \(3, 5\)"):
        run(y, {x: np.zeros((3, 5))})
    z = at.specify_shape(x, (n, 5))
    assert z.type.shape == (None, 5)
    run(z, {x: a, n: 2})
    with pytest.raises(ValueError, match="expected shape"):
        run(z, {x: a, n: 3})
    with pytest.raises(ValueError, match="static size 3 of axis 0 is not 2"):
        at.specify_shape(at.tensor("float64", (3, None)), (2, None))
    with pytest.raises(TypeError, match="has 1 entries for a 2-d tensor"):
        at.specify_shape(x, (2,))


# ---- concatenate and stack ------------------------------------------------------------------------
@pytest.mark.parametrize("dtypes", [("float64", "float64"), ("float32", "int8"), ("int8", "bool"),
                                    ("int64", "float32", "bool"), ("bool", "bool")])
@pytest.mark.parametrize("shapes,axis", [
    (((2, 3), (4, 3)), 0), (((2, 3), (2, 0)), 1), (((2, 3), (2, 1)), -1), (((0, 3), (1, 3)), 0),
    (((3,), (0,)), 0), (((2, 1, 3), (2, 2, 3)), 1),
])
def test_concatenate(dtypes, shapes, axis):
    shapes = (shapes * 2)[: len(dtypes)]
    arrays = [sample(s, d, seed=i) for i, (s, d) in enumerate(zip(shapes, dtypes))]
    xs = [var(d, s, name=f"x{i}") for i, (s, d) in enumerate(zip(shapes, dtypes))]
    expected = np.concatenate(arrays, axis=axis)
    y = at.concatenate(xs, axis=axis)
    assert y.owner.op.name == "join" and y.dtype == expected.dtype.name
    np.testing.assert_array_equal(run(y, dict(zip(xs, arrays))), expected)
    static = at.concatenate([at.tensor(d, s) for d, s in zip(dtypes, shapes)], axis=axis)
    assert static.type.shape == expected.shape


def test_concatenate_static_sizes_and_axis_none():
    a, b = at.tensor("float64", (None, 3)), at.tensor("float64", (2, None))
    assert at.concatenate([a, b]).type.shape == (None, 3)
    assert at.concatenate([a, b], axis=1).type.shape == (2, None)
    assert at.concatenate([at.tensor("float64", (2, 3)), at.tensor("float64", (4, 3))]).type.shape == (6, 3)
    x, y = at.dmatrix(), at.dvector()
    va, vb = sample((2, 3), "float64"), sample((4,), "float64")
    np.testing.assert_array_equal(run(at.concatenate([x, y], axis=None), {x: va, y: vb}),
                                  np.concatenate([va, vb], axis=None))
    c = at.concatenate([x])
    np.testing.assert_array_equal(run(c, {x: va}), va)  # a copy, not an alias (run checks view_map)


def test_concatenate_errors():
    a, b = at.tensor("float64", (2, 3)), at.tensor("float64", (2, 4))
    with pytest.raises(ValueError, match="along dimension 1 the static sizes are \\[3, 4\\]") as err:
        at.concatenate([a, b])
    assert "Tensor{f64, (2, 3)}, Tensor{f64, (2, 4)}" in str(err.value)
    with pytest.raises(TypeError, match="join: all the inputs must have the same number of dimensions"):
        at.concatenate([a, at.dvector()])
    with pytest.raises(ValueError, match="zero-dimensional arrays cannot be concatenated"):
        at.concatenate([at.dscalar(), at.dscalar()])
    with pytest.raises(np.exceptions.AxisError, match="axis 2 is out of bounds for array of dimension 2"):
        at.concatenate([a, a], axis=2)
    with pytest.raises(ValueError, match="need at least one array"):
        at.concatenate([])
    x, y = at.dmatrix(), at.dmatrix()
    with pytest.raises(ValueError, match="must match exactly"):
        run(at.concatenate([x, y]), {x: np.zeros((2, 3)), y: np.zeros((2, 4))})


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (0, 2)])
@pytest.mark.parametrize("dtype", ["float32", "int8", "bool"])
def test_stack(shape, dtype):
    arrays = [sample(shape, dtype, seed=i) for i in range(3)]
    xs = [var(dtype, shape, name=f"x{i}") for i in range(3)]
    for axis in range(-len(shape) - 1, len(shape) + 1):
        expected = np.stack(arrays, axis=axis)
        y = at.stack(xs, axis=axis)
        np.testing.assert_array_equal(run(y, dict(zip(xs, arrays))), expected)
        assert y.type.shape[axis] == 3
        assert at.stack([at.tensor(dtype, shape)] * 3, axis=axis).type.shape == expected.shape


def test_stack_from_lists_and_errors():
    a, b = at.lscalar("a"), at.iscalar("b")
    v = at.as_tensor_variable([a, b, 7])
    assert v.type == at.TensorType("int64", (3,))
    np.testing.assert_array_equal(run(v, {a: 1, b: 2}), [1, 2, 7])
    m = at.as_tensor_variable([[a, 1], [2, b]])
    np.testing.assert_array_equal(run(m, {a: 1, b: 2}), [[1, 1], [2, 2]])
    with pytest.raises(TypeError, match="stack: all input arrays must have the same number of dimensions"):
        at.stack([at.dvector(), at.dmatrix()])
    with pytest.raises(ValueError, match="stack: all input arrays must have the same shape"):
        at.stack([at.tensor("float64", (2,)), at.tensor("float64", (3,))])
    with pytest.raises(np.exceptions.AxisError, match="stack: axis 2 is out of bounds"):
        at.stack([at.dvector()], axis=2)
    x, y = at.dvector(), at.dvector()
    with pytest.raises(ValueError):
        run(at.stack([x, y]), {x: np.zeros(2), y: np.zeros(3)})


# ---- alloc, zeros, ones, zeros_like, ones_like --------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("vshape,shape", [
    ((), (2, 3)), ((3,), (2, 3)), ((1, 3), (2, 4, 3)), ((2, 1), (2, 5)), ((), ()), ((), (0, 4)), ((4,), (0, 4)),
])
def test_alloc(dtype, vshape, shape):
    a = sample(vshape, dtype)
    v = at.tensor(dtype, tuple(1 if s == 1 else None for s in vshape))
    expected = np.broadcast_to(a, shape)
    n = at.lscalar("n")
    for y, givens in [(at.alloc(v, *shape), {}), (at.alloc(v, shape), {}),
                      (at.alloc(v, n, *shape[1:]) if shape else at.alloc(v), {n: shape[0]} if shape else {})]:
        assert y.dtype == dtype and y.ndim == len(shape)
        np.testing.assert_array_equal(run(y, {v: a, **givens}), expected)
    assert at.alloc(v, *shape).type.shape == shape
    assert at.alloc(at.tensor(dtype, vshape), *[n] * len(shape)).type.shape[len(shape) - len(vshape):] == tuple(
        None if s == 1 else s for s in vshape)


def test_alloc_like_shapes_and_errors():
    x, v = at.dmatrix("x"), at.dvector("v")
    a, b = sample((2, 3), "float64"), sample((3,), "float64")
    np.testing.assert_array_equal(run(at.alloc(v, x.shape), {x: a, v: b}), np.broadcast_to(b, (2, 3)))
    np.testing.assert_array_equal(run(at.alloc(1.5, x.shape[0], 4), {x: a}), np.full((2, 4), 1.5))
    with pytest.raises(TypeError, match="alloc: the value has 2 dimensions, more than the 1 of shape"):
        at.alloc(x, 3)
    with pytest.raises(ValueError, match=r"alloc: cannot broadcast a value of static shape \(3,\) to shape \(2, 4\)"):
        at.alloc(at.tensor("float64", (3,)), 2, 4)
    with pytest.raises(ValueError, match="alloc: negative size"):
        at.alloc(v, 2, -1)
    with pytest.raises(TypeError, match="shape entries must be integer scalars"):
        at.alloc(v, 2.0, 3)
    with pytest.raises(ValueError):
        run(at.alloc(v, 2, 4), {v: b})


def test_zeros_ones_like():
    for dtype in DTYPES:
        x = var(dtype, (2, 3))
        a = sample((2, 3), dtype)
        for fn, np_fn in [(at.zeros_like, np.zeros_like), (at.ones_like, np.ones_like)]:
            y = fn(x)
            assert y.dtype == dtype
            np.testing.assert_array_equal(run(y, {x: a}), np_fn(a))
            z = fn(x, dtype="float32")
            assert z.dtype == "float32"
            np.testing.assert_array_equal(run(z, {x: a}), np_fn(a, dtype="float32"))
    x = at.tensor("int8", (None, 1))
    assert at.zeros_like(x).type == x.type
    np.testing.assert_array_equal(run(at.fill(x, 2.5), {x: np.zeros((3, 1), "int8")}), np.full((3, 1), 2.5))
    n = at.lscalar()
    assert at.zeros((2, n)).type == at.TensorType("float64", (2, None))
    np.testing.assert_array_equal(run(at.ones((2, n), dtype="int8"), {n: 3}), np.ones((2, 3), "int8"))
    np.testing.assert_array_equal(run(at.zeros(3), {}), np.zeros(3))


# ---- arange -------------------------------------------------------------------------------------
CONSTANT_RANGES = [(5,), (0,), (-3,), (2, 9), (9, 2), (9, 2, -2), (0, 1, 0.1), (0.5, 3.2, 0.7), (1, -1, -0.25),
                   (0, 10, 3), (10, 0, -3), (0, 2.5, 0.5), (1e-300, 1.0, 1e300), (3.0,)]


@pytest.mark.parametrize("args", CONSTANT_RANGES)
def test_arange_constant(args):
    expected = np.arange(*args)
    y = at.arange(*args)
    assert y.dtype == expected.dtype.name and y.type.shape == expected.shape
    np.testing.assert_array_equal(run(y, {}), expected)
    for dtype in ["float32", "int8"]:
        np.testing.assert_array_equal(run(at.arange(*args, dtype=dtype), {}), np.arange(*args, dtype=dtype))


@pytest.mark.parametrize("dtypes", [("int64",), ("int32",), ("int8", "int8"), ("float32",), ("float32", "float32"),
                                    ("uint8", "int16"), ("uint64",), ("float64", "int8", "int8")])
def test_arange_symbolic(dtypes):
    scalars = [at.tensor(d, (), name=f"s{i}") for i, d in enumerate(dtypes)]
    values = [np.array(v, dtype=d) for v, d in zip([7] if len(dtypes) == 1 else [1, 9, 2], dtypes)]
    expected = np.arange(*values)
    y = at.arange(*scalars)
    assert y.dtype == expected.dtype.name and y.ndim == 1
    np.testing.assert_array_equal(run(y, dict(zip(scalars, values))), expected)
    # Python numbers next to symbolic bounds: numpy's dtype for those operands
    z = at.arange(scalars[0], 20, 3)
    np.testing.assert_array_equal(run(z, {scalars[0]: values[0]}), np.arange(values[0], 20, 3))
    assert z.dtype == np.arange(values[0], 20, 3).dtype.name


def test_arange_symbolic_length_and_errors():
    n = at.lscalar("n")
    y = at.arange(n)
    assert y.type == at.TensorType("int64", (None,)) and y.owner.op.start == 0
    np.testing.assert_array_equal(run(y, {n: 4}), np.arange(4))
    np.testing.assert_array_equal(run(at.arange(n, 0, -1), {n: 4}), np.arange(4, 0, -1))
    np.testing.assert_array_equal(run(at.arange(at.constant(np.int8(2)), 6), {}), np.arange(np.int8(2), 6))
    with pytest.raises(ZeroDivisionError, match="arange: step is zero"):
        at.arange(0, 5, 0)
    with pytest.raises(ValueError, match="cannot compute length"):
        at.arange(0, np.inf)
    with pytest.raises(TypeError, match="arange: start, stop and step must be real scalars"):
        at.arange(at.dvector())
    with pytest.raises(TypeError, match="start, stop and step must be real scalars"):
        at.arange("5")
    with pytest.raises((ZeroDivisionError, ValueError)):
        run(at.arange(0, 5, n), {n: 0})


# ---- view_map: the reference backend may alias exactly where an op says so ---------------------
def test_view_maps():
    assert rule_of(at.dmatrix().T.owner.op).view_map == {0: 0}
    assert rule_of(at.dmatrix().reshape(-1).owner.op).view_map == {0: 0}
    for y in (at.concatenate([at.dvector()]), at.alloc(at.dvector(), 2, 3), at.arange(3)):
        assert rule_of(y.owner.op).view_map == {}


# ---- gradients ----------------------------------------------------------------------------------
def test_grad_transpose_dimshuffle():
    x = at.tensor("float64", (None, 1, None), name="x")
    a = sample((2, 1, 3), "float64")
    for y in (x.T, x.transpose(1, 2, 0), x.dimshuffle(2, "x", 0), x.dimshuffle("x", 0, 1, 2, "x")):
        check_rule_grad(y, {x: a}, [x])


def test_grad_dimshuffle_of_unsure_gradient():
    # an output gradient whose new axes are not statically 1 is summed there first
    pytest.importorskip("aotgraph.tensor.reduction")
    x = at.dvector("x")
    y = x.dimshuffle("x", 0)
    node = y.owner
    gz = at.dmatrix("gz")
    (gx,) = rule_of(node.op).grad(node.op, node.inputs, node.outputs, [gz])
    np.testing.assert_allclose(run(gx, {gz: np.ones((1, 3))}), np.ones(3))


@pytest.mark.parametrize("shape,new", [((2, 3), (3, 2)), ((2, 3), (-1,)), ((0, 3), (3, 0)), ((4,), (2, 1, 2))])
def test_grad_reshape(shape, new):
    x = var("float64", shape)
    check_rule_grad(at.reshape(x, new), {x: sample(shape, "float64")}, [x])
    n = at.lscalar()
    y = at.reshape(x, (n, -1))
    grads = check_rule_grad(y, {x: sample(shape, "float64"), n: 1}, [x])
    assert grads[1] is None  # sizes get no gradient


def test_grad_flatten_specify_shape():
    x = at.dtensor3("x")
    a = sample((2, 3, 2), "float64")
    check_rule_grad(at.flatten(x, 2), {x: a}, [x])
    check_rule_grad(at.specify_shape(x, (2, None, 2)), {x: a}, [x])


def test_grad_concatenate_stack():
    x, y = at.dmatrix("x"), at.tensor("float64", (2, None), name="y")
    a, b = sample((2, 3), "float64"), sample((2, 4), "float64", seed=1)
    check_rule_grad(at.concatenate([x, y], axis=1), {x: a, y: b}, [x, y])
    z = at.dmatrix("z")
    check_rule_grad(at.concatenate([x, y[:, :3], z], axis=0), {x: a, y: b, z: b[:1, 1:]}, [x, z])
    # stack is a join of dimshuffles: check the whole backward pass
    u, v = at.dvector("u"), at.dmatrix("v")
    check_graph_grad(at.stack([u, u * 2], axis=1), {u: a[0]}, [u])
    check_graph_grad(at.stack([v, x, v]), {x: a, v: b[:, :3]}, [x, v])
    i = at.lvector("i")
    j = at.concatenate([x.flatten(), i])
    assert rule_of(j.owner.op).grad(j.owner.op, j.owner.inputs, j.owner.outputs, [at.dvector()])[1] is None


def test_grad_alloc():
    pytest.importorskip("aotgraph.tensor.reduction")
    v, s = at.tensor("float64", (1, None), name="v"), at.dscalar("s")
    n = at.lscalar("n")
    check_rule_grad(at.alloc(v, 3, 2, 4), {v: sample((1, 4), "float64")}, [v])
    check_rule_grad(at.alloc(s, n, 3), {s: 1.5, n: 2}, [s])
    check_rule_grad(at.alloc(v, 1, 4), {v: sample((1, 4), "float64")}, [v])


def test_grad_arange():
    pytest.importorskip("aotgraph.tensor.reduction")
    from aotgraph.gradient import DISCONNECTED

    start, stop, step = at.dscalar("start"), at.dscalar("stop"), at.dscalar("step")
    y = at.arange(start, stop, step)
    grads = check_rule_grad(y, {start: 0.5, stop: 4.2, step: 0.7}, [start, step])
    assert grads[1] is DISCONNECTED
    n = at.lscalar()
    z = at.arange(n)
    assert rule_of(z.owner.op).grad(z.owner.op, z.owner.inputs, z.owner.outputs, [at.lvector()]) == [None]

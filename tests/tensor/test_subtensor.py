"""Indexing against numpy: getitem (basic and advanced), set_subtensor, inc_subtensor, errors and gradients."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from opcheck import check_rule_grad, run, sample

import aotgraph.tensor as at
from aotgraph.graph.rules import rule_of

DTYPES = ["float64", "float32", "int64", "int8", "bool"]
S = slice
BASIC = [
    1, -1, 0, S(1, 3), S(None, None, 2), S(None, None, -1), S(-2, None), S(3, 0, -1), S(10, 20), S(-10, 2),
    (S(None), 0), (0, 1), (-1, -2), (Ellipsis, 1), (1, Ellipsis), (None, 0), (S(None), None, S(1, None)),
    (Ellipsis,), (), (S(None), S(None)), (S(None, None, -2), -1), (None, Ellipsis, None), S(0, 0), S(None, None, 3),
]


def var(dtype, shape, static=False, name="x"):
    return at.tensor(dtype, shape if static else (None,) * len(shape), name=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index", BASIC, ids=repr)
def test_basic_indexing(dtype, index):
    a = sample((4, 3), dtype)
    expected = a[index]
    for static in (False, True):
        x = var(dtype, (4, 3), static)
        y = x[index]
        assert y.owner.op.name == "subtensor" and y.dtype == dtype
        np.testing.assert_array_equal(run(y, {x: a}), expected)
        if static:
            assert y.type.shape == expected.shape


def test_indexing_vectors_size_0_and_1_dims():
    for shape in [(0,), (1,), (0, 3), (3, 1), (1, 0, 2)]:
        a = sample(shape, "float32")
        for index in [S(None, None, -1), S(1, None), (Ellipsis, S(0, 1)), (None,), S(-1, None)]:
            for static in (False, True):
                x = var("float32", shape, static)
                np.testing.assert_array_equal(run(x[index], {x: a}), a[index])
                if static:
                    assert x[index].type.shape == a[index].shape


def test_symbolic_scalar_index_and_slice_bounds():
    x = at.dmatrix("x")
    i, j, k = at.lscalar("i"), at.iscalar("j"), at.bscalar("k")
    a = sample((5, 4), "float64")
    cases = [
        (lambda: x[i], lambda i, j, k: a[i]),
        (lambda: x[i, j], lambda i, j, k: a[i, j]),
        (lambda: x[:, j], lambda i, j, k: a[:, j]),
        (lambda: x[i:j], lambda i, j, k: a[i:j]),
        (lambda: x[i::k], lambda i, j, k: a[i::k]),
        (lambda: x[:j:k, i], lambda i, j, k: a[:j:k, i]),
        (lambda: x[1:j, ::-1], lambda i, j, k: a[1:j, ::-1]),
    ]
    for build, ref in cases:
        y = build()
        assert y.owner.op.name == "subtensor"
        for vi, vj, vk in [(0, 3, 1), (-1, -2, 2), (2, 10, -1), (-5, 0, -2), (3, -10, 3), (1, 5, 1)]:
            try:
                expected = ref(vi, vj, vk)
            except IndexError:
                with pytest.raises(IndexError):
                    run(y, {x: a, i: vi, j: vj, k: vk})
                continue
            np.testing.assert_array_equal(run(y, {x: a, i: vi, j: vj, k: vk}), expected)


def test_x_shape_indexing_and_constant_look_through():
    x = at.tensor("float64", (3, None))
    assert x[x.shape[0] - 1].ndim == 1
    assert x[at.constant(1)].owner.op.idx == (("int", 1),)  # constant scalars go into the params
    assert x[np.int64(1), np.array(2)].owner.op.idx == (("int", 1), ("int", 2))
    assert x[0::1].owner.op.idx == ()  # canonical: a full slice is dropped
    assert x[0:3].owner.op.idx == (("slice", None, 3, None),)
    assert x[1, :].owner.op == x[1].owner.op and x[..., 1].owner.op == x[:, 1].owner.op


@pytest.mark.parametrize("dtype", ["float32", "int8", "bool"])
def test_advanced_indexing(dtype):
    a = sample((5, 4, 3), dtype)
    iv = at.lvector("iv")
    im = at.imatrix("im")
    bm = at.tensor("bool", (None, None), name="bm")
    i0, i1 = at.lscalar("i0"), at.lscalar("i1")
    ivals = np.array([0, 3, -1, 0])
    imvals = np.array([[1, 2], [3, -3]], dtype="int32")
    mask = sample((5, 4), "bool", seed=3)
    cases = [
        (lambda x: x[iv], lambda: a[ivals]),
        (lambda x: x[[0, 2, 2]], lambda: a[[0, 2, 2]]),
        (lambda x: x[np.array([-1, 1])], lambda: a[[-1, 1]]),
        (lambda x: x[:, iv], lambda: a[:, ivals]),
        (lambda x: x[iv, :], lambda: a[ivals, :]),
        (lambda x: x[iv, 1:], lambda: a[ivals, 1:]),
        (lambda x: x[..., [0, 2]], lambda: a[..., [0, 2]]),
        (lambda x: x[im], lambda: a[imvals]),
        (lambda x: x[iv, :, [0, 1, 2, 0]], lambda: a[ivals, :, [0, 1, 2, 0]]),  # not adjacent: in front
        (lambda x: x[1, :, [0, 2]], lambda: a[1, :, [0, 2]]),  # an int counts as advanced
        (lambda x: x[:, [0, 1], [2, 0]], lambda: a[:, [0, 1], [2, 0]]),
        (lambda x: x[None, iv], lambda: a[None, ivals]),
        (lambda x: x[:, [0, 1], ..., [0, 1]], lambda: a[:, [0, 1], ..., [0, 1]]),  # an empty Ellipsis separates
        (lambda x: x[[0, 1], ..., 1:], lambda: a[[0, 1], ..., 1:]),
        (lambda x: x[[]], lambda: a[[]]),
        (lambda x: x[bm], lambda: a[mask]),
        (lambda x: x[bm, 1], lambda: a[mask, 1]),
        (lambda x: x[:, mask[0]], lambda: a[:, mask[0]]),  # constant mask over an unknown size: kept a mask
        (lambda x: x[[i0, i1]], lambda: a[[2, 3]]),
    ]
    for static in (False, True):
        x = var(dtype, (5, 4, 3), static)
        for build, ref in cases:
            y = build(x)
            assert y.owner.op.name == "advanced_subtensor"
            expected = ref()
            givens = {x: a, iv: ivals, im: imvals, bm: mask, i0: 2, i1: 3}
            np.testing.assert_array_equal(run(y, givens), expected)
            assert y.ndim == expected.ndim
            assert all(s is None or s == e for s, e in zip(y.type.shape, expected.shape)), (y.type, expected.shape)


def test_constant_mask_over_static_axes_becomes_integer_arrays():
    x = at.tensor("float64", (3, 2))
    mask = np.array([[True, False], [False, False], [True, True]])
    y = x[mask]
    assert y.type.shape == (3,)
    assert all(inp.dtype == "int64" for inp in y.owner.inputs[1:])
    a = sample((3, 2), "float64")
    np.testing.assert_array_equal(run(y, {x: a}), a[mask])


def test_advanced_static_shapes_match_numpy():
    """Random mixes of ints, slices, None, Ellipsis, integer arrays and masks: static shape and value vs numpy."""
    rng = np.random.default_rng(0)
    shape = (4, 3, 5, 2)
    a = sample(shape, "int64")
    for _ in range(300):
        index, ndim_used = [], 0
        while ndim_used < len(shape) and rng.random() < 0.8:
            kind = rng.integers(6)
            size = shape[ndim_used]
            if kind == 0:
                index.append(int(rng.integers(-size, size)))
            elif kind == 1:
                index.append(slice(*[None if rng.random() < 0.4 else int(rng.integers(-5, 5)) for _ in range(2)],
                                   [None, 1, 2, -1, -2][rng.integers(5)]))
            elif kind == 2:
                index.append(None)
                continue
            elif kind == 3:
                index.append(rng.integers(-size, size, size=(int(rng.integers(1, 3)),) * int(rng.integers(1, 3))))
            elif kind == 4 and ndim_used + 2 <= len(shape):
                index.append(rng.random(shape[ndim_used: ndim_used + 2]) < 0.5)
                ndim_used += 1
            else:
                index.append(rng.integers(-size, size, size=(1,)))
            ndim_used += 1
        if rng.random() < 0.3:
            index.insert(int(rng.integers(len(index) + 1)), Ellipsis)
        index = tuple(index)
        try:
            with warnings.catch_warnings():  # numpy < 2 only warns of an out-of-bounds index that selects nothing
                warnings.simplefilter("error", DeprecationWarning)
                expected = a[index]
        except (IndexError, DeprecationWarning):
            with pytest.raises(IndexError):
                run(at.tensor("int64", shape)[index], {})
            continue
        for static in (False, True):
            x = var("int64", shape, static)
            y = x[index]
            got = run(y, {x: a})
            np.testing.assert_array_equal(got, expected, err_msg=repr(index))
            assert y.ndim == expected.ndim, index
            if static:
                assert all(s is None or s == e for s, e in zip(y.type.shape, expected.shape)), (index, y.type)
                if not any(isinstance(i, np.ndarray) and i.dtype == bool for i in index):
                    assert y.type.shape == expected.shape, (index, y.type)


def test_getitem_errors():
    x = at.tensor("float64", (3, None))
    with pytest.raises(IndexError, match="too many indices for array: array is 2-dimensional, but 3 were indexed"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        x[3]
    with pytest.raises(IndexError, match="index -4 is out of bounds for axis 0 with size 3"):
        x[-4]
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 0 with size 3"):
        x[[0, 5]]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., ...]
    with pytest.raises(IndexError, match="boolean index did not match indexed array along axis 0"):
        x[np.array([True, False])]
    with pytest.raises(IndexError, match="shape mismatch: indexing arrays could not be broadcast together"):
        x[[0, 1], [0, 1, 2]]
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        x[::0]
    with pytest.raises(TypeError, match="getitem: index 1.5: only integers, slices") as err:
        x[1.5]
    assert "Tensor{f64, (3, ?)}" in str(err.value)
    with pytest.raises(TypeError, match="indices must be integers or booleans"):
        x[at.dscalar()]
    with pytest.raises(TypeError, match="indices must be integers or booleans"):
        x[at.dvector()]
    with pytest.raises(TypeError, match="boolean scalar index"):
        x[True]
    with pytest.raises(TypeError, match="slice bounds must be integer scalars"):
        x[at.dscalar():]
    with pytest.raises(TypeError, match="slice bounds must be integer scalars"):
        x[at.lvector():]
    with pytest.raises(IndexError, match="too many indices"):
        at.dscalar()[0]


def test_runtime_index_errors_like_numpy():
    x, i, v = at.dvector("x"), at.lscalar("i"), at.lvector("v")
    a = np.zeros(3)
    with pytest.raises(IndexError, match="out of bounds"):
        run(x[i], {x: a, i: 3})
    with pytest.raises(IndexError, match="out of bounds"):
        run(x[i], {x: a, i: -4})
    with pytest.raises(IndexError, match="out of bounds"):
        run(x[v], {x: a, v: [0, 3]})
    m = at.tensor("bool", (None,))
    with pytest.raises(IndexError, match="boolean index did not match"):
        run(x[m], {x: a, m: [True, False]})
    assert run(x[i:], {x: a, i: 10}).shape == (0,)  # slices clip, like numpy


def test_view_maps():
    x = at.dmatrix()
    assert rule_of(x[0].owner.op).view_map == {0: 0}
    assert rule_of(x[[0]].owner.op).view_map == {}
    assert rule_of(at.set_subtensor(x[0], 1).owner.op).view_map == {}
    assert rule_of(at.inc_subtensor(x[0], 1).owner.op).destroy_map == {}


# ---- set_subtensor and inc_subtensor ------------------------------------------------------------
SET_CASES = [
    (1, ()), (S(1, 3), (2, 3)), (S(1, 3), (3,)), (S(1, 3), ()), ((S(None), 0), (4,)), ((S(None), 0), (1,)),
    ((-1, -1), ()), (S(None, None, -2), (1, 3)), ([0, 2, 0], (3, 3)), ([0, 2, 0], (3,)), (([0, 1], [2, 2]), (2,)),
    ((S(None), [2, 0]), (4, 1)), ((None, 1), (1, 3)), ((Ellipsis, 2), ()), (S(0, 0), (3,)),
]


def np_inc(a, index, v):
    out = a.copy()
    np.add.at(out, index, v)
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int8"])
@pytest.mark.parametrize("index,vshape", SET_CASES, ids=repr)
def test_set_and_inc_subtensor(dtype, index, vshape):
    a = sample((4, 3), dtype)
    b = sample(vshape, dtype, seed=1)
    x = var(dtype, (4, 3))
    v = at.tensor(dtype, tuple(1 if s == 1 else None for s in vshape), name="v")
    expected_set = a.copy()
    expected_set[index] = b
    y = at.set_subtensor(x[index], v)
    assert y.type == x.type
    np.testing.assert_array_equal(run(y, {x: a, v: b}), expected_set)  # run checks a is unchanged
    z = at.inc_subtensor(x[index], v)
    np.testing.assert_array_equal(run(z, {x: a, v: b}), np_inc(a, index, b))


def test_inc_subtensor_repeated_indices_accumulate():
    x, i = at.dvector("x"), at.lvector("i")
    a = np.zeros(4)
    y = at.inc_subtensor(x[i], 1.0)
    np.testing.assert_array_equal(run(y, {x: a, i: [0, 0, 2, 0, -1]}), [3, 0, 1, 1])
    z = at.set_subtensor(x[i], at.constant(np.array([1.0, 2.0, 3.0])))
    expected = a.copy()
    expected[[1, 1, 2]] = [1.0, 2.0, 3.0]  # numpy's assignment: the last repeated index wins
    np.testing.assert_array_equal(run(z, {x: a, i: [1, 1, 2]}), expected)


def test_set_inc_symbolic_indices_masks_and_python_values():
    x, i, j = at.imatrix("x"), at.lscalar("i"), at.lscalar("j")
    a = sample((4, 5), "int32")
    y = at.set_subtensor(x[i:j, ::2], 7)
    assert y.owner.inputs[1].dtype == "int32"  # a Python number takes x's dtype
    expected = a.copy()
    expected[1:3, ::2] = 7
    np.testing.assert_array_equal(run(y, {x: a, i: 1, j: 3}), expected)
    m = at.tensor("bool", (None, None), name="m")
    mask = sample((4, 5), "bool", seed=2)
    np.testing.assert_array_equal(run(at.inc_subtensor(x[m], 2), {x: a, m: mask}), np.where(mask, a + 2, a))
    f = at.fvector()
    np.testing.assert_array_equal(run(at.inc_subtensor(f[1:], 1.5), {f: np.zeros(3, "float32")}), [0, 1.5, 1.5])
    b = at.tensor("bool", (None,))
    np.testing.assert_array_equal(run(at.set_subtensor(b[0], 1.0), {b: np.zeros(2, bool)}), [True, False])


def test_set_inc_chained_index_gives_the_inner_selection():
    # Theano: set_subtensor(x[a][b], v) rebuilds the outer indexing only, returning x[a] with x[a][b] set
    x = at.dmatrix("x")
    a = sample((3, 4), "float64")
    y = at.set_subtensor(x[1][2:], 0.0)
    expected = a[1].copy()
    expected[2:] = 0
    np.testing.assert_array_equal(run(y, {x: a}), expected)


def test_set_inc_errors():
    x = at.tensor("int8", (None, 3))
    with pytest.raises(TypeError, match="first argument must be the result of indexing"):
        at.set_subtensor(x, 1)
    with pytest.raises(TypeError, match="first argument must be the result of indexing"):
        at.inc_subtensor(x.T, 1)
    with pytest.raises(TypeError, match=r"inc_subtensor: cannot add float64 values to a int8 tensor") as err:
        at.inc_subtensor(x[0], at.dvector())
    assert "Tensor{i8, (?, 3)}" in str(err.value)
    with pytest.raises(TypeError, match="cannot add"):
        at.inc_subtensor(x[0], 1.5)
    with pytest.raises(TypeError, match="the value has 2 dimensions, more than the 1 of the selection"):
        at.set_subtensor(x[0], at.bmatrix())
    with pytest.raises(ValueError, match=r"cannot broadcast a value of static shape \(2,\) to the selection"):
        at.set_subtensor(x[0], at.tensor("int8", (2,)))
    y, v = at.dmatrix(), at.dvector()
    with pytest.raises(ValueError):
        run(at.set_subtensor(y[0], v), {y: np.zeros((2, 3)), v: np.zeros(2)})
    with pytest.raises(ValueError):
        run(at.inc_subtensor(y[0], v), {y: np.zeros((2, 3)), v: np.zeros(2)})
    with pytest.raises(ValueError):
        run(at.inc_subtensor(y[[0, 1]], v), {y: np.zeros((2, 3)), v: np.zeros(2)})


# ---- gradients ----------------------------------------------------------------------------------
@pytest.mark.parametrize("index", [1, S(1, None, 2), (S(None), -1), (None, 0, S(None, None, -1)), [0, 2, 0],
                                   (S(None), [1, 1]), (0, 1)], ids=repr)
def test_grad_getitem(index):
    x = at.dmatrix("x")
    check_rule_grad(x[index], {x: sample((3, 2), "float64")}, [x])


def test_grad_getitem_symbolic_and_masks():
    x, i, v = at.dmatrix("x"), at.lscalar("i"), at.lvector("v")
    a = sample((4, 3), "float64")
    grads = check_rule_grad(x[i:, i], {x: a, i: 1}, [x])
    assert grads[1:] == [None, None]
    check_rule_grad(x[v], {x: a, v: [3, 0, 3, -1]}, [x])
    m = at.tensor("bool", (None, None))
    check_rule_grad(x[m], {x: a, m: sample((4, 3), "bool")}, [x])
    ix = at.lmatrix()
    assert rule_of(ix[0].owner.op).grad(ix[0].owner.op, ix[0].owner.inputs, ix[0].owner.outputs,
                                        [at.lvector()]) == [None]


@pytest.mark.parametrize("index,vshape", [(1, (3,)), (S(1, 3), (2, 3)), ([0, 2], (2, 3)), ((S(None), [2, 0]), (4, 2)),
                                          ((Ellipsis, 0), (4,))], ids=repr)
def test_grad_set_inc_subtensor(index, vshape):
    x, v = at.dmatrix("x"), at.dmatrix("v") if len(vshape) == 2 else at.dvector("v")
    a, b = sample((4, 3), "float64"), sample(vshape, "float64", seed=1)
    check_rule_grad(at.set_subtensor(x[index], v), {x: a, v: b}, [x, v])
    check_rule_grad(at.inc_subtensor(x[index], v), {x: a, v: b}, [x, v])


def test_grad_set_inc_broadcast_value():
    pytest.importorskip("aotgraph.tensor.reduction")
    x = at.dmatrix("x")
    v1, s = at.tensor("float64", (1, None), name="v1"), at.dscalar("s")
    a = sample((4, 3), "float64")
    for make in (at.set_subtensor, at.inc_subtensor):
        check_rule_grad(make(x[1:], v1), {x: a, v1: sample((1, 3), "float64", seed=2)}, [x, v1])
        check_rule_grad(make(x[:, 0], s), {x: a, s: 0.5}, [x, s])
    check_rule_grad(at.inc_subtensor(x[[0, 0, 2]], s), {x: a, s: 0.5}, [x, s])  # repeated: each one counts

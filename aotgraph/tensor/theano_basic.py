"""The rest of theano.tensor's everyday names, composed from existing ops (so each has its gradient and
compiled loops): padding and broadcasting, stacking, eye and triangles, diagonals, tensordot, rounding and
comparison helpers. Each matches numpy's function of the same name where numpy has one.
"""

from __future__ import annotations

import builtins
import numbers

import numpy as np

from aotgraph.configparser import config
from aotgraph.tensor import math
from aotgraph.tensor.basic import as_tensor_variable, type_error
from aotgraph.tensor.blas import dot, matmul
from aotgraph.tensor.rebroadcast import unbroadcast
from aotgraph.tensor.reduction import all as reduce_all
from aotgraph.tensor.reduction import argmax
from aotgraph.tensor.reduction import max as reduce_max
from aotgraph.tensor.reduction import min as reduce_min
from aotgraph.tensor.shape_ops import (
    arange,
    concatenate,
    dimshuffle,
    normalize_axis,
    reshape,
    shape,
    specify_shape,
    stack,
)

__all__ = [
    "shape_padleft", "shape_padright", "shape_padaxis", "addbroadcast", "horizontal_stack", "vertical_stack", "join",
    "stacklists", "tile", "roll", "swapaxes", "eye", "identity_like", "tri", "tril", "triu", "diag", "diagonal",
    "tensordot", "batched_dot", "max_and_argmax", "largest", "smallest", "ptp", "isclose", "allclose", "deg2rad",
    "rad2deg", "inv", "sgn", "abs_", "iround", "round_half_to_even", "tensor_copy", "batched_tensordot",
    "get_scalar_constant_value", "NotScalarConstantError", "unbroadcast", "patternbroadcast",
]


def _int(who: str, what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{who}: {what} must be an int, got {type(value).__name__} {value!r:.60}")
    return int(value)


# ---- broadcasting and padding --------------------------------------------------------------------------
def shape_padleft(t, n_ones: int = 1):
    """t with `n_ones` broadcastable axes added in front."""
    t = as_tensor_variable(t)
    return dimshuffle(t, ["x"] * _int("shape_padleft", "n_ones", n_ones) + list(range(t.ndim)))


def shape_padright(t, n_ones: int = 1):
    """t with `n_ones` broadcastable axes added at the end."""
    t = as_tensor_variable(t)
    return dimshuffle(t, list(range(t.ndim)) + ["x"] * _int("shape_padright", "n_ones", n_ones))


def shape_padaxis(t, axis: int):
    """t with one broadcastable axis inserted at `axis` (numpy's expand_dims)."""
    t = as_tensor_variable(t)
    axis = normalize_axis("shape_padaxis", axis, t.ndim + 1, t.type)
    pattern = list(range(t.ndim))
    pattern.insert(axis, "x")
    return dimshuffle(t, pattern)


def addbroadcast(x, *axes):
    """x with `axes` declared broadcastable (size 1; checked when the function runs)."""
    x = as_tensor_variable(x)
    wanted = {normalize_axis("addbroadcast", a, x.ndim, x.type) for a in axes}
    return specify_shape(x, tuple(1 if i in wanted else None for i in range(x.ndim)))


def patternbroadcast(x, broadcastable):
    """x with the broadcastable pattern `broadcastable` (one bool per axis): True declares size 1 (checked when
    the function runs), False forgets a static size 1."""
    x = as_tensor_variable(x)
    pattern = tuple(bool(b) for b in broadcastable)
    if len(pattern) != x.ndim:
        raise type_error("patternbroadcast", f"the pattern {broadcastable!r} has {len(pattern)} entries for a "
                         f"{x.ndim}-d tensor", x.type)
    x = unbroadcast(x, *[i for i, b in enumerate(pattern) if not b])
    wanted = [i for i, b in enumerate(pattern) if b]
    return addbroadcast(x, *wanted) if wanted else x


# ---- stacking ------------------------------------------------------------------------------------------
def join(axis, *tensors):
    """Theano's join(axis, *tensors): concatenate along `axis`."""
    return concatenate(list(tensors), axis=axis)


def horizontal_stack(*args):
    """Matrices side by side (concatenated along axis 1)."""
    return concatenate(list(args), axis=1)


def vertical_stack(*args):
    """Matrices one above the other (concatenated along axis 0)."""
    return concatenate(list(args), axis=0)


def stacklists(arg):
    """A tensor from nested lists of scalars or tensors (numpy's array of them)."""
    if isinstance(arg, (list, tuple)):
        return stack([stacklists(a) for a in arg])
    return as_tensor_variable(arg)


def tile(x, reps):
    """numpy's tile with a sequence of int `reps` (known when the graph is built)."""
    x = as_tensor_variable(x)
    reps = [_int("tile", "reps", r) for r in (reps if isinstance(reps, (list, tuple)) else [reps])]
    if len(reps) < x.ndim:
        reps = [1] * (x.ndim - len(reps)) + reps
    x = dimshuffle(x, ["x"] * (len(reps) - x.ndim) + list(range(x.ndim)))
    for axis, r in enumerate(reps):
        if r != 1:
            x = concatenate([x] * r, axis=axis) if r > 0 else x[(slice(None),) * axis + (slice(0, 0),)]
    return x


def roll(x, shift: int, axis=None):
    """numpy's roll by an int `shift` along `axis` (None: of the flattened array, reshaped back)."""
    x = as_tensor_variable(x)
    shift = _int("roll", "shift", shift)
    if axis is None:
        return reshape(roll(x.flatten(), shift, 0), shape(x))
    axis = normalize_axis("roll", axis, x.ndim, x.type)
    before = (slice(None),) * axis
    size = shape(x)[axis]
    cut = math.mod(math.sub(size, shift % (2**62)), math.maximum(size, 1))  # numpy's shift modulo the length
    return concatenate([x[(*before, slice(cut, None))], x[(*before, slice(None, cut))]], axis=axis)


def swapaxes(y, axis1: int, axis2: int):
    """y with two axes exchanged."""
    y = as_tensor_variable(y)
    a, b = (normalize_axis("swapaxes", a, y.ndim, y.type) for a in (axis1, axis2))
    pattern = list(range(y.ndim))
    pattern[a], pattern[b] = pattern[b], pattern[a]
    return dimshuffle(y, pattern)


# ---- eye, triangles, diagonals -------------------------------------------------------------------------
def _above(n, m, k):
    """The (n, m) boolean mask j - i >= k (symbolic sizes allowed)."""
    rows = dimshuffle(arange(n), (0, "x"))
    cols = dimshuffle(arange(m), ("x", 0))
    return math.ge(math.sub(cols, rows), k)


def eye(n, m=None, k: int = 0, dtype=None):
    """numpy's eye: ones on diagonal k of an (n, m) matrix (floatX unless `dtype`)."""
    m = n if m is None else m
    rows = dimshuffle(arange(n), (0, "x"))
    cols = dimshuffle(arange(m), ("x", 0))
    return math.cast(math.eq(math.add(rows, k), cols), dtype or config.floatX)


def identity_like(x):
    """eye with x's shape and dtype (x a matrix)."""
    x = as_tensor_variable(x)
    return eye(shape(x)[0], shape(x)[1], dtype=x.dtype)


def tri(N, M=None, k: int = 0, dtype=None):  # noqa: N803 - numpy's names
    """numpy's tri: ones at and below diagonal k."""
    M = N if M is None else M
    return math.cast(math.invert(_above(N, M, k + 1)), dtype or config.floatX)


def tril(m, k: int = 0):
    """numpy's tril: m with the elements above diagonal k zeroed (the last two axes)."""
    m = as_tensor_variable(m)
    mask = _above(shape(m)[m.ndim - 2], shape(m)[m.ndim - 1], k + 1)
    return math.switch(mask, math.cast(0, m.dtype), m)


def triu(m, k: int = 0):
    """numpy's triu: m with the elements below diagonal k zeroed (the last two axes)."""
    m = as_tensor_variable(m)
    mask = _above(shape(m)[m.ndim - 2], shape(m)[m.ndim - 1], k)
    return math.switch(mask, m, math.cast(0, m.dtype))


def diagonal(a, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """numpy's diagonal of a matrix (axis1=0, axis2=1): the elements a[i, i + offset]."""
    a = as_tensor_variable(a)
    offset = _int("diagonal", "offset", offset)
    if a.ndim != 2 or {normalize_axis("diagonal", axis1, a.ndim, a.type),
                       normalize_axis("diagonal", axis2, a.ndim, a.type)} != {0, 1}:
        raise type_error("diagonal", "supports matrices (axis1=0, axis2=1) only", a.type)
    if axis1 > axis2 or (axis1 == 1 and axis2 == 0):
        a = a.T
    rows, cols = shape(a)[0], shape(a)[1]
    start_row, start_col = builtins.max(-offset, 0), builtins.max(offset, 0)
    length = math.maximum(math.minimum(math.sub(rows, start_row), math.sub(cols, start_col)), 0)
    i = arange(length)
    return a[math.add(i, start_row), math.add(i, start_col)]


def diag(v, k: int = 0):
    """numpy's diag: the diagonal of a matrix, or the square matrix with the vector v on diagonal k."""
    v = as_tensor_variable(v)
    k = _int("diag", "k", k)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise type_error("diag", "needs a vector or a matrix", v.type)
    n = math.add(shape(v)[0], abs(k))
    rows = dimshuffle(arange(n), (0, "x"))
    cols = dimshuffle(arange(n), ("x", 0))
    on = math.eq(math.add(rows, k), cols)
    index = math.clip(rows if k >= 0 else cols, 0, math.maximum(math.sub(shape(v)[0], 1), 0))
    values = v[index] if v.type.shape[0] != 0 else math.cast(0, v.dtype)
    return math.switch(on, values, math.cast(0, v.dtype))


# ---- products ------------------------------------------------------------------------------------------
def tensordot(a, b, axes=2):
    """numpy's tensordot: sum over the last `axes` axes of a and the first of b, or over the axes pairs
    ((a axes), (b axes)); computed as one matrix product of reshaped operands."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if isinstance(axes, numbers.Integral):
        axes_a, axes_b = list(range(a.ndim - int(axes), a.ndim)), list(range(int(axes)))
    else:
        axes_a, axes_b = ([axes[0]] if isinstance(axes[0], numbers.Integral) else list(axes[0]),
                          [axes[1]] if isinstance(axes[1], numbers.Integral) else list(axes[1]))
    axes_a = [normalize_axis("tensordot", x, a.ndim, a.type, b.type) for x in axes_a]
    axes_b = [normalize_axis("tensordot", x, b.ndim, a.type, b.type) for x in axes_b]
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot: {len(axes_a)} axes of a against {len(axes_b)} axes of b")
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [i for i in range(b.ndim) if i not in axes_b]
    a2 = reshape(dimshuffle(a, free_a + axes_a), (_prod(a, free_a), _prod(a, axes_a)))
    b2 = reshape(dimshuffle(b, axes_b + free_b), (_prod(b, axes_b), _prod(b, free_b)))
    out_shape = [shape(a)[i] for i in free_a] + [shape(b)[i] for i in free_b]
    return reshape(dot(a2, b2), out_shape) if out_shape else reshape(dot(a2, b2), ())


def _prod(x, axes):
    """The product of x's sizes along `axes`: an int when they are static, else symbolic."""
    size = 1
    for i in axes:
        static = x.type.shape[i]
        size = size * static if isinstance(size, int) and static is not None else math.mul(size, shape(x)[i])
    return size


def batched_dot(a, b):
    """The dot product of each pair a[i], b[i] (matrices or vectors per batch), as matmul."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 2 and b.ndim == 2:  # a batch of vectors: their inner products
        return math.mul(a, b).sum(axis=1)
    if b.ndim == 2:
        return matmul(a, dimshuffle(b, (0, 1, "x")))[:, :, 0]
    if a.ndim == 2:
        return matmul(dimshuffle(a, (0, "x", 1)), b)[:, 0, :]
    return matmul(a, b)


def batched_tensordot(x, y, axes=2):
    """tensordot of each pair x[i], y[i] (axes counted within one batch element, as Theano)."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    if isinstance(axes, numbers.Integral):
        axes_x, axes_y = list(range(x.ndim - int(axes), x.ndim)), list(range(1, int(axes) + 1))
    else:
        axes_x, axes_y = ([axes[0]] if isinstance(axes[0], numbers.Integral) else list(axes[0]),
                          [axes[1]] if isinstance(axes[1], numbers.Integral) else list(axes[1]))
    axes_x = [normalize_axis("batched_tensordot", a, x.ndim, x.type, y.type) for a in axes_x]
    axes_y = [normalize_axis("batched_tensordot", a, y.ndim, x.type, y.type) for a in axes_y]
    if 0 in axes_x or 0 in axes_y or len(axes_x) != len(axes_y):
        raise ValueError(f"batched_tensordot: axes {axes!r} must pair equally many non-batch axes")
    free_x = [i for i in range(1, x.ndim) if i not in axes_x]
    free_y = [i for i in range(1, y.ndim) if i not in axes_y]
    batch = shape(x)[0]
    x3 = reshape(dimshuffle(x, [0] + free_x + axes_x), (batch, _prod(x, free_x), _prod(x, axes_x)))
    y3 = reshape(dimshuffle(y, [0] + axes_y + free_y), (batch, _prod(y, axes_y), _prod(y, free_y)))
    out_shape = [batch] + [shape(x)[i] for i in free_x] + [shape(y)[i] for i in free_y]
    return reshape(matmul(x3, y3), out_shape)


# ---- constants -----------------------------------------------------------------------------------------
class NotScalarConstantError(TypeError):
    """get_scalar_constant_value: the variable's value is not known while the graph is built."""


def get_scalar_constant_value(v):
    """The value (a 0-d array) of `v` when it is a constant with one element, or a number; else
    NotScalarConstantError (Theano's helper; ours does not look through ops)."""
    if isinstance(v, (numbers.Number, np.ndarray, np.generic)) and np.size(v) == 1:
        return np.asarray(v).reshape(())
    data = getattr(v, "data", None)
    if data is not None and np.size(data) == 1:
        return np.asarray(data).reshape(())
    raise NotScalarConstantError(f"{v!r} is not a scalar constant")


# ---- reductions and comparisons ------------------------------------------------------------------------
def max_and_argmax(a, axis=None, keepdims=False):
    """(max, argmax) along `axis`."""
    return reduce_max(a, axis, keepdims=keepdims), argmax(a, axis, keepdims=keepdims)


def largest(*args):
    """The elementwise maximum of all arguments."""
    result = as_tensor_variable(args[0])
    for other in args[1:]:
        result = math.maximum(result, other)
    return result


def smallest(*args):
    """The elementwise minimum of all arguments."""
    result = as_tensor_variable(args[0])
    for other in args[1:]:
        result = math.minimum(result, other)
    return result


def ptp(a, axis=None):
    """Range of values: max - min along `axis`."""
    return math.sub(reduce_max(a, axis), reduce_min(a, axis))


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """numpy's isclose: |a - b| <= atol + rtol * |b| for finite values; infinities are close when equal."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    finite = math.and_(math.invert(math.isinf(a)), math.invert(math.isinf(b)))
    near = math.le(math.abs(math.sub(a, b)), math.add(atol, math.mul(rtol, math.abs(b))))
    close = math.switch(finite, near, math.eq(a, b))
    if equal_nan:
        close = math.or_(close, math.and_(math.isnan(a), math.isnan(b)))
    return close


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether isclose holds everywhere (a bool scalar)."""
    return reduce_all(isclose(a, b, rtol, atol, equal_nan))


# ---- elementwise aliases -------------------------------------------------------------------------------
def deg2rad(x):
    """Degrees to radians."""
    return math.mul(x, np.pi / 180.0)


def rad2deg(x):
    """Radians to degrees."""
    return math.mul(x, 180.0 / np.pi)


def inv(x):
    """1 / x."""
    return math.true_div(1.0, x)


def sgn(x):
    """Theano's name for sign."""
    return math.sign(x)


def abs_(x):
    """Theano's name for abs."""
    return math.abs(x)


def iround(x, mode=None):
    """round(x) as int64 (half to even, numpy's rounding)."""
    return math.cast(math.round(x), "int64")


def round_half_to_even(x):
    """numpy's round: halves go to the even neighbour."""
    return math.round(x)


def tensor_copy(x):
    """x (a compiled function never returns its caller's memory unless asked to: see In(borrow=))."""
    return as_tensor_variable(x)

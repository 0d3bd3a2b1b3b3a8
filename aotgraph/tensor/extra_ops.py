"""Theano's `tensor.extra_ops`: cumulative sums and products, diff, bincount, repeat, unique, searchsorted, ...

Ops whose numpy call is the whole computation are registered here (numpy reference; the compiled
backend renders the same call, codegen/ops.py); the rest are compositions of existing ops, so they get
gradients and compiled loops for free. Gradients follow Theano's: cumsum, cumprod, repeat (a scalar
count), diff, fill_diagonal and bincount's weights are differentiable; integer-valued results are not.
"""

from __future__ import annotations

import numbers

import numpy as np

from aotgraph.configparser import config
from aotgraph.graph.basic import Op
from aotgraph.graph.rules import OpRule, register
from aotgraph.tensor import math
from aotgraph.tensor.basic import apply, as_tensor_variable, constant, type_error
from aotgraph.tensor.reduction import max as reduce_max
from aotgraph.tensor.reduction import sum as reduce_sum
from aotgraph.tensor.shape_ops import (
    arange,
    dimshuffle,
    flatten,
    is_float_dtype,
    is_int_dtype,
    normalize_axis,
    reshape,
    shape,
    zeros,
)
from aotgraph.tensor.sorting import flatnonzero, take
from aotgraph.tensor.subtensor import inc_subtensor
from aotgraph.tensor.type import TensorType

__all__ = [
    "cumsum", "cumprod", "diff", "bincount", "squeeze", "compress", "repeat", "bartlett", "fill_diagonal",
    "fill_diagonal_offset", "to_one_hot", "unique", "ravel_multi_index", "unravel_index", "searchsorted",
    "cpu_contiguous",
]


def _reverse(x, axis: int):
    """x reversed along `axis`."""
    return x[(slice(None),) * axis + (slice(None, None, -1),)]


# ---- cumsum, cumprod --------------------------------------------------------------------------------
# params: kind ('sum' | 'prod'), axis (an int, or None: over the flattened input)
def _cum_infer(op, types):
    (x,) = types
    if op.axis is not None and not 0 <= op.axis < x.ndim:
        raise type_error(f"cum{op.kind}", f"axis {op.axis} is out of range for a {x.ndim}-d input", x)
    dtype = np.cumsum(np.zeros(1, x.dtype)).dtype.name  # numpy widens small integers and bools to int64
    if op.axis is None:
        size = None if None in x.shape else int(np.prod(x.shape, dtype=np.int64))
        return [TensorType(dtype, (size,))]
    return [TensorType(dtype, x.shape)]


def _cum_perform(op, x):
    fn = np.cumsum if op.kind == "sum" else np.cumprod
    return (fn(x, axis=op.axis),)


def _cum_grad(op, inputs, outputs, gouts):
    (x,), (z,), (gz,) = inputs, outputs, gouts
    if not is_float_dtype(x.dtype):
        return [None]
    axis = 0 if op.axis is None else op.axis
    if op.kind == "prod":  # Theano's: undefined (NaN) where x is 0
        gz = math.mul(z, gz)
    g = _reverse(cumsum(_reverse(gz, axis), axis), axis)
    if op.kind == "prod":
        g = math.true_div(g, flatten(x) if op.axis is None else x)
    return [reshape(g, shape(x)) if op.axis is None else g]


register("cumop", OpRule(infer=_cum_infer, perform=_cum_perform, grad=_cum_grad))


def _cum(kind: str, x, axis):
    x = as_tensor_variable(x)
    if axis is not None:
        axis = normalize_axis(f"cum{kind}", axis, x.ndim, x.type)
    return apply(Op("cumop", kind=kind, axis=axis), x)


def cumsum(x, axis=None):
    """numpy's cumsum: running sums along `axis` (None: over the flattened array)."""
    return _cum("sum", x, axis)


def cumprod(x, axis=None):
    """numpy's cumprod: running products along `axis` (None: over the flattened array)."""
    return _cum("prod", x, axis)


# ---- compositions -----------------------------------------------------------------------------------
def diff(x, n: int = 1, axis: int = -1):
    """numpy's diff: the n-th discrete difference along `axis`, x[1:] - x[:-1] repeated n times."""
    x = as_tensor_variable(x)
    axis = normalize_axis("diff", axis, x.ndim, x.type)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise TypeError(f"diff: n must be a non-negative int, got {n!r}")
    before = (slice(None),) * axis
    for _ in range(n):
        x = math.sub(x[(*before, slice(1, None))], x[(*before, slice(None, -1))])
    return x


def bincount(x, weights=None, minlength=None):
    """numpy's bincount of the non-negative integer vector x: how often each value occurs (int64), or the sum
    of `weights` per value (float64); at least `minlength` bins. Differentiable with respect to weights."""
    x = as_tensor_variable(x)
    if x.ndim != 1 or not is_int_dtype(x.dtype):
        raise type_error("bincount", "x must be a vector of integers", x.type)
    length = math.add(reduce_max(x), 1)
    if minlength is not None:
        length = math.maximum(length, minlength)
    if weights is None:
        return inc_subtensor(zeros((length,), dtype="int64")[x], 1)
    weights = math.cast(as_tensor_variable(weights), "float64")
    return inc_subtensor(zeros((length,), dtype="float64")[x], weights)


def squeeze(x):
    """x without its broadcastable (static size 1) axes (Theano's squeeze)."""
    x = as_tensor_variable(x)
    return dimshuffle(x, [i for i, s in enumerate(x.type.shape) if s != 1])


def compress(condition, x, axis=None):
    """numpy's compress: the slices of x along `axis` (None: of the flattened x) where `condition` is true."""
    return take(x, flatnonzero(condition), axis=axis)


def _diagonal_mask(a, offset):
    rows = dimshuffle(arange(shape(a)[0]), (0, "x"))
    cols = dimshuffle(arange(shape(a)[1]), ("x", 0))
    return math.eq(math.add(rows, offset), cols)


def fill_diagonal(a, val):
    """A copy of the matrix `a` with `val` on its main diagonal (numpy's fill_diagonal without wrap)."""
    return fill_diagonal_offset(a, val, 0)


def fill_diagonal_offset(a, val, offset):
    """A copy of the matrix `a` with `val` on the diagonal `offset` (> 0 above the main one, < 0 below)."""
    a, val = as_tensor_variable(a), as_tensor_variable(val)
    if a.ndim != 2 or val.ndim != 0:
        raise type_error("fill_diagonal", "needs a matrix and a scalar value", a.type, val.type)
    return math.switch(_diagonal_mask(a, offset), math.cast(val, a.dtype), a)


def to_one_hot(y, nb_class, dtype=None):
    """The (len(y), nb_class) matrix with a 1 at [i, y[i]] and 0 elsewhere (floatX unless `dtype`)."""
    y = as_tensor_variable(y)
    if y.ndim != 1 or not is_int_dtype(y.dtype):
        raise type_error("to_one_hot", "y must be a vector of integer class indices", y.type)
    hit = math.eq(dimshuffle(y, (0, "x")), dimshuffle(arange(nb_class), ("x", 0)))
    return math.cast(hit, dtype or config.floatX)


def cpu_contiguous(x):
    """x (Theano's op makes a C-contiguous copy for its C code; ours are laid out by each op already)."""
    return as_tensor_variable(x)


# ---- repeat -----------------------------------------------------------------------------------------
def _repeat_infer(op, types):
    x, repeats = types
    if not is_int_dtype(repeats.dtype) or repeats.ndim > 1:
        raise type_error("repeat", "repeats must be an integer scalar or vector", x, repeats)
    if op.axis is None:
        return [TensorType(x.dtype, (None,))]
    out = list(x.shape)
    out[op.axis] = None
    return [TensorType(x.dtype, out)]


def _repeat_grad(op, inputs, outputs, gouts):
    (x, repeats), (gz,) = inputs, gouts
    if repeats.ndim != 0:  # as Theano: the split of gz depends on the counts
        raise NotImplementedError("grad of repeat with a vector of counts is not implemented (Theano's neither)")
    axis = 0 if op.axis is None else op.axis
    source = flatten(x) if op.axis is None else x
    sizes = [shape(source)[i] for i in range(source.ndim)]
    grouped = reshape(gz, sizes[:axis] + [sizes[axis], repeats] + sizes[axis + 1:])
    g = reduce_sum(grouped, axis=axis + 1)
    return [reshape(g, shape(x)) if op.axis is None else g, None]


register("repeat", OpRule(infer=_repeat_infer, perform=lambda op, x, r: (np.repeat(x, r, axis=op.axis),),
                          grad=_repeat_grad))


def repeat(x, repeats, axis=None):
    """numpy's repeat: each element (or slice along `axis`) `repeats` times (an int or an int per element)."""
    x = as_tensor_variable(x)
    if axis is not None:
        axis = normalize_axis("repeat", axis, x.ndim, x.type)
    repeats = as_tensor_variable(repeats)
    return apply(Op("repeat", axis=axis), x, repeats)


# ---- unique, searchsorted, ravel_multi_index, unravel_index, bartlett -------------------------------
def _unique_infer(op, types):
    (x,) = types
    out = [TensorType(x.dtype, (None,))]
    out += [TensorType("int64", (None,))] * (op.return_index + op.return_inverse + op.return_counts)
    return out


def _unique_perform(op, x):
    result = np.unique(x, return_index=op.return_index, return_inverse=op.return_inverse,
                       return_counts=op.return_counts)
    parts = list(result) if isinstance(result, tuple) else [result]
    return tuple(np.asarray(p).reshape(-1) for p in parts)  # numpy >= 2 shapes the inverse like x


register("unique", OpRule(infer=_unique_infer, perform=_unique_perform))


def unique(ar, return_index=False, return_inverse=False, return_counts=False):
    """numpy's unique of the flattened `ar`: its sorted distinct values, then (as asked) the index of each
    one's first occurrence, the index of each element's value among them, and how often each occurs."""
    flags = dict(return_index=bool(return_index), return_inverse=bool(return_inverse),
                 return_counts=bool(return_counts))
    return apply(Op("unique", **flags), as_tensor_variable(ar))


def _searchsorted_infer(op, types):
    x, v = types[0], types[1]
    if x.ndim != 1:
        raise type_error("searchsorted", "x must be a vector (sorted)", *types)
    if len(types) == 3 and (types[2].ndim != 1 or not is_int_dtype(types[2].dtype)):
        raise type_error("searchsorted", "sorter must be an integer vector", *types)
    return [TensorType("int64", v.shape)]


register("searchsorted", OpRule(
    infer=_searchsorted_infer,
    perform=lambda op, x, v, *sorter: (np.searchsorted(x, v, side=op.side, sorter=sorter[0] if sorter else None),),
))


def searchsorted(x, v, side="left", sorter=None):
    """numpy's searchsorted: where the values `v` would go in the sorted vector `x` (int64, shaped like v)."""
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    inputs = [as_tensor_variable(x), as_tensor_variable(v)] + ([as_tensor_variable(sorter)] if sorter is not None
                                                               else [])
    return apply(Op("searchsorted", side=side), *inputs)


def _check_int(op_name: str, types) -> None:
    for t in types:
        if not is_int_dtype(t.dtype):
            raise type_error(op_name, "needs integer operands", *types)


def _ravel_infer(op, types):
    _check_int("ravel_multi_index", types)
    *index, dims = types
    if dims.ndim != 1 or dims.shape[0] not in (None, len(index)):
        raise type_error("ravel_multi_index", f"dims must be a vector of {len(index)} sizes", *types)
    return [TensorType("int64", (None,) * max(t.ndim for t in index))]


register("ravel_multi_index", OpRule(
    infer=_ravel_infer,
    perform=lambda op, *v: (np.ravel_multi_index(tuple(v[:-1]), tuple(int(d) for d in v[-1]), mode=op.mode,
                                                 order=op.order),),
))


def ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    """numpy's ravel_multi_index: flat indices (int64) of the index arrays `multi_index` in an array of shape
    `dims` (a sequence of sizes or a vector)."""
    if mode not in ("raise", "wrap", "clip") or order not in ("C", "F"):
        raise ValueError(f"ravel_multi_index: mode must be raise/wrap/clip and order C/F, got {mode!r}, {order!r}")
    index = [as_tensor_variable(i) for i in multi_index]
    dims = as_tensor_variable(dims)
    return apply(Op("ravel_multi_index", mode=mode, order=order), *index, dims)


def _unravel_infer(op, types):
    _check_int("unravel_index", types)
    indices, dims = types
    if dims.ndim != 1:
        raise type_error("unravel_index", "dims must be a vector of sizes", *types)
    return [TensorType("int64", indices.shape)] * op.ndim


register("unravel_index", OpRule(
    infer=_unravel_infer,
    perform=lambda op, i, d: tuple(np.unravel_index(i, tuple(int(s) for s in d), order=op.order)),
))


def unravel_index(indices, dims, order="C"):
    """numpy's unravel_index: a tuple of index arrays (int64), one per size of `dims`, whose number must be
    known when the graph is built (a sequence, or a vector of static length)."""
    if order not in ("C", "F"):
        raise ValueError(f"unravel_index: order must be 'C' or 'F', got {order!r}")
    dims_var = as_tensor_variable(dims)
    ndim = len(dims) if isinstance(dims, (list, tuple)) else dims_var.type.shape[0] if dims_var.ndim == 1 else None
    if ndim is None:
        raise ValueError("unravel_index: the number of dims must be known: pass a sequence of sizes")
    outs = apply(Op("unravel_index", order=order, ndim=ndim), as_tensor_variable(indices), dims_var)
    return tuple(outs) if isinstance(outs, list) else (outs,)


def _bartlett_infer(op, types):
    (m,) = types
    if m.ndim != 0 or not is_int_dtype(m.dtype):
        raise type_error("bartlett", "M must be an integer scalar", m)
    return [TensorType("float64", (None,))]


register("bartlett", OpRule(infer=_bartlett_infer, perform=lambda op, m: (np.bartlett(int(m)),)))


def bartlett(M):  # noqa: N803 - numpy's name
    """numpy's bartlett window of M points (float64)."""
    if isinstance(M, numbers.Integral) and not isinstance(M, bool):
        M = constant(np.int64(M))
    return apply(Op("bartlett"), as_tensor_variable(M))


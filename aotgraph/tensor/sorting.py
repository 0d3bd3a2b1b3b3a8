"""Sorting and searching (Theano's sort, argsort, nonzero, flatnonzero, nonzero_values) and `take`.

sort and argsort are numpy calls (compiled the same way, codegen/ops.py); sort's gradient sends each
output gradient back to the element it came from (through argsort's inverse permutation, as Theano).
"""

from __future__ import annotations

import numpy as np

from aotgraph.graph.basic import Op
from aotgraph.graph.rules import OpRule, register
from aotgraph.tensor.basic import apply, as_tensor_variable, type_error
from aotgraph.tensor.shape_ops import arange, dimshuffle, flatten, normalize_axis, shape, stack
from aotgraph.tensor.type import TensorType

__all__ = ["sort", "argsort", "nonzero", "flatnonzero", "nonzero_values", "take"]

_KINDS = ("quicksort", "mergesort", "heapsort", "stable")


def take_along(x, idx, axis: int):
    """numpy's take_along_axis(x, idx, axis) for idx shaped like x, by advanced indexing."""
    index = []
    for d in range(x.ndim):
        if d == axis:
            index.append(idx)
        else:
            pattern = ["x"] * x.ndim
            pattern[d] = 0
            index.append(dimshuffle(arange(shape(x)[d]), pattern))
    return x[tuple(index)]


def _sort_infer(op, types):
    (x,) = types
    if not 0 <= op.axis < x.ndim:
        raise type_error(op.name, f"axis {op.axis} is out of range for a {x.ndim}-d input", x)
    return [TensorType(x.dtype if op.name == "sort" else "int64", x.shape)]


def _sort_grad(op, inputs, outputs, gouts):
    (x,), (gz,) = inputs, gouts
    inverse = argsort(argsort(x, op.axis, op.kind), op.axis, op.kind)
    return [take_along(gz, inverse, op.axis)]


register("sort", OpRule(infer=_sort_infer, perform=lambda op, x: (np.sort(x, axis=op.axis, kind=op.kind),),
                        grad=_sort_grad))
register("argsort", OpRule(infer=_sort_infer,
                           perform=lambda op, x: (np.argsort(x, axis=op.axis, kind=op.kind).astype(np.int64),),
                           grad=lambda op, inputs, outputs, gouts: [None]))


def _sorting(name: str, a, axis, kind):
    a = as_tensor_variable(a)
    if kind not in _KINDS:
        raise ValueError(f"{name}: kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    if axis is None:
        a, axis = flatten(a), 0
    if a.ndim == 0:
        raise type_error(name, "needs at least one dimension", a.type)
    return apply(Op(name, axis=normalize_axis(name, axis, a.ndim, a.type), kind=kind), a)


def sort(a, axis=-1, kind="quicksort", order=None):
    """numpy's sort along `axis` (None: of the flattened array); differentiable."""
    if order is not None:
        raise ValueError("sort: order= applies to structured arrays, which tensors are not")
    return _sorting("sort", a, axis, kind)


def argsort(a, axis=-1, kind="quicksort", order=None):
    """numpy's argsort (int64) along `axis` (None: of the flattened array)."""
    if order is not None:
        raise ValueError("argsort: order= applies to structured arrays, which tensors are not")
    return _sorting("argsort", a, axis, kind)


def _nonzero_infer(op, types):
    (x,) = types
    return [TensorType("int64", (None,))] * (1 if op.flat else x.ndim)


register("nonzero", OpRule(
    infer=_nonzero_infer,
    perform=lambda op, x: (np.flatnonzero(x),) if op.flat else tuple(np.nonzero(x)),
))


def flatnonzero(a):
    """The indices (int64) of the non-zero elements of the flattened `a`."""
    return apply(Op("nonzero", flat=True), as_tensor_variable(a))


def nonzero(a, return_matrix=False):
    """numpy's nonzero: a tuple of index vectors, one per dimension of `a` (with return_matrix, stacked into
    an (a.ndim, n) matrix)."""
    a = as_tensor_variable(a)
    if a.ndim == 0:
        raise type_error("nonzero", "needs at least one dimension", a.type)
    outs = apply(Op("nonzero", flat=False), a)
    outs = tuple(outs) if isinstance(outs, list) else (outs,)
    return stack(list(outs)) if return_matrix else outs


def nonzero_values(a):
    """The non-zero elements of the flattened `a`."""
    return flatten(as_tensor_variable(a))[flatnonzero(a)]


def take(a, indices, axis=None):
    """numpy's take: the elements of `a` (flattened when axis is None) at `indices` along `axis`."""
    a, indices = as_tensor_variable(a), as_tensor_variable(indices)
    if axis is None:
        return flatten(a)[indices]
    axis = normalize_axis("take", axis, a.ndim, a.type)
    return a[(slice(None),) * axis + (indices,)]

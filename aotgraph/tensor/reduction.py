"""Reductions with numpy's semantics: sum, prod, max, min, all, any, argmax, argmin, and mean/var/std built on them.

Ops defined here:

- `reduce{kind, axis, keepdims, dtype}`: numpy's ufunc reductions. `axis` is a sorted tuple of
  non-negative ints; `dtype` is the accumulator/output dtype of sum and prod (resolved when the node
  is built, so equal reductions are equal ops) and None for the other kinds.
- `argreduce{kind, axis, keepdims}`: argmax/argmin; `axis` is an int or None (flattened input).
- `unreduce{axis, keepdims}(g, like)`: `g`, the result of reducing a tensor shaped like `like`
  over `axis`, broadcast back to `like`'s shape. The adjoint of sum; reduction gradients use it.
- `reduced_count{axis, dtype}(x)`: the number of elements one reduction of `x` over `axis` combines.

`mean`, `var` and `std` are graphs of these and elementwise ops that follow numpy's own algorithm
(`numpy/_core/_methods.py`), so they get their gradients from the pieces.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from aotgraph.graph.basic import Op, Variable
from aotgraph.graph.rules import OpRule, register
from aotgraph.tensor.basic import apply, as_tensor_variable, constant, type_error
from aotgraph.tensor.math import cast, eq, maximum, neq, sqr, sqrt, sub, switch, true_div
from aotgraph.tensor.type import TensorType, normalize_dtype

# ---- axis handling (shared with blas and other modules) -----------------------------------------


def axis_error(op_name: str, message: str, *types) -> np.exceptions.AxisError:
    """A bad-axis error naming the op and its operands' types (numpy's AxisError, a ValueError)."""
    listed = ", ".join(str(t) for t in types)
    return np.exceptions.AxisError(f"{op_name}: {message} (operand types: {listed})")


def normalize_axis(op_name: str, ttype: TensorType, axis) -> tuple[int, ...]:
    """`axis` (None, an int or a sequence of ints; negative counts from the end) as a sorted tuple."""
    if axis is None:
        return tuple(range(ttype.ndim))
    items = list(axis) if isinstance(axis, (tuple, list)) else [axis]
    result = [_one_axis(op_name, ttype, a, axis) for a in items]
    if len(set(result)) != len(result):
        raise axis_error(op_name, f"duplicate value in axis {axis!r}", ttype)
    return tuple(sorted(result))


def _one_axis(op_name: str, ttype: TensorType, a, axis) -> int:
    if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
        raise type_error(op_name, f"axis must be None, an int or a tuple of ints, got {axis!r}", ttype)
    if not -ttype.ndim <= a < ttype.ndim:
        raise axis_error(op_name, f"axis {int(a)} is out of bounds for a {ttype.ndim}-d operand", ttype)
    return int(a) % ttype.ndim


def _check_axes(op_name: str, ttype: TensorType, axis: tuple) -> None:
    """Re-check an op's stored axis tuple against its input type (type inference is the checker)."""
    if tuple(sorted(set(axis))) != tuple(axis) or builtins.any(not 0 <= a < ttype.ndim for a in axis):
        raise axis_error(op_name, f"axis {axis!r} is not a sorted tuple of axes of a {ttype.ndim}-d operand", ttype)


def _check_keepdims(op_name: str, keepdims) -> bool:
    if not isinstance(keepdims, (bool, np.bool_, int, np.integer)):
        raise TypeError(f"{op_name}: keepdims must be a bool, got {keepdims!r}")
    return bool(keepdims)


def reduced_shape(shape: tuple, axis: tuple, keepdims: bool) -> tuple:
    """Static shape after reducing `shape` over `axis`."""
    if keepdims:
        return tuple(1 if i in axis else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axis)


def _arity(op: Op, types: list, n: int) -> None:
    if len(types) != n:
        raise type_error(op.name, f"takes {n} input{'s' if n > 1 else ''}, got {len(types)}", *types)


# ---- reduce: numpy's ufunc reductions ------------------------------------------------------------


@dataclass(frozen=True)
class ReduceKind:
    """One kind of `reduce`: its numpy reference, its gradient rule grad(op, x, z, gz) -> gx, and what a backend
    needs to compute it: the ufunc it is numpy's reduction of, the elementwise op combining two partial results."""

    fn: Callable
    grad: Callable | None
    ufunc: np.ufunc  # numpy's name (for its error on an empty max/min) and identity (None: an empty one fails)
    combine: str  # the elementwise op combining two partial results in the accumulator dtype
    accumulates: bool = False  # takes a dtype (sum, prod)
    pairwise: bool = False  # floats are combined pairwise, as numpy's add/multiply reductions do
    truth: bool = False  # reduces the truth of its operand's elements (all, any)

    @property
    def has_identity(self) -> bool:
        return self.ufunc.identity is not None

    def start(self, dtype: str):
        """The value an accumulator of `dtype` starts from: the identity, or for max/min the type's extreme."""
        if self.has_identity:
            return np.asarray(self.ufunc.identity).astype(dtype)[()]
        lowest = self.ufunc is np.maximum
        if np.dtype(dtype).kind == "b":
            return np.bool_(not lowest)
        if np.dtype(dtype).kind == "f":
            return np.asarray(-np.inf if lowest else np.inf, dtype)[()]
        info = np.iinfo(dtype)
        return np.asarray(info.min if lowest else info.max, dtype)[()]


KINDS: dict[str, ReduceKind] = {}


@functools.cache
def reduce_dtype(kind: str, in_dtype: str, dtype: str | None = None) -> str:
    """numpy's result dtype of reduction `kind` over an array of `in_dtype` (float16 -> float32)."""
    kwargs = {"dtype": dtype} if KINDS[kind].accumulates else {}
    out = np.asarray(KINDS[kind].fn(np.ones((1,), dtype=in_dtype), **kwargs)).dtype.name
    return "float32" if out == "float16" else out


def _reduce_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    _arity(op, types, 1)
    (x,) = types
    if op.kind not in KINDS:
        raise type_error(op.name, f"unknown kind {op.kind!r}; one of {', '.join(KINDS)}", x)
    _check_axes(f"reduce {op.kind}", x, op.axis)
    if op.dtype is not None and not KINDS[op.kind].accumulates:
        raise type_error(op.name, f"{op.kind} takes no dtype", x)
    return [TensorType(reduce_dtype(op.kind, x.dtype, op.dtype), reduced_shape(x.shape, op.axis, op.keepdims))]


def _reduce_perform(op: Op, x):
    kind = KINDS[op.kind]
    kwargs = {"dtype": op.dtype} if kind.accumulates else {}
    out = kind.fn(x, axis=op.axis, keepdims=op.keepdims, **kwargs)
    return (np.asarray(out, dtype=reduce_dtype(op.kind, x.dtype.name, op.dtype)),)


def _reduce_grad(op: Op, inputs, outputs, gouts):
    grad = KINDS[op.kind].grad
    return [None if grad is None else grad(op, inputs[0], outputs[0], gouts[0])]


register("reduce", OpRule(infer=_reduce_infer, perform=_reduce_perform, grad=_reduce_grad))


def _reduction(kind: str, x, axis, keepdims, dtype=None) -> Variable:
    x = as_tensor_variable(x)
    axes = normalize_axis(kind, x.type, axis)
    keepdims = _check_keepdims(kind, keepdims)
    if KINDS[kind].accumulates:
        dtype = reduce_dtype(kind, x.dtype, None if dtype is None else normalize_dtype(dtype))
    elif dtype is not None:
        raise TypeError(f"{kind} takes no dtype")
    return apply(Op("reduce", kind=kind, axis=axes, keepdims=keepdims, dtype=dtype), x)


def _sum_grad(op, x, z, gz):
    return unreduce(gz, x, op.axis, op.keepdims)


def _prod_grad(op, x, z, gz):
    """d prod / dx_i = product of the others: prod/x_i without zeros; at the only zero, the product of the rest."""
    nonzero = neq(x, 0)
    x_or_one = switch(nonzero, x, 1)
    rest = unreduce(prod(x_or_one, op.axis, keepdims=op.keepdims, dtype=op.dtype), x, op.axis, op.keepdims)
    zeros = unreduce(sum(eq(x, 0), op.axis, keepdims=op.keepdims), x, op.axis, op.keepdims)
    at_nonzero = switch(eq(zeros, 0), true_div(rest, x_or_one), 0)
    at_zero = switch(eq(zeros, 1), rest, 0)
    return unreduce(gz, x, op.axis, op.keepdims) * switch(nonzero, at_nonzero, at_zero)


def _extremum_grad(op, x, z, gz):
    """Like Theano: every position equal to the extremum receives the whole output gradient."""
    return unreduce(gz, x, op.axis, op.keepdims) * eq(x, unreduce(z, x, op.axis, op.keepdims))


KINDS["sum"] = ReduceKind(np.sum, _sum_grad, np.add, "add", accumulates=True, pairwise=True)
KINDS["prod"] = ReduceKind(np.prod, _prod_grad, np.multiply, "mul", accumulates=True, pairwise=True)
KINDS["max"] = ReduceKind(np.max, _extremum_grad, np.maximum, "maximum")
KINDS["min"] = ReduceKind(np.min, _extremum_grad, np.minimum, "minimum")
# on the bool accumulators of all/any, minimum is logical and, maximum logical or
KINDS["all"] = ReduceKind(np.all, None, np.logical_and, "minimum", truth=True)
KINDS["any"] = ReduceKind(np.any, None, np.logical_or, "maximum", truth=True)


def sum(x, axis=None, keepdims=False, dtype=None):  # noqa: A001 - numpy's name
    """numpy.sum: sum over `axis` (None: all); `dtype` is the accumulator and output dtype."""
    return _reduction("sum", x, axis, keepdims, dtype)


def prod(x, axis=None, keepdims=False, dtype=None):
    """numpy.prod; its gradient is exact where the input has zeros."""
    return _reduction("prod", x, axis, keepdims, dtype)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """numpy.max (numpy raises at run time for an empty reduction)."""
    return _reduction("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """numpy.min (numpy raises at run time for an empty reduction)."""
    return _reduction("min", x, axis, keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001
    """numpy.all: a bool tensor; no gradient."""
    return _reduction("all", x, axis, keepdims)


def any(x, axis=None, keepdims=False):  # noqa: A001
    """numpy.any: a bool tensor; no gradient."""
    return _reduction("any", x, axis, keepdims)


# ---- argreduce: argmax / argmin -------------------------------------------------------------------

_ARG_FNS = {"argmax": np.argmax, "argmin": np.argmin}


def _argreduce_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    _arity(op, types, 1)
    (x,) = types
    if op.axis is None:
        shape = (1,) * x.ndim if op.keepdims else ()
    else:
        _check_axes(op.kind, x, (op.axis,))
        shape = reduced_shape(x.shape, (op.axis,), op.keepdims)
    return [TensorType("int64", shape)]


def _argreduce_perform(op: Op, x):
    return (np.asarray(_ARG_FNS[op.kind](x, axis=op.axis, keepdims=op.keepdims), dtype="int64"),)


register("argreduce", OpRule(
    infer=_argreduce_infer, perform=_argreduce_perform, grad=lambda op, inputs, outputs, gouts: [None],
))


def _argreduction(kind: str, x, axis, keepdims) -> Variable:
    x = as_tensor_variable(x)
    if isinstance(axis, (tuple, list)) and len(axis) == 1:  # Theano accepts a one-axis list
        axis = axis[0]
    if axis is not None:
        if isinstance(axis, (tuple, list)):
            raise type_error(kind, f"axis must be None or one int (numpy's {kind}), got {axis!r}", x.type)
        (axis,) = normalize_axis(kind, x.type, axis)
    keepdims = _check_keepdims(kind, keepdims)
    return apply(Op("argreduce", kind=kind, axis=axis, keepdims=keepdims), x)


def argmax(x, axis=None, keepdims=False):
    """numpy.argmax: int64 indices of the maxima along one axis (None: of the flattened input)."""
    return _argreduction("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """numpy.argmin: int64 indices of the minima along one axis (None: of the flattened input)."""
    return _argreduction("argmin", x, axis, keepdims)


# ---- unreduce: broadcast a reduction's result back to the reduced shape ----------------------------


def _unreduce_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    _arity(op, types, 2)
    g, like = types
    _check_axes(op.name, like, op.axis)
    kept = [i for i in range(like.ndim) if i not in op.axis]
    expected = like.ndim if op.keepdims else len(kept)
    if g.ndim != expected:
        raise type_error(op.name, f"expected a {expected}-d reduction result, got {g.ndim}-d", g, like)
    g_sizes = [g.shape[i] for i in kept] if op.keepdims else list(g.shape)
    shape = list(like.shape)
    for i, size in zip(kept, g_sizes):
        if size is not None and shape[i] is not None and size != shape[i]:
            raise type_error(op.name, f"axis {i} has size {size}, not {shape[i]}", g, like)
        shape[i] = size if size is not None else shape[i]
    return [TensorType(g.dtype, shape)]


def _unreduce_perform(op: Op, g, like):
    if not op.keepdims:
        g = np.expand_dims(g, op.axis)
    return (np.broadcast_to(g, like.shape).copy(),)


def _unreduce_grad(op: Op, inputs, outputs, gouts):
    return [sum(gouts[0], op.axis, keepdims=op.keepdims), None]


register("unreduce", OpRule(infer=_unreduce_infer, perform=_unreduce_perform, grad=_unreduce_grad))


def unreduce(g, like, axis: Sequence[int], keepdims: bool = False) -> Variable:
    """`g`, a reduction of a tensor shaped like `like` over `axis`, broadcast back to `like`'s shape.

    `axis` holds non-negative axes of `like`; with keepdims, `g` already has size-1 dims there.
    """
    like = as_tensor_variable(like)
    return apply(Op("unreduce", axis=tuple(sorted(axis)), keepdims=bool(keepdims)), g, like)


def sum_to(g, shape: Sequence[int | None]) -> Variable:
    """Sum `g` over the dimensions numpy broadcasting added to a tensor of static `shape`."""
    g = as_tensor_variable(g)
    lead = g.ndim - len(shape)
    kept = [lead + i for i, s in enumerate(shape) if s == 1 and g.type.shape[lead + i] != 1]
    if kept:
        g = sum(g, kept, keepdims=True)
    if lead:
        g = sum(g, tuple(range(lead)))
    return g


# ---- reduced_count: how many elements one reduction combines ---------------------------------------


def _count_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    _arity(op, types, 1)
    _check_axes(op.name, types[0], op.axis)
    return [TensorType(op.dtype, ())]


def _count_perform(op: Op, x):
    return (np.asarray(np.prod([x.shape[a] for a in op.axis], dtype="int64"), dtype=op.dtype),)


register("reduced_count", OpRule(
    infer=_count_infer, perform=_count_perform, grad=lambda op, inputs, outputs, gouts: [None],
))


def reduced_count(x, axis: tuple[int, ...], dtype: str) -> Variable:
    """Number of elements of `x` that one reduction over `axis` combines: a constant when sizes are static."""
    x = as_tensor_variable(x)
    sizes = [x.type.shape[a] for a in axis]
    if None not in sizes:
        return constant(np.prod(sizes, dtype="int64"), dtype=dtype)
    return apply(Op("reduced_count", axis=tuple(axis), dtype=normalize_dtype(dtype)), x)


# ---- mean, var, std: numpy's algorithm as a graph ----------------------------------------------------


def _mean_acc_dtype(in_dtype: str) -> str:
    """numpy accumulates the mean and variance of bools and integers in float64."""
    return "float64" if np.dtype(in_dtype).kind in "biu" else in_dtype


def mean(x, axis=None, keepdims=False, dtype=None):
    """numpy.mean: float64 for integer and bool input, else the input dtype (or `dtype`)."""
    x = as_tensor_variable(x)
    axes = normalize_axis("mean", x.type, axis)
    keepdims = _check_keepdims("mean", keepdims)
    acc = _mean_acc_dtype(x.dtype) if dtype is None else normalize_dtype(dtype)
    total = sum(x, axes, keepdims=keepdims, dtype=acc)
    count_dtype = total.dtype if np.dtype(total.dtype).kind == "f" else "float64"
    result = true_div(total, reduced_count(x, axes, count_dtype))
    return cast(result, total.dtype)  # numpy divides into the accumulator (unsafe cast for integer dtypes)


def var(x, axis=None, keepdims=False, ddof=0):
    """numpy.var: mean of squared deviations, divided by max(N - ddof, 0)."""
    x = as_tensor_variable(x)
    axes = normalize_axis("var", x.type, axis)
    keepdims = _check_keepdims("var", keepdims)
    if isinstance(ddof, (bool, np.bool_)) or not isinstance(ddof, (int, float, np.integer, np.floating)):
        raise TypeError(f"var: ddof must be a number, got {ddof!r}")
    acc = _mean_acc_dtype(x.dtype)
    count = reduced_count(x, axes, acc)
    centred = sub(x, true_div(sum(x, axes, keepdims=True, dtype=acc), count))
    total = sum(sqr(centred), axes, keepdims=keepdims, dtype=acc)
    return true_div(total, maximum(count - ddof, 0) if ddof else count)


def std(x, axis=None, keepdims=False, ddof=0):
    """numpy.std: the square root of `var`."""
    return sqrt(var(x, axis, keepdims=keepdims, ddof=ddof))

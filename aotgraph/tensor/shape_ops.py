"""Shape ops: shape, specify_shape, dimshuffle (transpose), reshape (flatten), join (concatenate, stack),
alloc, arange, and the elementwise `second` behind fill, zeros_like and ones_like.

One registration block per op: type inference, numpy reference and gradient side by side. Type inference
sees only types, so sizes known when the graph is built sit in the op's params; a size known only at run
time is an extra scalar input, one per `None` entry of the params (in order).

Gradient rules here return each gradient with its input's exact shape (these ops do not broadcast
implicitly), and None for integer inputs and for index or size inputs.
"""

from __future__ import annotations

import math as _pymath
import numbers

import numpy as np

from aotgraph.graph.basic import Op, Variable
from aotgraph.graph.rules import DISCONNECTED, OpRule, register
from aotgraph.tensor import reduction
from aotgraph.tensor.basic import apply, as_tensor_variable, constant, type_error
from aotgraph.tensor.elemwise_rule import elemwise
from aotgraph.tensor.type import TensorType, normalize_dtype
from aotgraph.tensor.variable import TensorConstant

__all__ = [
    "shape", "specify_shape", "dimshuffle", "transpose", "reshape", "flatten", "concatenate", "stack", "alloc",
    "zeros", "ones", "arange", "second", "fill", "zeros_like", "ones_like",
]


# ---- helpers shared with subtensor.py and nnet.py ---------------------------------------------
def value_error(op_name: str, message: str, *types) -> ValueError:
    """Like `type_error`, for bad sizes or values: a ValueError naming the op and its operands' types."""
    listed = ", ".join(str(t) for t in types)
    return ValueError(f"{op_name}: {message} (operand types: {listed})")


def normalize_axis(op_name: str, axis, ndim: int, *types) -> int:
    """`axis` in [0, ndim); numpy's AxisError (a ValueError and an IndexError) when out of range."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise type_error(op_name, f"axis must be an integer, got {axis!r}", *types)
    if not -ndim <= axis < ndim:
        listed = ", ".join(str(t) for t in types)
        raise np.exceptions.AxisError(
            f"{op_name}: axis {axis} is out of bounds for array of dimension {ndim} (operand types: {listed})"
        )
    return int(axis) % ndim


def is_int_dtype(dtype) -> bool:
    return np.dtype(dtype).kind in "iu"


def is_float_dtype(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def float_grad(var: Variable, grad):
    """`grad` for a float variable; None (no gradient) for integer and boolean ones."""
    return grad if is_float_dtype(var.dtype) else None


def constant_int(x) -> int | None:
    """The value of an integer scalar known at graph construction, else None.

    Knows Python and numpy integers, 0-d integer constants, and `y.shape[i]` when y's static size i is known.
    """
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, np.ndarray):
        return int(x) if x.ndim == 0 and x.dtype.kind in "iu" else None
    if not isinstance(x, Variable) or getattr(x.type, "ndim", None) != 0 or not is_int_dtype(x.dtype):
        return None
    if isinstance(x, TensorConstant):
        return int(x.data)
    node = x.owner
    if node is not None and node.op.name == "subtensor" and len(node.op.idx) == 1:
        kind, i = node.op.idx[0][:2]
        src = node.inputs[0].owner
        if kind == "int" and isinstance(i, int) and src is not None and src.op.name == "shape":
            return src.inputs[0].type.shape[i]
    return None


def shape_entries(x) -> list:
    """x's size along each axis: a Python int where static, else the symbolic `x.shape[i]`."""
    return [s if s is not None else shape(x)[i] for i, s in enumerate(x.type.shape)]


def sum_axes(x, axes, keepdims: bool = False):
    """numpy's sum over `axes`."""
    return reduction.sum(x, tuple(axes), keepdims=keepdims)


def sum_to(g, target: TensorType):
    """Sum `g`, the gradient of a value numpy broadcast to g's shape, back to `target`'s rank and static 1s."""
    return reduction.sum_to(g, target.shape)


def _arity(op_name: str, types, n: int) -> None:
    if len(types) != n:
        raise type_error(op_name, f"takes {n} input{'s' * (n != 1)}, got {len(types)}", *types)


def _check_size_inputs(op_name: str, params, size_types, all_types) -> None:
    """The scalar inputs standing for the `None` entries of `params` are integer scalars, one per entry."""
    wanted = sum(1 for p in params if p is None)
    if len(size_types) != wanted:
        raise type_error(op_name, f"expects {wanted} size inputs for params {params}, got {len(size_types)}",
                         *all_types)
    for t in size_types:
        if t.ndim != 0 or not is_int_dtype(t.dtype):
            raise type_error(op_name, f"sizes must be integer scalars, got {t}", *all_types)


def _fill(params, values) -> tuple:
    """params with each None replaced by the next run-time value (as an int)."""
    values = iter(values)
    return tuple(int(next(values)) if p is None else p for p in params)


def _split(entries) -> tuple[tuple, list]:
    """(params with None for symbolic entries, the symbolic entries)."""
    return tuple(e if isinstance(e, int) else None for e in entries), [e for e in entries if not isinstance(e, int)]


def _fmt(params) -> str:
    return "(" + ", ".join("?" if p is None else str(p) for p in params) + ("," if len(params) == 1 else "") + ")"


# ---- shape --------------------------------------------------------------------------------------
def _shape_infer(op, types):
    _arity("shape", types, 1)
    return [TensorType("int64", (types[0].ndim,))]


register("shape", OpRule(
    infer=_shape_infer,
    perform=lambda op, x: (np.array(x.shape, dtype=np.int64),),
    grad=lambda op, inputs, outputs, gouts: [DISCONNECTED],
))


def shape(x):
    """x's shape as a symbolic int64 vector of length x.ndim (index it: `x.shape[0]`)."""
    return apply(Op("shape"), x)


# ---- specify_shape ------------------------------------------------------------------------------
# params `shape`: per axis a size >= 0, -1 for any size, or None for a size given as an input
def _specify_infer(op, types):
    x, sizes = types[0], types[1:]
    if x.ndim != len(op.shape):
        raise type_error("specify_shape", f"shape {_fmt(op.shape)} has {len(op.shape)} entries for a "
                         f"{x.ndim}-d tensor", *types)
    _check_size_inputs("specify_shape", op.shape, sizes, types)
    out = []
    for axis, (s, p) in enumerate(zip(x.shape, op.shape)):
        p = None if p == -1 else p
        if s is not None and p is not None and s != p:
            raise value_error("specify_shape", f"static size {s} of axis {axis} is not {p}", *types)
        out.append(p if p is not None else s)
    return [TensorType(x.dtype, out)]


def _specify_perform(op, x, *sizes):
    want = _fill(op.shape, sizes)
    if any(w != -1 and w != s for w, s in zip(want, x.shape)):
        raise ValueError(f"specify_shape: expected shape {_fmt([None if w == -1 else w for w in want])}, "
                         f"got {x.shape}")
    return (x,)


register("specify_shape", OpRule(
    infer=_specify_infer,
    perform=_specify_perform,
    grad=lambda op, inputs, outputs, gouts: [gouts[0]] + [None] * (len(inputs) - 1),
    view_map={0: 0},
))


def specify_shape(x, shape):
    """x, with its shape checked at run time against `shape`: per axis an int, an integer scalar, or None
    (any size). The static shape of the result knows the constant entries."""
    x = as_tensor_variable(x)
    if isinstance(shape, Variable):
        shape = _vector_entries("specify_shape", shape, x.ndim)
    entries = [-1 if s is None else _shape_entry("specify_shape", s) for s in shape]
    if any(isinstance(e, int) and e < -1 for e in entries):
        raise value_error("specify_shape", f"negative size in shape {tuple(shape)}", x.type)
    params, sizes = _split(entries)
    return apply(Op("specify_shape", shape=params), x, *sizes)


# ---- dimshuffle (transpose) ---------------------------------------------------------------------
def _dimshuffle_infer(op, types):
    _arity("dimshuffle", types, 1)
    x = types[0]
    ints = [p for p in op.pattern if p != "x"]
    for p in op.pattern:
        if p != "x" and not (isinstance(p, int) and 0 <= p < x.ndim):
            raise type_error("dimshuffle", f"pattern {op.pattern}: entry {p!r} is neither 'x' nor an input "
                             f"dimension 0..{x.ndim - 1}", x)
    if len(set(ints)) != len(ints):
        raise type_error("dimshuffle", f"pattern {op.pattern} repeats a dimension", x)
    for axis, size in enumerate(x.shape):
        if axis not in ints and size != 1:
            raise type_error("dimshuffle", f"pattern {op.pattern} drops dimension {axis}, which is not "
                             f"broadcastable (static size {'?' if size is None else size}); only dimensions "
                             "of static size 1 can be dropped", x)
    return [TensorType(x.dtype, [1 if p == "x" else x.shape[p] for p in op.pattern])]


def _dimshuffle_perform(op, x):
    kept = [p for p in op.pattern if p != "x"]
    dropped = tuple(axis for axis in range(x.ndim) if axis not in kept)
    y = np.squeeze(x, axis=dropped) if dropped else x  # raises if a dropped axis is not of size 1
    y = y.transpose([p - sum(1 for d in dropped if d < p) for p in kept])
    return (y[(*(None if p == "x" else slice(None) for p in op.pattern), Ellipsis)],)  # Ellipsis: 0-d stays an array


def _dimshuffle_grad(op, inputs, outputs, gouts):
    (x,), gz = inputs, gouts[0]
    # the gradient's new ('x') axes have size 1 at run time; sum them when its type does not say so
    unsure = [j for j, p in enumerate(op.pattern) if p == "x" and gz.type.shape[j] != 1]
    if unsure:
        gz = sum_axes(gz, unsure, keepdims=True)
    back = tuple(op.pattern.index(axis) if axis in op.pattern else "x" for axis in range(x.ndim))
    return [float_grad(x, dimshuffle(gz, back))]


register("dimshuffle", OpRule(
    infer=_dimshuffle_infer, perform=_dimshuffle_perform, grad=_dimshuffle_grad, view_map={0: 0},
))


def dimshuffle(x, pattern):
    """Theano's dimshuffle: output axis j is input axis pattern[j], or a new broadcastable axis for 'x'.

    An input axis left out of the pattern is dropped; only axes of static size 1 can be.
    """
    x = as_tensor_variable(x)
    pattern = tuple(p if isinstance(p, str) else _pattern_int(p, x) for p in pattern)
    return apply(Op("dimshuffle", pattern=pattern), x)


def _pattern_int(p, x) -> int:
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Integral):
        raise type_error("dimshuffle", f"pattern entries must be ints or 'x', got {p!r}", x.type)
    return int(p)


def transpose(x, axes=None):
    """numpy's transpose: axes reversed, or permuted by `axes` (negative axes allowed)."""
    x = as_tensor_variable(x)
    if axes is None:
        return dimshuffle(x, tuple(reversed(range(x.ndim))))
    axes = tuple(axes)
    if len(axes) != x.ndim:
        raise value_error("transpose", f"axes {axes} don't match array", x.type)
    axes = tuple(normalize_axis("transpose", a, x.ndim, x.type) for a in axes)
    if len(set(axes)) != len(axes):
        raise value_error("transpose", f"repeated axis in transpose {axes}", x.type)
    return dimshuffle(x, axes)


# ---- reshape (flatten) --------------------------------------------------------------------------
def _reshape_infer(op, types):
    x, sizes = types[0], types[1:]
    _check_size_inputs("reshape", op.shape, sizes, types)
    known = [p for p in op.shape if p is not None]
    if sum(1 for p in known if p < 0) > 1:
        raise value_error("reshape", f"shape {_fmt(op.shape)}: can only specify one unknown dimension", *types)
    out = [p if p is not None and p >= 0 else None for p in op.shape]
    if all(s is not None for s in x.shape):
        out = _complete_shape(op.shape, out, _pymath.prod(x.shape), types)
    return [TensorType(x.dtype, out)]


def _complete_shape(params, out, size, types):
    """Check the static sizes against x's known size and work out a single unknown entry."""
    unknown = [i for i, s in enumerate(out) if s is None]
    rest = _pymath.prod(s for s in out if s is not None)
    error = value_error("reshape", f"cannot reshape array of size {size} into shape {_fmt(params)}", *types)
    if not unknown:
        if rest != size:
            raise error
        return out
    if len(unknown) > 1:
        return out
    if params[unknown[0]] is not None:  # the -1 entry: numpy refuses it next to a 0 even for an empty array
        if rest == 0 or size % rest:
            raise error
    elif rest == 0:  # a symbolic entry next to a 0: any value works for an empty array
        if size != 0:
            raise error
        return out
    elif size % rest:
        raise error
    out = list(out)
    out[unknown[0]] = size // rest
    return out


def _reshape_grad(op, inputs, outputs, gouts):
    x = inputs[0]
    return [float_grad(x, reshape(gouts[0], shape_entries(x)))] + [None] * (len(inputs) - 1)


register("reshape", OpRule(
    infer=_reshape_infer,
    perform=lambda op, x, *sizes: (np.reshape(x, _fill(op.shape, sizes)),),
    grad=_reshape_grad,
    view_map={0: 0},
))


def reshape(x, shape, ndim: int | None = None):
    """numpy's reshape. `shape`: an int, a tuple of ints and integer scalars (one may be -1), or an integer
    vector (`y.shape` works) whose length is static or given as `ndim`."""
    x = as_tensor_variable(x)
    params, sizes = _split(_shape_spec("reshape", shape, ndim))
    return apply(Op("reshape", shape=params), x, *sizes)


def flatten(x, ndim: int = 1):
    """Theano's flatten: keep the first ndim-1 axes, join the rest into one."""
    x = as_tensor_variable(x)
    if isinstance(ndim, bool) or not isinstance(ndim, numbers.Integral):
        raise type_error("flatten", f"ndim must be an int, got {ndim!r}", x.type)
    if ndim < 1 or (ndim > 1 and ndim > x.ndim):
        raise value_error("flatten", f"ndim must be between 1 and {max(x.ndim, 1)}, got {ndim}", x.type)
    dims = shape_entries(x)
    # the joined size as a product, not -1: numpy refuses -1 in (0, -1) for an empty array
    return reshape(x, (*dims[: ndim - 1], _product(dims[ndim - 1:])))


def _product(entries):
    const = _pymath.prod(e for e in entries if isinstance(e, int))
    symbolic = [e for e in entries if not isinstance(e, int)]
    if not symbolic:
        return const
    result = symbolic[0]
    for e in symbolic[1:]:
        result = result * e
    return result if const == 1 else result * const


# ---- target shapes given by the user (reshape, alloc, specify_shape) --------------------------
def _shape_spec(op_name: str, shape, ndim: int | None = None) -> list:
    """A target shape as a list of entries: Python ints where known now, integer scalar variables otherwise."""
    if _is_scalar_like(shape):
        shape = (shape,)
    if isinstance(shape, (list, tuple)):
        entries = [_shape_entry(op_name, s) for s in shape]
    else:
        entries = _vector_entries(op_name, as_tensor_variable(shape), ndim)
    if ndim is not None and len(entries) != ndim:
        raise TypeError(f"{op_name}: shape has {len(entries)} entries but ndim={ndim}")
    return entries


def _is_scalar_like(s) -> bool:
    if isinstance(s, (Variable, np.ndarray)):
        return getattr(s, "ndim", None) == 0
    return isinstance(s, numbers.Number) or isinstance(s, np.generic)


def _shape_entry(op_name: str, s):
    c = constant_int(s)
    if c is not None:
        return c
    v = as_tensor_variable(s)
    if v.ndim != 0 or not is_int_dtype(v.dtype):
        raise TypeError(f"{op_name}: shape entries must be integer scalars, got {s!r} of type {v.type}")
    c = constant_int(v)
    return v if c is None else c


def _vector_entries(op_name: str, v, ndim: int | None) -> list:
    """The entries of an integer vector used as a shape, looking through `y.shape` and stacked scalars."""
    if v.ndim != 1 or not is_int_dtype(v.dtype):
        raise TypeError(f"{op_name}: a shape must be an integer vector or a tuple of integer scalars, "
                        f"got {v!r} of type {v.type}")
    if isinstance(v, TensorConstant):
        return [int(e) for e in v.data]
    node = v.owner
    if node is not None and node.op.name == "shape":
        return shape_entries(node.inputs[0])
    if node is not None and _is_stack_of_scalars(node):
        return [_shape_entry(op_name, d.owner.inputs[0]) for d in node.inputs]
    length = v.type.shape[0]
    if length is None:
        if ndim is None:
            raise TypeError(f"{op_name}: the length of shape vector {v!r} ({v.type}) is not known; pass ndim=")
        v, length = specify_shape(v, (ndim,)), ndim
    return [_shape_entry(op_name, v[i]) for i in range(length)]


def _is_stack_of_scalars(node) -> bool:
    return node.op.name == "join" and node.op.axis == 0 and all(
        d.owner is not None and d.owner.op.name == "dimshuffle" and d.owner.op.pattern == ("x",)
        for d in node.inputs
    )


# ---- join (concatenate, stack) ------------------------------------------------------------------
def _merge_size(op_name: str, sizes, axis: int, types):
    known = {s for s in sizes if s is not None}
    if len(known) > 1:
        raise value_error(op_name, "all the input array dimensions except for the concatenation axis must "
                          f"match exactly, but along dimension {axis} the static sizes are {sorted(known)}", *types)
    return known.pop() if known else None


def _join_infer(op, types):
    if not types:
        raise type_error("join", "needs at least one input")
    ndim = types[0].ndim
    if any(t.ndim != ndim for t in types):
        raise type_error("join", "all the inputs must have the same number of dimensions", *types)
    if ndim == 0:
        raise value_error("join", "zero-dimensional arrays cannot be concatenated", *types)
    axis = normalize_axis("join", op.axis, ndim, *types)
    out = []
    for d in range(ndim):
        sizes = [t.shape[d] for t in types]
        if d == axis:
            out.append(None if None in sizes else sum(sizes))
        else:
            out.append(_merge_size("join", sizes, d, types))
    dtype = np.result_type(*(t.dtype for t in types)).name
    return [TensorType(dtype, out)]


def _join_perform(op, *arrays):
    dtype = np.result_type(*arrays)
    return (np.concatenate(arrays, axis=op.axis).astype(dtype, copy=False),)


def _join_grad(op, inputs, outputs, gouts):
    grads, start = [], 0
    for x in inputs:
        size = x.type.shape[op.axis]
        size = size if size is not None else shape(x)[op.axis]
        stop = size if isinstance(start, int) and start == 0 else start + size
        grads.append(float_grad(x, gouts[0][(slice(None),) * op.axis + (slice(start, stop),)]))
        start = stop
    return grads


register("join", OpRule(infer=_join_infer, perform=_join_perform, grad=_join_grad))


def concatenate(tensors, axis=0):
    """numpy's concatenate (axis=None flattens the inputs first); the dtype is numpy's result_type."""
    tensors = [as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: need at least one array to concatenate")
    if axis is None:
        return apply(Op("join", axis=0), *[flatten(t) for t in tensors])
    types = [t.type for t in tensors]
    if tensors[0].ndim == 0:
        raise value_error("concatenate", "zero-dimensional arrays cannot be concatenated", *types)
    axis = normalize_axis("concatenate", axis, tensors[0].ndim, *types)
    return apply(Op("join", axis=axis), *tensors)


def stack(tensors, axis=0):
    """numpy's stack: join tensors of one shape along a new axis (a join of dimshuffles)."""
    tensors = [as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one array to stack")
    types = [t.type for t in tensors]
    ndim = tensors[0].ndim
    if any(t.ndim != ndim for t in tensors):
        raise type_error("stack", "all input arrays must have the same number of dimensions", *types)
    for d in range(ndim):
        known = {t.shape[d] for t in types if t.shape[d] is not None}
        if len(known) > 1:
            raise value_error("stack", f"all input arrays must have the same shape (axis {d}: "
                              f"static sizes {sorted(known)})", *types)
    axis = normalize_axis("stack", axis, ndim + 1, *types)
    pattern = list(range(ndim))
    pattern.insert(axis, "x")
    return apply(Op("join", axis=axis), *[dimshuffle(t, pattern) for t in tensors])


# ---- alloc --------------------------------------------------------------------------------------
def _alloc_infer(op, types):
    v, sizes = types[0], types[1:]
    _check_size_inputs("alloc", op.shape, sizes, types)
    n = len(op.shape)
    if v.ndim > n:
        raise type_error("alloc", f"the value has {v.ndim} dimensions, more than the {n} of shape "
                         f"{_fmt(op.shape)}", *types)
    if any(p is not None and p < 0 for p in op.shape):
        raise value_error("alloc", f"negative size in shape {_fmt(op.shape)}", *types)
    out, lead = list(op.shape), n - v.ndim
    for i, vs in enumerate(v.shape):
        if vs is None or vs == 1:
            continue
        if out[lead + i] is None:
            out[lead + i] = vs  # broadcasting keeps every size but 1
        elif out[lead + i] != vs:
            raise value_error("alloc", f"cannot broadcast a value of static shape {_fmt(v.shape)} to shape "
                              f"{_fmt(op.shape)}", *types)
    return [TensorType(v.dtype, out)]


def _alloc_grad(op, inputs, outputs, gouts):
    v = inputs[0]
    return [float_grad(v, sum_to(gouts[0], v.type))] + [None] * (len(inputs) - 1)


register("alloc", OpRule(
    infer=_alloc_infer,
    perform=lambda op, v, *sizes: (np.broadcast_to(v, _fill(op.shape, sizes)).copy(),),
    grad=_alloc_grad,
))


def alloc(value, *shape):
    """Theano's alloc: a new array of `shape` filled with `value` broadcast numpy's way.

    `shape` is given as separate sizes (ints or integer scalars) or as one tuple or vector, e.g. `x.shape`.
    """
    value = as_tensor_variable(value)
    spec = shape[0] if len(shape) == 1 and not _is_scalar_like(shape[0]) else shape
    params, sizes = _split(_shape_spec("alloc", spec))
    return apply(Op("alloc", shape=params), value, *sizes)


def zeros(shape, dtype=None):
    """A new array of zeros (floatX unless `dtype` is given); `shape` as for alloc."""
    return alloc(constant(np.zeros((), normalize_dtype(dtype or "floatX"))), shape)


def ones(shape, dtype=None):
    """A new array of ones (floatX unless `dtype` is given); `shape` as for alloc."""
    return alloc(constant(np.ones((), normalize_dtype(dtype or "floatX"))), shape)


# ---- arange -------------------------------------------------------------------------------------
def _arange_length(start, stop, step) -> int:
    """numpy's length for arange(start, stop, step) (computed in double precision, as numpy does)."""
    if step == 0:
        raise ZeroDivisionError("arange: step is zero (division by zero)")
    delta = stop - start
    length = delta / step
    if not _pymath.isfinite(length):
        raise ValueError(f"arange: cannot compute length of arange({start}, {stop}, {step})")
    if length == 0 and delta != 0:
        return 0 if _pymath.copysign(1.0, length) < 0 else 1
    return max(0, _pymath.ceil(length))


def _arange_infer(op, types):
    bounds = (op.start, op.stop, op.step)
    wanted = sum(1 for b in bounds if b is None)
    if len(types) != wanted:
        raise type_error("arange", f"expects {wanted} scalar inputs, got {len(types)}", *types)
    for t in types:
        if t.ndim != 0:
            raise type_error("arange", f"start, stop and step must be scalars, got {t}", *types)
    length = None if None in bounds else _arange_length(*bounds)
    return [TensorType(op.dtype, (length,))]


def _arange_perform(op, *values):
    values = iter(values)
    bounds = [next(values)[()] if b is None else b for b in (op.start, op.stop, op.step)]
    return (np.arange(*bounds, dtype=op.dtype),)


def _arange_grad(op, inputs, outputs, gouts):
    # start shifts every value, step scales the position; stop only changes the length
    (out,), gz = outputs, gouts[0]
    if not is_float_dtype(op.dtype):
        return [None] * len(inputs)
    grads = {"start": lambda: sum_axes(gz, [0]),
             "stop": lambda: DISCONNECTED,
             "step": lambda: sum_axes(gz * arange(shape(out)[0], dtype=op.dtype), [0])}
    names = [n for n in ("start", "stop", "step") if op.params[n] is None]
    return [float_grad(x, grads[n]()) for n, x in zip(names, inputs)]


register("arange", OpRule(infer=_arange_infer, perform=_arange_perform, grad=_arange_grad))


def arange(start, stop=None, step=1, dtype=None):
    """numpy's arange with constant or symbolic scalar bounds; the dtype is numpy's for those operands."""
    if stop is None:
        start, stop = 0, start
    parts = [_arange_part(p) for p in (start, stop, step)]
    if dtype is None:
        dtype = _arange_dtype(parts)
    dtype = normalize_dtype(dtype)
    bounds = [p.data.item() if isinstance(p, TensorConstant) else p for p in parts]
    params = [None if isinstance(b, Variable) else b for b in bounds]
    if None not in params:
        _arange_length(*params)  # refuse a zero step or infinite bounds now rather than at run time
    op = Op("arange", start=params[0], stop=params[1], step=params[2], dtype=dtype)
    return apply(op, *[b for b in bounds if isinstance(b, Variable)])


def _arange_part(p):
    if isinstance(p, Variable) or isinstance(p, np.ndarray) or isinstance(p, np.generic):
        v = as_tensor_variable(p)
        if v.ndim != 0 or np.dtype(v.dtype).kind not in "biuf":
            raise type_error("arange", f"start, stop and step must be real scalars, got {v!r}", v.type)
        return v
    if isinstance(p, numbers.Real):
        return p
    raise TypeError(f"arange: start, stop and step must be real scalars, got {p!r}")


def _arange_dtype(parts) -> str:
    """What numpy's arange gives for operands of these dtypes (Python numbers stay Python numbers)."""
    samples = [np.array(k, dtype=p.dtype) if isinstance(p, Variable) else type(p)(k) for p, k in zip(parts, (0, 1, 1))]
    try:
        return np.arange(*samples).dtype.name
    except TypeError as err:
        raise TypeError(f"arange: not defined for these operands ({err})") from None


# ---- second (fill, zeros_like, ones_like) -------------------------------------------------------
def _second_np(a, b):
    return np.broadcast_to(b, np.broadcast_shapes(np.shape(a), np.shape(b))).copy()


second = elemwise("second", _second_np, 2, lambda op, inputs, outputs, gouts: [None, gouts[0]])
second.__doc__ = "Elementwise: b broadcast to the shape of a and b (Theano's second/fill); a gives only the shape."
fill = second


def zeros_like(x, dtype=None):
    """An array of zeros with x's shape and x's dtype (or `dtype`)."""
    x = as_tensor_variable(x)
    return second(x, constant(np.zeros((), normalize_dtype(dtype or x.dtype))))


def ones_like(x, dtype=None):
    """An array of ones with x's shape and x's dtype (or `dtype`)."""
    x = as_tensor_variable(x)
    return second(x, constant(np.ones((), normalize_dtype(dtype or x.dtype))))

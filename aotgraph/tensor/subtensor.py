"""Indexing: x[...] with numpy's basic and advanced indexing; set_subtensor and inc_subtensor.

The index is the op's `idx` param: one entry per index item, after Ellipsis is expanded and trailing
full slices are dropped:

    ("int", k)                    an integer; k a Python int, or SYM when it is an input
    ("slice", start, stop, step)  each part a Python int, None (omitted) or SYM
    ("none",)                     np.newaxis
    ("array",)                    an integer array or a boolean mask, always an input
    ("ellipsis",)                 an Ellipsis standing for no axis between array indices (numpy then puts
                                  the array dimensions first, as for any non-adjacent array indices)

The SYM parts and arrays are the op's inputs after x (after x and v for set/inc), in entry order.

Ops: "subtensor" (basic indexing; its result is a view of x), "advanced_subtensor" (an index with an
array; a copy), "set_subtensor" and "inc_subtensor" (a copy of x with the selection set or incremented;
increments at repeated array indices accumulate, like np.add.at and Theano).
"""

from __future__ import annotations

import numbers

import numpy as np

from aotgraph.graph.basic import Op, Variable
from aotgraph.graph.rules import OpRule, make_node, register
from aotgraph.tensor.basic import (
    apply,
    as_tensor_variable,
    constant,
    is_python_scalar,
    python_scalar_array,
    type_error,
    weak_result_type,
)
from aotgraph.tensor.shape_ops import constant_int, float_grad, is_int_dtype, sum_to, value_error, zeros_like
from aotgraph.tensor.type import TensorType
from aotgraph.tensor.variable import TensorConstant

__all__ = ["getitem", "set_subtensor", "inc_subtensor"]

SYM = "sym"
_ADV = "adv"  # where the advanced-index dimensions go in a result shape, while it is worked out


# ---- building an index --------------------------------------------------------------------------
def _item(x, item):
    """One user index item as ('int', int|var), ('slice', a, b, c), ('none',), ('ellipsis',) or ('array', var)."""
    if item is None:
        return ("none",)
    if item is Ellipsis:
        return ("ellipsis",)
    if isinstance(item, slice):
        return _canonical_slice(("slice", *(_slice_part(x, p) for p in (item.start, item.stop, item.step))))
    if isinstance(item, (bool, np.bool_)):
        raise type_error("getitem", f"boolean scalar index {item!r} is not supported", x.type)
    if isinstance(item, numbers.Integral):
        return ("int", int(item))
    if isinstance(item, (list, tuple)) and len(item) == 0:
        v = constant(np.zeros(0, np.int64))  # numpy reads an empty list as an empty integer index
    elif isinstance(item, (Variable, np.ndarray, np.generic, list, tuple)):
        v = as_tensor_variable(item)
    else:
        raise type_error("getitem", f"index {item!r}: only integers, slices, None, Ellipsis, and integer or "
                         "boolean arrays are valid indices", x.type)
    if v.dtype == "bool":
        if v.ndim == 0:
            raise type_error("getitem", f"boolean scalar index {v!r} is not supported", x.type, v.type)
        return ("array", v)
    if not is_int_dtype(v.dtype):
        raise type_error("getitem", f"index {v!r} of type {v.type}: indices must be integers or booleans",
                         x.type, v.type)
    if v.ndim == 0:
        c = constant_int(v)
        return ("int", v if c is None else c)
    return ("array", v)


def _slice_part(x, p):
    if p is None:
        return None
    c = constant_int(p)
    if c is not None:
        return c
    if isinstance(p, (Variable, np.ndarray)) and p.ndim == 0 and is_int_dtype(p.dtype):
        return as_tensor_variable(p)
    raise type_error("getitem", f"slice bounds must be integer scalars or None, got {p!r}", x.type)


def _dims_used(item) -> int:
    if item[0] in ("int", "slice"):
        return 1
    if item[0] == "array":
        return item[1].ndim if item[1].dtype == "bool" else 1
    return 0


def _expand(x, items):
    """Replace Ellipsis by full slices; refuse indices for more dimensions than x has."""
    if sum(1 for it in items if it[0] == "ellipsis") > 1:
        raise IndexError("getitem: an index can only have a single ellipsis ('...')")
    used = sum(_dims_used(it) for it in items)
    if used > x.ndim:
        raise IndexError(f"getitem: too many indices for array: array is {x.ndim}-dimensional, "
                         f"but {used} were indexed")
    full = ("slice", None, None, None)
    advanced = any(it[0] == "array" for it in items)
    expanded = []
    for it in items:
        if it[0] != "ellipsis":
            expanded.append(it)
        elif x.ndim > used or advanced:
            expanded.extend([full] * (x.ndim - used) or [it])
    while expanded and expanded[-1] == full:
        expanded.pop()
    return expanded


def _canonical_slice(item):
    _, start, stop, step = item
    if step == 0:
        raise ValueError("getitem: slice step cannot be zero")
    if step == 1:
        step = None
    if start == 0 and (step is None or isinstance(step, int) and step > 0):
        start = None
    return ("slice", start, stop, step)


def _constant_masks(x, items):
    """A constant boolean mask over axes of static size is its nonzero() integer arrays (numpy's meaning)."""
    result, dim = [], 0
    for it in items:
        v = it[1] if it[0] == "array" else None
        if isinstance(v, TensorConstant) and v.dtype == "bool":
            sizes = x.type.shape[dim: dim + v.ndim]
            _check_mask(sizes, v.type.shape, dim)
            if None not in sizes:
                result.extend(("array", constant(nz)) for nz in np.nonzero(v.data))
                dim += v.ndim
                continue
        result.append(it)
        dim += _dims_used(it)
    return result


def _check_mask(sizes, mask_shape, dim):
    for j, (s, m) in enumerate(zip(sizes, mask_shape)):
        if s is not None and m is not None and s != m:
            raise IndexError(f"getitem: boolean index did not match indexed array along axis {dim + j}; size of "
                             f"axis is {s} but size of corresponding boolean axis is {m}")


def _check_constant_arrays(x, items):
    """Out-of-range constant integer arrays fail now, as numpy would at run time."""
    dim = 0
    for it in items:
        v = it[1] if it[0] == "array" else None
        size = x.type.shape[dim] if dim < x.ndim else None
        if isinstance(v, TensorConstant) and v.dtype != "bool" and size is not None and v.data.size:
            bad = v.data[(v.data < -size) | (v.data >= size)]
            if bad.size:
                raise IndexError(f"getitem: index {bad.flat[0]} is out of bounds for axis {dim} with size {size}")
        dim += _dims_used(it)


def _parse(x, index):
    """(idx param, index inputs) for x[index]."""
    items = [_item(x, it) for it in (index if isinstance(index, tuple) else (index,))]
    items = _constant_masks(x, _expand(x, items))
    _check_constant_arrays(x, items)
    idx, inputs = [], []
    for it in items:
        parts = []
        for p in it[1:]:
            if isinstance(p, Variable):
                inputs.append(p)
                p = SYM
            parts.append(p)
        idx.append((it[0], *parts))
    return tuple(idx), inputs


def _is_advanced(idx) -> bool:
    return any(e[0] == "array" for e in idx)


# ---- the selected shape (type inference for all four ops) ---------------------------------------
def _select(op_name: str, idx, x: TensorType, itypes) -> tuple:
    """Static shape of x[idx], given x's type and the index inputs' types; checks the index."""
    types = (x, *itypes)
    itypes = iter(itypes)
    advanced = _is_advanced(idx)
    out, adv_shapes, adv_at, dim = [], [], [], 0
    for pos, e in enumerate(idx):
        if e[0] in ("none", "ellipsis"):
            out.extend([1] if e[0] == "none" else [])
            continue
        if dim >= x.ndim:
            raise IndexError(f"{op_name}: too many indices for a {x.ndim}-d array in {idx}")
        size = x.shape[dim]
        if e[0] == "slice":
            for p in e[1:]:
                if p == SYM:
                    _check_int_scalar(op_name, next(itypes), types)
            if e[3] == 0:
                raise value_error(op_name, "slice step cannot be zero", *types)
            out.append(_slice_length(size, e[1:]))
            dim += 1
            continue
        if e[0] == "int":
            if e[1] == SYM:
                _check_int_scalar(op_name, next(itypes), types)
            elif size is not None and not -size <= e[1] < size:
                raise IndexError(f"{op_name}: index {e[1]} is out of bounds for axis {dim} with size {size}")
            shape, used = (), 1
        else:
            shape, used = _array_index(op_name, next(itypes, None), x, dim, types)
        if advanced:
            adv_shapes.append(shape)
            adv_at.append(pos)
            if len(adv_at) == 1:
                out.append(_ADV)
        dim += used
    if next(itypes, None) is not None:
        raise type_error(op_name, f"more index inputs than the index {idx} uses", *types)
    out.extend(x.shape[dim:])
    if advanced:
        out = _place_advanced(out, _broadcast_index_shapes(op_name, adv_shapes), adv_at)
    return tuple(out)


def _check_int_scalar(op_name, t, types):
    if t is None or t.ndim != 0 or not is_int_dtype(t.dtype):
        raise type_error(op_name, f"scalar indices and slice bounds must be integer scalars, got {t}", *types)


def _array_index(op_name, t, x, dim, types):
    """(shape it contributes, dimensions of x it uses) for an array index of type t at axis dim."""
    if t is None or t.ndim == 0 or not (t.dtype == "bool" or is_int_dtype(t.dtype)):
        raise type_error(op_name, f"array indices must be integer or boolean arrays, got {t}", *types)
    if t.dtype != "bool":
        return t.shape, 1
    if dim + t.ndim > x.ndim:
        raise IndexError(f"{op_name}: too many indices for a {x.ndim}-d array (boolean index of {t.ndim} dims)")
    _check_mask(x.shape[dim: dim + t.ndim], t.shape, dim)
    return (None,), t.ndim  # how many are True is known at run time only


def _slice_length(size, parts):
    if size == 0:
        return 0
    if size is None or SYM in parts:
        return None
    return len(range(*slice(*parts).indices(size)))


def _broadcast_index_shapes(op_name, shapes):
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for sizes in zip(*padded):
        known = {s for s in sizes if s is not None and s != 1}
        if len(known) > 1:
            listed = " ".join(str(tuple(s)) for s in shapes)
            raise IndexError(f"{op_name}: shape mismatch: indexing arrays could not be broadcast together with "
                             f"static shapes {listed}")
        out.append(known.pop() if known else (1 if all(s == 1 for s in sizes) else None))
    return out


def _place_advanced(out, adv_shape, adv_at):
    """numpy's rule: adjacent advanced indices put their dimensions where they are, others in front."""
    at = out.index(_ADV)
    rest = out[:at] + out[at + 1:]
    if adv_at == list(range(adv_at[0], adv_at[0] + len(adv_at))):
        return rest[:at] + adv_shape + rest[at:]
    return adv_shape + rest


def _numpy_index(idx, values) -> tuple:
    """The numpy index for `idx` given the run-time values of its inputs."""
    values = iter(values)

    def part(p):
        return int(next(values)) if p == SYM else p

    index = []
    for e in idx:
        if e[0] == "int":
            index.append(part(e[1]))
        elif e[0] == "slice":
            index.append(slice(*(part(p) for p in e[1:])))
        elif e[0] in ("none", "ellipsis"):
            index.append(None if e[0] == "none" else Ellipsis)
        else:
            index.append(next(values))
    return tuple(index)


# ---- subtensor and advanced_subtensor -----------------------------------------------------------
def _getitem_infer(op, types):
    if not types:
        raise type_error(op.name, "needs an input to index")
    if _is_advanced(op.idx) != (op.name == "advanced_subtensor"):
        raise type_error(op.name, f"index {op.idx} belongs to the other indexing op", *types)
    return [TensorType(types[0].dtype, _select(op.name, op.idx, types[0], types[1:]))]


def _getitem_perform(op, x, *values):
    return (np.asarray(x[_numpy_index(op.idx, values)]),)


def _getitem_grad(op, inputs, outputs, gouts):
    x, index_inputs = inputs[0], inputs[1:]
    gx = make_node(Op("inc_subtensor", idx=op.idx), [zeros_like(x), gouts[0], *index_inputs]).outputs[0]
    return [float_grad(x, gx)] + [None] * len(index_inputs)


register("subtensor", OpRule(
    infer=_getitem_infer, perform=_getitem_perform, grad=_getitem_grad, view_map={0: 0},
))
register("advanced_subtensor", OpRule(infer=_getitem_infer, perform=_getitem_perform, grad=_getitem_grad))


def getitem(x, index):
    """x[index] with numpy's meaning: integers (negative count from the end), slices, None, Ellipsis,
    integer arrays and boolean masks; integers and slice bounds may be symbolic integer scalars."""
    x = as_tensor_variable(x)
    idx, inputs = _parse(x, index)
    name = "advanced_subtensor" if _is_advanced(idx) else "subtensor"
    return apply(Op(name, idx=idx), x, *inputs)


# ---- set_subtensor and inc_subtensor -------------------------------------------------------------
def _setitem_infer(op, types):
    if len(types) < 2:
        raise type_error(op.name, "takes x, the value and the index inputs", *types)
    x, v = types[0], types[1]
    selected = _select(op.name, op.idx, x, types[2:])
    if v.ndim > len(selected):
        raise type_error(op.name, f"the value has {v.ndim} dimensions, more than the {len(selected)} of the "
                         "selection", *types)
    for vs, ss in zip(v.shape[::-1], selected[::-1]):
        if vs is not None and vs != 1 and ss is not None and vs != ss:
            shown = tuple("?" if s is None else s for s in selected)
            raise value_error(op.name, f"cannot broadcast a value of static shape {v.shape} to the selection "
                              f"of static shape {shown}", *types)
    if op.name == "inc_subtensor" and not np.can_cast(v.dtype, x.dtype, "same_kind"):
        raise type_error(op.name, f"cannot add {v.dtype} values to a {x.dtype} tensor (numpy's same_kind "
                         "casting); cast the value first", *types)
    return [x]


def _set_perform(op, x, v, *values):
    out = x.copy()
    out[_numpy_index(op.idx, values)] = v  # numpy's assignment: casts, and the last of repeated indices wins
    return (out,)


def _inc_perform(op, x, v, *values):
    out = x.copy()
    index = _numpy_index(op.idx, values)
    if _is_advanced(op.idx):
        np.add.at(out, index, v)  # repeated indices accumulate
    else:
        view = out[index + (Ellipsis,)]  # a view, also when every entry is an integer
        np.add(view, v, out=view)
    return (out,)


def _selection(op, x, index_inputs):
    name = "advanced_subtensor" if _is_advanced(op.idx) else "subtensor"
    return make_node(Op(name, idx=op.idx), [x, *index_inputs]).outputs[0]


def _set_grad(op, inputs, outputs, gouts):
    (x, v, *index_inputs), gz = inputs, gouts[0]
    gx = make_node(Op("set_subtensor", idx=op.idx), [gz, constant(np.zeros((), gz.dtype)), *index_inputs])
    gv = float_grad(v, sum_to(_selection(op, gz, index_inputs), v.type)) if v.dtype != "bool" else None
    return [float_grad(x, gx.outputs[0]), gv] + [None] * len(index_inputs)


def _inc_grad(op, inputs, outputs, gouts):
    (x, v, *index_inputs), gz = inputs, gouts[0]
    gv = float_grad(v, sum_to(_selection(op, gz, index_inputs), v.type)) if v.dtype != "bool" else None
    return [float_grad(x, gz), gv] + [None] * len(index_inputs)


register("set_subtensor", OpRule(infer=_setitem_infer, perform=_set_perform, grad=_set_grad))
register("inc_subtensor", OpRule(infer=_setitem_infer, perform=_inc_perform, grad=_inc_grad))


def _rebuild(op_name: str, selection, value):
    selection = as_tensor_variable(selection)
    node = selection.owner
    if node is None or node.op.name not in ("subtensor", "advanced_subtensor"):
        raise type_error(op_name, f"the first argument must be the result of indexing, x[...], got {selection!r}",
                         selection.type)
    x, index_inputs = node.inputs[0], node.inputs[1:]
    if is_python_scalar(value) and weak_result_type([x.dtype], [value]) == x.dtype:
        value = constant(python_scalar_array(value, x.dtype, op_name))  # a Python number takes x's dtype (NEP 50)
    return make_node(Op(op_name, idx=node.op.idx), [x, as_tensor_variable(value), *index_inputs]).outputs[0]


def set_subtensor(selection, value):
    """Theano's set_subtensor(x[index], v): a new array equal to x with x[index] = v (numpy's assignment)."""
    return _rebuild("set_subtensor", selection, value)


def inc_subtensor(selection, value):
    """Theano's inc_subtensor(x[index], v): a new array equal to x with v added to x[index]; repeated array
    indices accumulate (np.add.at)."""
    return _rebuild("inc_subtensor", selection, value)

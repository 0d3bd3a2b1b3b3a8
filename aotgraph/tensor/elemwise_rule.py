"""The elementwise-op mechanism: numpy broadcasting, numpy type promotion, one registration call per op.

An elementwise op is registered with `elemwise(name, fn, nin, grad=...)`. Its
output dtype is what numpy's own `fn` gives for the input dtypes (so promotion
is numpy's by construction), except that float16 results become float32: like
Theano, aotgraph does not compute in half precision.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aotgraph.graph.basic import Op, Variable
from aotgraph.graph.rules import RULES, OpRule, make_node, register
from aotgraph.tensor.basic import (
    as_tensor_variable,
    constant,
    is_python_scalar,
    python_scalar_array,
    type_error,
    weak_result_type,
)
from aotgraph.tensor.type import TensorType


@dataclass(frozen=True)
class ElemwiseInfo:
    """What fusion and code generation need to know about an elementwise op: read by passes and backends,
    so that no other module keeps a list of op names."""

    nin: int
    fn: Callable  # the numpy reference on arrays
    params: tuple = ()  # names of op parameters passed to fn as keywords (e.g. cast's dtype)
    # costs tens of cycles per element: fusion recomputes it per element of a larger loop only when hoisted
    expensive: bool = False
    # the C math library function computing it on floats (float64's name; float32's adds "f"), if one does
    c_function: str = ""
    # loops computing it call math functions that have vector variants (glibc's libmvec): the loop emitter
    # arranges such loops so that gcc vectorizes them, and the C function's vector variant is declared
    vector_math: bool = False


_VALUE_BASED = int(np.__version__.split(".")[0]) < 2  # numpy 1.x: legacy value-based promotion of 0-d arrays


@functools.cache
def numpy_dtype(name: str, in_dtypes: tuple[str, ...], params: tuple = ()) -> str:
    """The dtype numpy itself gives elementwise op `name` on inputs of `in_dtypes` (may be float16)."""
    info = RULES[name].elemwise
    samples = [np.ones((), dtype=d) for d in in_dtypes]
    with np.errstate(all="ignore"):
        return np.asarray(info.fn(*samples, **dict(params))).dtype.name


def output_dtype(name: str, in_dtypes: tuple[str, ...], params: tuple = ()) -> str:
    """numpy's result dtype of elementwise op `name` on inputs of `in_dtypes`, float16 raised to float32."""
    dtype = numpy_dtype(name, in_dtypes, params)
    return "float32" if dtype == "float16" else dtype


def broadcast_shapes(name: str, types: list[TensorType]) -> tuple[int | None, ...]:
    """numpy broadcasting of static shapes; known sizes that cannot match raise TypeError."""
    ndim = max(t.ndim for t in types)
    padded = [(1,) * (ndim - t.ndim) + t.shape for t in types]
    shape = []
    for axis, sizes in enumerate(zip(*padded)):
        known = {s for s in sizes if s is not None and s != 1}
        if len(known) > 1:
            raise type_error(name, f"shapes cannot broadcast (axis {axis} has sizes {sorted(known)})", *types)
        if known:
            shape.append(known.pop())
        elif all(s == 1 for s in sizes):
            shape.append(1)
        else:
            shape.append(None)
    return tuple(shape)


def _infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    info = _info(op)
    if len(types) != info.nin:
        raise type_error(op.name, f"takes {info.nin} inputs, got {len(types)}", *types)
    shape = broadcast_shapes(op.name, types)
    try:
        dtype = output_dtype(op.name, tuple(t.dtype for t in types), _params(op, info))
    except (TypeError, ValueError) as err:
        raise type_error(op.name, f"not defined for these dtypes ({err})", *types) from None
    return [TensorType(dtype, shape)]


def _perform(op: Op, *arrays):
    info = _info(op)
    params = _params(op, info)
    dtypes = tuple(a.dtype.name for a in arrays)
    if _VALUE_BASED and any(a.ndim == 0 for a in arrays) and any(a.ndim > 0 for a in arrays):
        # numpy < 2 types a 0-d operand by its value next to arrays (int64 100 + int8 vector -> int8, wrapping);
        # a 1-element vector broadcasts the same way and is typed by its dtype, as numpy 2 does (NEP 50)
        arrays = [a.reshape(1) if a.ndim == 0 else a for a in arrays]
    if numpy_dtype(op.name, dtypes, params) == "float16":  # compute in float32, the type we promise
        arrays = [a.astype(np.float32) if a.dtype.kind in "biu" else a for a in arrays]
    out = info.fn(*arrays, **dict(params))
    return (np.asarray(out, dtype=output_dtype(op.name, dtypes, params)),)


def _info(op: Op) -> ElemwiseInfo:
    return RULES[op.name].elemwise


def _params(op: Op, info: ElemwiseInfo) -> tuple:
    return tuple((k, op.params[k]) for k in info.params)


def elemwise(name: str, fn: Callable, nin: int, grad: Callable | None = None, params: tuple = (), *,
             expensive: bool = False, c_function: str = "", vector_math: bool = False):
    """Register elementwise op `name` and return the user-facing function that builds it.

    A `c_function` with `vector_math` is one of the C library's vectorizable functions: expensive by nature.
    """
    info = ElemwiseInfo(nin, fn, params, expensive or vector_math, c_function, vector_math)
    register(name, OpRule(infer=_infer, perform=_perform, grad=grad, elemwise=info))

    def build(*inputs, **op_params):
        if len(inputs) != nin:
            raise TypeError(f"{name} takes {nin} arguments, got {len(inputs)}")
        return make_node(Op(name, **op_params), promote_python_scalars(name, inputs)).outputs[0]

    build.__name__ = name
    build.__doc__ = f"Elementwise {name}, with numpy's broadcasting and dtype promotion."
    return build


def promote_python_scalars(name: str, inputs) -> list[Variable]:
    """Python numbers take the dtype numpy would give them next to the tensor operands (NEP 50)."""
    strong = [as_tensor_variable(x) for x in inputs if not is_python_scalar(x)]
    if not strong:
        return [as_tensor_variable(x) for x in inputs]
    weak = [x for x in inputs if is_python_scalar(x)]
    if not weak:
        return strong
    target = weak_result_type([v.dtype for v in strong], weak).name
    result = []
    for x in inputs:
        if not is_python_scalar(x):
            result.append(as_tensor_variable(x))
            continue
        dtype = target if np.dtype(target).kind != "b" or isinstance(x, bool) else None
        value = python_scalar_array(x, dtype, name)
        weak = constant(value)
        weak.python_scalar = x  # lets a rebuild with other operand types re-promote it
        result.append(weak)
    return result

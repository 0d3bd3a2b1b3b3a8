"""Products with numpy's semantics: matmul (`@`), dot and outer.

Ops defined here:

- `matmul{trans_a, trans_b}(a, b)`: numpy.matmul, batched over leading dimensions with numpy
  broadcasting; 1-d operands are promoted and the added dimension removed again. `trans_a` /
  `trans_b` swap the last two axes of an operand first (like BLAS gemm's transA/transB); the
  gradients use them, users never need to. They are only allowed when both operands are >= 2-d.
- `outer(a, b)`: numpy.outer of two vectors.

`dot` is numpy.dot for operands of rank 0, 1 and 2: multiplication when one is 0-d, else matmul
(numpy.dot and numpy.matmul agree on these ranks).
"""

from __future__ import annotations

import functools

import numpy as np

from aotgraph.graph.basic import Op, Variable
from aotgraph.graph.rules import OpRule, register
from aotgraph.tensor.basic import apply, as_tensor_variable, type_error
from aotgraph.tensor.elemwise_rule import broadcast_shapes
from aotgraph.tensor.math import mul
from aotgraph.tensor.reduction import sum, sum_to, unreduce
from aotgraph.tensor.type import TensorType

_FNS = {"matmul": np.matmul, "outer": np.outer}


@functools.cache
def product_dtype(name: str, a_dtype: str, b_dtype: str) -> str:
    """numpy's result dtype of product `name` (matmul or outer) for operand dtypes (float16 -> float32)."""
    sample = (1, 1) if name == "matmul" else (1,)
    out = _FNS[name](np.ones(sample, a_dtype), np.ones(sample, b_dtype)).dtype.name
    return "float32" if out == "float16" else out


def _dtype(name: str, a: TensorType, b: TensorType) -> str:
    try:
        return product_dtype(name, a.dtype, b.dtype)
    except TypeError as err:
        raise type_error(name, f"not defined for these dtypes ({err})", a, b) from None


# ---- matmul -----------------------------------------------------------------------------------------


def matmul_shape(name: str, a: TensorType, b: TensorType, trans_a=False, trans_b=False) -> tuple:
    """Static output shape of numpy.matmul; refuses 0-d operands and known inner sizes that differ."""
    if a.ndim == 0 or b.ndim == 0:
        raise type_error(name, "operands must be at least 1-d (use mul to scale by a scalar)", a, b)
    if (trans_a or trans_b) and (a.ndim < 2 or b.ndim < 2):
        raise type_error(name, "trans_a/trans_b need two operands of rank >= 2", a, b)
    a_shape = _swap_last(a.shape) if trans_a else a.shape
    b_shape = _swap_last(b.shape) if trans_b else b.shape
    a_rows = a_shape[-2:-1] if a.ndim > 1 else ()
    b_cols = b_shape[-1:] if b.ndim > 1 else ()
    inner_a, inner_b = a_shape[-1], b_shape[-2] if b.ndim > 1 else b_shape[0]
    if inner_a is not None and inner_b is not None and inner_a != inner_b:
        raise type_error(name, f"inner dimensions differ ({inner_a} and {inner_b})", a, b)
    try:
        batch = broadcast_shapes(name, [TensorType(a.dtype, a_shape[:-2]), TensorType(b.dtype, b_shape[:-2])])
    except TypeError:
        raise type_error(name, "batch dimensions cannot broadcast", a, b) from None
    return batch + a_rows + b_cols


def _swap_last(shape: tuple) -> tuple:
    return shape[:-2] + (shape[-1], shape[-2])


def _matmul_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    if len(types) != 2:
        raise type_error(op.name, f"takes 2 inputs, got {len(types)}", *types)
    a, b = types
    shape = matmul_shape(op.name, a, b, op.trans_a, op.trans_b)
    return [TensorType(_dtype("matmul", a, b), shape)]


def _matmul_perform(op: Op, a, b):
    dtype = product_dtype("matmul", a.dtype.name, b.dtype.name)
    a = np.swapaxes(a, -1, -2) if op.trans_a else a
    b = np.swapaxes(b, -1, -2) if op.trans_b else b
    return (np.asarray(np.matmul(a, b), dtype=dtype),)


def _matmul_grad(op: Op, inputs, outputs, gouts):
    (a, b), (gz,) = inputs, gouts
    if a.ndim == 1 or b.ndim == 1:
        ga, gb = _vector_grads(a, b, gz)
    else:
        ta, tb = op.trans_a, op.trans_b
        # z = A @ B with A = a or a^T, B = b or b^T: dA = gz @ B^T and dB = A^T @ gz, transposed back.
        ga = _matmul(gz, b, trans_b=not tb) if not ta else _matmul(b, gz, trans_a=tb, trans_b=True)
        gb = _matmul(a, gz, trans_a=not ta) if not tb else _matmul(gz, a, trans_a=True, trans_b=ta)
    return [sum_to(ga, a.type.shape), sum_to(gb, b.type.shape)]


def _vector_grads(a, b, gz):
    """Gradients of matmul when an operand is 1-d (never transposed)."""
    if a.ndim == 1 and b.ndim == 1:  # inner product: gz is 0-d
        return mul(gz, b), mul(gz, a)
    if a.ndim == 1:  # (k,) @ (..., k, n) -> (..., n)
        if b.ndim == 2:
            return _matmul(b, gz), outer(a, gz)
        last = b.ndim - 1
        gz_full = unreduce(gz, b, (last - 1,))
        return sum(gz_full * b, (*range(last - 1), last)), gz_full * unreduce(a, b, (*range(last - 1), last))
    # (..., m, k) @ (k,) -> (..., m)
    if a.ndim == 2:
        return outer(gz, b), _matmul(gz, a)
    last = a.ndim - 1
    gz_full = unreduce(gz, a, (last,))
    return gz_full * unreduce(b, a, tuple(range(last))), sum(gz_full * a, tuple(range(last)))


register("matmul", OpRule(infer=_matmul_infer, perform=_matmul_perform, grad=_matmul_grad))


def _matmul(a, b, trans_a=False, trans_b=False) -> Variable:
    return apply(Op("matmul", trans_a=bool(trans_a), trans_b=bool(trans_b)), a, b)


def matmul(a, b) -> Variable:
    """numpy.matmul (`a @ b`): matrix product, batched over broadcast leading dimensions; 0-d refused."""
    return _matmul(a, b)


# ---- outer ----------------------------------------------------------------------------------------


def _outer_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    if len(types) != 2 or any(t.ndim != 1 for t in types):
        raise type_error(op.name, "takes two vectors (1-d operands)", *types)
    a, b = types
    return [TensorType(_dtype("outer", a, b), (a.shape[0], b.shape[0]))]


def _outer_perform(op: Op, a, b):
    return (np.asarray(np.outer(a, b), dtype=product_dtype("outer", a.dtype.name, b.dtype.name)),)


def _outer_grad(op: Op, inputs, outputs, gouts):
    (a, b), (gz,) = inputs, gouts
    return [_matmul(gz, b), _matmul(a, gz)]


register("outer", OpRule(infer=_outer_infer, perform=_outer_perform, grad=_outer_grad))


def outer(a, b) -> Variable:
    """numpy.outer of two vectors: out[i, j] = a[i] * b[j]."""
    return apply(Op("outer"), a, b)


# ---- dot --------------------------------------------------------------------------------------------


def dot(a, b) -> Variable:
    """numpy.dot for operands of rank 0, 1 or 2 (higher ranks are refused: use matmul for batches)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim > 2 or b.ndim > 2:
        raise type_error("dot", "supports operands of rank 0, 1 and 2; use matmul for batched products",
                         a.type, b.type)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    matmul_shape("dot", a.type, b.type)  # errors name dot, not matmul
    return _matmul(a, b)

"""Convolution + max-pooling (+ an elementwise epilogue) as one op, and its gradient: what the `window_fuse`
rewrite makes of `act(pool_2d(conv2d(x, w)) + b)` so that the compiled backend never stores the convolution's
full-size output (it pools each cache-sized chunk right after its matmul).

Ops defined here (infer and numpy reference; no gradient: the rewrite runs after gradients are built):

- `conv2d_pool{conv params, ws, stride, expr, masked}(x, w, *extras)` -> (out, mask): `pooled = pool(conv2d(x, w))`
  (max, no padding, ignore_border, windows that do not overlap), `out = expr(pooled, *extras)` (a
  `ScalarProgram` over i0 = pooled and the extras, each broadcasting to the pooled shape; None: out = pooled),
  and `mask` (uint8, the pooled shape): bit `i * ws[1] + j` set where window element (i, j) equals the
  window's max, which is exactly where Theano's max-pool gradient sends the window's gradient (only when
  `masked`: else out alone). With ws = stride = (1, 1) the pooling is the identity: conv2d + its epilogue;
- `conv2d_pool_grad{conv params, ws, stride, wrt, expr, bias}(x, w, mask, *extras)`: the gradients of the
  convolution with respect to its input and/or filters (`wrt`: a tuple of 'inputs', 'filters', in that order),
  given the gradient `gz` of the pooled values: max_pool_grad routed by `mask`, then conv2d_grad_inputs /
  _filters. `gz = expr(*extras)` (a `ScalarProgram` over i0, i1, ... = the extras, each broadcasting to the
  pooled shape: the elementwise step that made it, e.g. `r * (1 - out**2)` through tanh), or with `expr`
  None the one extra itself. With `bias`, one more output: `gz.sum(axis=(0, 2, 3), keepdims=True)` (the
  bias gradient), so that neither that sum nor gz is a pass over memory of its own.
"""

from __future__ import annotations

import numpy as np

from aotgraph.graph.basic import Op
from aotgraph.graph.rules import OpRule, register, rule_of
from aotgraph.tensor.basic import type_error
from aotgraph.tensor.conv import geometry
from aotgraph.tensor.fused import evaluate_program, stmt_types
from aotgraph.tensor.type import TensorType

__all__ = ["CONV_PARAMS", "MAX_MASK_BITS", "conv_of", "pool_of"]

CONV_PARAMS = ("border", "subsample", "flip", "dilation", "groups")
MAX_MASK_BITS = 8  # window elements a uint8 mask can mark


def conv_of(op: Op) -> Op:
    """The conv2d op a fused op stands for."""
    return Op("conv2d", **{k: op.params[k] for k in CONV_PARAMS})


def pool_of(op: Op) -> Op:
    """The pool op a fused op stands for."""
    return Op("pool", ws=op.ws, stride=op.stride, pad=(0, 0), ignore_border=True, mode="max")


def _pooled_type(op: Op, x: TensorType, w: TensorType) -> TensorType:
    (conv_type,) = rule_of(conv_of(op)).infer(conv_of(op), [x, w])
    (pooled,) = rule_of(pool_of(op)).infer(pool_of(op), [conv_type])
    return pooled


def _forward_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    if len(types) < 2:
        raise type_error(op.name, f"takes the input, the filters and the epilogue's inputs, got {len(types)}", *types)
    pooled = _pooled_type(op, types[0], types[1])
    out = pooled
    if op.expr is not None:
        (out,) = [stmt_types(op.expr, [pooled, *types[2:]])[r] for r in op.expr.outputs]
    return [out, TensorType("uint8", pooled.shape)] if op.masked else [out]


def _windows(op: Op, z: np.ndarray, pooled_shape: tuple) -> np.ndarray:
    """A view (..., rows, cols, ws0, ws1) of the windows of z (they do not overlap: stride >= ws)."""
    oh, ow = pooled_shape[-2:]
    s = z.strides
    return np.lib.stride_tricks.as_strided(z, z.shape[:2] + (oh, ow) + tuple(op.ws),
                                           s[:2] + (s[2] * op.stride[0], s[3] * op.stride[1], s[2], s[3]),
                                           writeable=False)


def _forward_perform(op: Op, x, w, *extras):
    (z,) = rule_of(conv_of(op)).perform(conv_of(op), x, w)
    (pooled,) = rule_of(pool_of(op)).perform(pool_of(op), z)
    hits = _windows(op, z, pooled.shape) == pooled[..., None, None]
    bits = (1 << np.arange(op.ws[0] * op.ws[1], dtype=np.uint32)).reshape(op.ws)
    mask = (hits * bits).sum(axis=(-2, -1)).astype(np.uint8)
    out = pooled if op.expr is None else np.asarray(evaluate_program(op.expr, [pooled, *extras])[op.expr.outputs[0]])
    return (out, mask) if op.masked else (out,)


register("conv2d_pool", OpRule(infer=_forward_infer, perform=_forward_perform))


def _grad_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    n_extra = 1 if op.expr is None else len(op.expr.in_types)
    if len(types) != 3 + n_extra:
        raise type_error(op.name, f"takes {3 + n_extra} inputs (input, filters, mask, then the pooled gradient or "
                                  f"its expression's inputs), got {len(types)}", *types)
    x, w = types[:2]
    pooled = _pooled_type(op, x, w)
    dtype = pooled.dtype
    out = {"inputs": TensorType(dtype, x.shape), "filters": TensorType(dtype, w.shape)}
    results = [out[k] for k in op.wrt]
    if op.bias:
        results.append(TensorType(dtype, (1, _gz_type(op, types).shape[1], 1, 1)))
    return results


def _gz_type(op: Op, types: list[TensorType]) -> TensorType:
    if op.expr is None:
        return types[3]
    return stmt_types(op.expr, types[3:])[op.expr.outputs[0]]


def conv_gradient(op: Op, mask: np.ndarray, gz: np.ndarray, conv_shape: tuple) -> np.ndarray:
    """The gradient of the convolution's output: each window's gradient at the elements its mask marks."""
    g = np.zeros(conv_shape, gz.dtype)
    oh, ow = gz.shape[-2:]
    for i in range(op.ws[0]):
        for j in range(op.ws[1]):
            hit = (mask >> (i * op.ws[1] + j)) & 1
            g[:, :, i:i + op.stride[0] * (oh - 1) + 1:op.stride[0], j:j + op.stride[1] * (ow - 1) + 1:op.stride[1]] \
                = np.where(hit, gz, 0)
    return g


def _grad_perform(op: Op, x, w, mask, *extras):
    _, out = geometry(conv_of(op), x.shape, w.shape)
    z_shape = (x.shape[0], w.shape[0], *out)
    dtype = np.result_type(x.dtype, w.dtype)
    gz = extras[0] if op.expr is None else evaluate_program(op.expr, extras)[op.expr.outputs[0]]
    gz = np.broadcast_to(np.asarray(gz, dtype), mask.shape)
    g = conv_gradient(op, mask, gz, z_shape)
    conv = conv_of(op)
    results = []
    for k in op.wrt:
        if k == "inputs":
            sibling = Op("conv2d_grad_inputs", **conv.params)
            results.append(rule_of(sibling).perform(sibling, w, g, x)[0])
        else:
            sibling = Op("conv2d_grad_filters", **conv.params)
            results.append(rule_of(sibling).perform(sibling, x, g, w)[0])
    if op.bias:
        results.append(gz.sum(axis=(0, 2, 3), keepdims=True))
    return tuple(results)


register("conv2d_pool_grad", OpRule(infer=_grad_infer, perform=_grad_perform))

"""Pooling over the last two axes, with Theano's semantics (`theano.tensor.signal.pool.pool_2d`).

Ops defined here (each with infer, numpy reference and gradient):

- `pool{ws, stride, pad, ignore_border, mode}(x)`: max, sum or average of each window;
- `max_pool_grad{...}(x, z, gz)`: z = pool(x); like Theano's MaxPoolGrad, every element of a window
  equal to the window's max receives the window's gradient;
- `average_pool_grad{...}(x, gz)` for 'sum', 'average_inc_pad' and 'average_exc_pad' (x gives its shape);
- `max_pool_grad_grad{...}(x, z, ggx)`: the gradient of max_pool_grad (Theano's DownsampleFactorMaxGradGrad):
  max_pool_grad is linear in gz and piecewise constant in x and z, so its gradient with respect to gz is
  its transpose, each window's sum of ggx over the elements equal to the window's max (0 for x and z).

As in Theano, 'max' and 'sum' never count the padding; 'average_inc_pad' divides by the window's size
including padding, 'average_exc_pad' by the number of input elements it covers. With
ignore_border=False, windows cut by the bottom or right border are kept (and padding is refused).
The numpy reference pads the input (with -inf for max, 0 otherwise) and reduces a strided view of
its windows.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided

from aotgraph.graph.basic import Op, Variable
from aotgraph.graph.rules import OpRule, register
from aotgraph.tensor.basic import apply, as_tensor_variable, type_error
from aotgraph.tensor.type import TensorType

__all__ = ["pool_2d", "MODES"]

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


# ---- geometry ---------------------------------------------------------------------------------------


# Plain Python only in these two (and no negative index): codegen copies their source into built modules.


def pool_output_size(size, ws, stride, pad, ignore_border):
    """Theano's Pool.out_shape along one spatial axis."""
    size += 2 * pad
    if ignore_border:
        return size // stride if ws == stride else max((size - ws) // stride + 1, 0)
    if stride >= ws:
        return (size - 1) // stride + 1
    return max(0, (size - 1 - ws) // stride + 1) + 1


def pool_check_pooled(name, x_shape, pooled_shape, ws, stride, pad, ignore_border):
    """Refuse pooled values (the pool's output or its gradient) whose shape does not fit the input's."""
    lead = len(x_shape) - 2  # no negative indices: built modules index tuples without wraparound
    want = tuple(x_shape[:lead]) + tuple(pool_output_size(x_shape[lead + a], ws[a], stride[a], pad[a], ignore_border)
                                         for a in (0, 1))
    if tuple(pooled_shape) != want:
        raise ValueError(f"{name}: expected pooled values of shape {want} for an input of shape {tuple(x_shape)}, "
                         f"got {tuple(pooled_shape)}")


GEOMETRY_FUNCTIONS = (pool_output_size, pool_check_pooled)


def output_size(size: int, axis: int, op: Op) -> int:
    return pool_output_size(size, op.ws[axis], op.stride[axis], op.pad[axis], op.ignore_border)


def _out_shape(op: Op, shape: tuple) -> tuple:
    spatial = tuple(None if s is None else output_size(s, a, op) for a, s in enumerate(shape[-2:]))
    return shape[:-2] + spatial


def _check_input(op_name: str, x: TensorType, *others: TensorType) -> None:
    if x.ndim < 2:
        raise type_error(op_name, "pools the last two axes: the input must be at least 2-d", x, *others)
    if x.dtype not in ("float32", "float64"):
        raise type_error(op_name, "takes a float32 or float64 input", x, *others)


def _windows(op: Op, x: np.ndarray, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """(the input padded with `fill` to cover every window, a read-only view (..., rows, cols, ws0, ws1))."""
    rows, cols = (output_size(x.shape[-2 + a], a, op) for a in (0, 1))
    need = [max((n - 1) * op.stride[a] + op.ws[a], x.shape[-2 + a] + op.pad[a]) if n > 0 else x.shape[-2 + a]
            for a, n in enumerate((rows, cols))]
    y = np.full(x.shape[:-2] + tuple(need), fill, x.dtype)
    y[..., op.pad[0]:op.pad[0] + x.shape[-2], op.pad[1]:op.pad[1] + x.shape[-1]] = x
    sr, sc = y.strides[-2:]
    view = as_strided(y, y.shape[:-2] + (rows, cols) + op.ws,
                      y.strides[:-2] + (sr * op.stride[0], sc * op.stride[1], sr, sc), writeable=False)
    return y, view


def window_counts(op: Op, shape: tuple) -> np.ndarray:
    """(rows, cols) array: how many elements each window averages over (its mode's rule)."""
    counts = []
    for a, size in enumerate(shape[-2:]):
        start = np.arange(output_size(size, a, op)) * op.stride[a]
        end = np.minimum(start + op.ws[a], size + 2 * op.pad[a])
        if op.mode == "average_exc_pad":
            start, end = np.maximum(start, op.pad[a]), np.minimum(end, size + op.pad[a])
        counts.append(end - start)
    return np.multiply.outer(*counts)


def _crop(op: Op, y: np.ndarray, shape: tuple) -> np.ndarray:
    return np.ascontiguousarray(y[..., op.pad[0]:op.pad[0] + shape[-2], op.pad[1]:op.pad[1] + shape[-1]])


def _spread(op: Op, gy: np.ndarray, r: int, c: int, values: np.ndarray) -> None:
    """gy[window element (r, c) of every window] += values (one per window)."""
    rows, cols = values.shape[-2:]
    gy[..., r:r + op.stride[0] * (rows - 1) + 1:op.stride[0], c:c + op.stride[1] * (cols - 1) + 1:op.stride[1]] \
        += values


# ---- pool ---------------------------------------------------------------------------------------------


def _pool_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    if len(types) != 1:
        raise type_error(op.name, f"takes 1 input, got {len(types)}", *types)
    _check_input(op.name, types[0])
    return [TensorType(types[0].dtype, _out_shape(op, types[0].shape))]


def _pool_perform(op: Op, x):
    if op.mode == "max":
        _, view = _windows(op, x, -np.inf)
        return (np.max(view, axis=(-2, -1)) if view.size else np.empty(view.shape[:-2], x.dtype),)
    _, view = _windows(op, x, 0)
    total = np.sum(view, axis=(-2, -1))
    if op.mode == "sum":
        return (total,)
    return ((total / window_counts(op, x.shape)).astype(x.dtype, copy=False),)


def _pool_grad(op: Op, inputs, outputs, gouts):
    (x,), (z,), (gz,) = inputs, outputs, gouts
    if op.mode == "max":
        return [apply(Op("max_pool_grad", **op.params), x, z, gz)]
    return [apply(Op("average_pool_grad", **op.params), x, gz)]


register("pool", OpRule(infer=_pool_infer, perform=_pool_perform, grad=_pool_grad))


# ---- gradients ------------------------------------------------------------------------------------------


def _grad_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    count = 3 if op.name == "max_pool_grad" else 2
    if len(types) != count:
        raise type_error(op.name, f"takes {count} inputs, got {len(types)}", *types)
    _check_input(op.name, *types)
    if any(t.ndim != types[0].ndim for t in types):
        raise type_error(op.name, "takes tensors of one rank", *types)
    return [TensorType(types[0].dtype, types[0].shape)]


def _check_pooled(op: Op, x, *pooled) -> None:
    for p in pooled:
        pool_check_pooled(op.name, x.shape, p.shape, op.ws, op.stride, op.pad, op.ignore_border)


def _max_grad_perform(op: Op, x, z, gz):
    _check_pooled(op, x, z, gz)
    y, view = _windows(op, x, -np.inf)
    gy = np.zeros(y.shape, x.dtype)
    for r in range(op.ws[0]):
        for c in range(op.ws[1]):
            _spread(op, gy, r, c, np.where(view[..., r, c] == z, gz, 0).astype(x.dtype, copy=False))
    return (_crop(op, gy, x.shape),)


def _average_grad_perform(op: Op, x, gz):
    _check_pooled(op, x, gz)
    y, _ = _windows(op, np.empty(x.shape, x.dtype), 0)
    gz = gz.astype(x.dtype, copy=False)
    share = gz if op.mode == "sum" else (gz / window_counts(op, x.shape)).astype(x.dtype, copy=False)
    gy = np.zeros(y.shape, x.dtype)
    for r in range(op.ws[0]):
        for c in range(op.ws[1]):
            _spread(op, gy, r, c, share)
    return (_crop(op, gy, x.shape),)


def _average_grad_grad(op: Op, inputs, outputs, gouts):
    # linear in gz: <G, A^T gz> = <A G, gz>, A the pooling itself
    (gg,) = gouts
    return [None, apply(Op("pool", **op.params), gg)]


def _max_grad_grad(op: Op, inputs, outputs, gouts):
    (x, z, _), (gg,) = inputs, gouts
    return [None, None, apply(Op("max_pool_grad_grad", **op.params), x, z, gg)]


def _max_grad_grad_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    if len(types) != 3:
        raise type_error(op.name, f"takes 3 inputs, got {len(types)}", *types)
    _check_input(op.name, *types)
    if any(t.ndim != types[0].ndim for t in types):
        raise type_error(op.name, "takes tensors of one rank", *types)
    return [TensorType(types[0].dtype, types[1].shape)]


def _max_grad_grad_perform(op: Op, x, z, gg):
    _check_pooled(op, x, z)
    if gg.shape != x.shape:
        raise ValueError(f"{op.name}: the input's gradient has shape {gg.shape}, the input {x.shape}")
    _, view = _windows(op, x, -np.inf)
    _, gview = _windows(op, gg.astype(x.dtype, copy=False), 0)
    out = np.zeros(z.shape, x.dtype)
    for r in range(op.ws[0]):  # the window's elements in row-major order, as the compiled loop adds them
        for c in range(op.ws[1]):
            out += np.where(view[..., r, c] == z, gview[..., r, c], 0)
    return (out,)


def _max_grad_grad_grad(op: Op, inputs, outputs, gouts):
    # linear in ggx: its transpose is max_pool_grad itself
    (x, z, _), (g,) = inputs, gouts
    return [None, None, apply(Op("max_pool_grad", **op.params), x, z, g)]


register("max_pool_grad", OpRule(infer=_grad_infer, perform=_max_grad_perform, grad=_max_grad_grad))
register("max_pool_grad_grad", OpRule(infer=_max_grad_grad_infer, perform=_max_grad_grad_perform,
                                      grad=_max_grad_grad_grad))
register("average_pool_grad", OpRule(infer=_grad_infer, perform=_average_grad_perform, grad=_average_grad_grad))


# ---- the user's function ----------------------------------------------------------------------------


def _pair(what: str, value, minimum: int) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in pair):
        raise TypeError(f"pool_2d: {what} must be a pair of ints, got {value!r}")
    if any(v < minimum for v in pair):
        raise ValueError(f"pool_2d: {what} must be {'positive' if minimum else 'non-negative'}, got {value!r}")
    return (int(pair[0]), int(pair[1]))


def pool_2d(input, ws=None, ignore_border: bool = True, stride=None, pad=(0, 0), mode: str = "max",
            ds=None, st=None, padding=None) -> Variable:
    """Theano's pool_2d: max, sum or average over windows `ws` of the last two axes, every `stride`.

    `ds`, `st` and `padding` are Theano's older names of `ws`, `stride` and `pad`.
    """
    ws, stride, pad = ws if ws is not None else ds, stride if stride is not None else st, \
        pad if padding is None else padding
    if ws is None:
        raise TypeError("pool_2d: ws (the window size) is required")
    input = as_tensor_variable(input)
    ws = _pair("ws", ws, 1)
    stride = ws if stride is None else _pair("stride", stride, 1)
    pad = _pair("pad", pad, 0)
    if mode not in MODES:
        raise ValueError(f"pool_2d: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if pad != (0, 0) and not ignore_border:
        raise ValueError("pool_2d: padding works only with ignore_border=True")
    if pad[0] >= ws[0] or pad[1] >= ws[1]:
        raise ValueError(f"pool_2d: each padding must be smaller than the window, got pad={pad}, ws={ws}")
    return apply(Op("pool", ws=ws, stride=stride, pad=pad, ignore_border=bool(ignore_border), mode=mode), input)

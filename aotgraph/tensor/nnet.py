"""Neural-network ops: softmax and log_softmax, each numerically stable (the max is subtracted first).

Also reachable as `at.nnet`, with Theano's aliases for the elementwise activations defined in math.py.
"""

from __future__ import annotations

import numbers

import numpy as np

from aotgraph.graph.basic import Op
from aotgraph.graph.rules import OpRule, register
from aotgraph.tensor.basic import apply, as_tensor_variable, type_error
from aotgraph.tensor.conv import conv2d  # noqa: F401 - Theano's theano.tensor.nnet.conv2d
from aotgraph.tensor.math import exp, relu, sigmoid, softplus  # noqa: F401 - Theano's at.nnet aliases
from aotgraph.tensor.shape_ops import float_grad, normalize_axis, sum_axes
from aotgraph.tensor.type import TensorType

__all__ = ["softmax", "log_softmax", "sigmoid", "softplus", "relu"]


def _float_dtype(dtype: str) -> str:
    """The float dtype numpy's exp gives for `dtype` (float16 becomes float32, as everywhere in aotgraph)."""
    name = np.result_type(dtype, np.float16).name
    return "float32" if name == "float16" else name


def _infer(op, types):
    if len(types) != 1:
        raise type_error(op.name, f"takes 1 input, got {len(types)}", *types)
    (x,) = types
    for a in op.axis:
        if not 0 <= a < x.ndim:
            raise type_error(op.name, f"axis {a} is out of range for a {x.ndim}-d input", x)
    return [TensorType(_float_dtype(x.dtype), x.shape)]


def _shifted(op, x):
    """x - max(x) over the op's axes, in the output dtype (None for an empty input: nothing to reduce)."""
    x = x.astype(_float_dtype(x.dtype.name), copy=False)
    if x.size == 0:
        return None
    return x - np.max(x, axis=op.axis, keepdims=True)


def _softmax_perform(op, x):
    s = _shifted(op, x)
    if s is None:
        return (np.empty(x.shape, _float_dtype(x.dtype.name)),)
    e = np.exp(s)
    return (e / np.sum(e, axis=op.axis, keepdims=True),)


def _log_softmax_perform(op, x):
    s = _shifted(op, x)
    if s is None:
        return (np.empty(x.shape, _float_dtype(x.dtype.name)),)
    return (s - np.log(np.sum(np.exp(s), axis=op.axis, keepdims=True)),)


def _softmax_grad(op, inputs, outputs, gouts):
    (x,), (y,), (gz,) = inputs, outputs, gouts
    return [float_grad(x, (gz - sum_axes(gz * y, op.axis, keepdims=True)) * y)]


def _log_softmax_grad(op, inputs, outputs, gouts):
    (x,), (y,), (gz,) = inputs, outputs, gouts
    return [float_grad(x, gz - exp(y) * sum_axes(gz, op.axis, keepdims=True))]


register("softmax", OpRule(infer=_infer, perform=_softmax_perform, grad=_softmax_grad))
register("log_softmax", OpRule(infer=_infer, perform=_log_softmax_perform, grad=_log_softmax_grad))


def _axes(op_name: str, x, axis) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(x.ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise type_error(op_name, f"axis must be an int, a tuple of ints or None, got {axis!r}", x.type)
    normalized = tuple(sorted(normalize_axis(op_name, a, x.ndim, x.type) for a in axes))
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{op_name}: repeated axis in {axis!r}")
    return normalized


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) over `axis` (an int, a tuple, or None for all axes), computed with the max subtracted."""
    x = as_tensor_variable(x)
    return apply(Op("softmax", axis=_axes("softmax", x, axis)), x)


def log_softmax(x, axis=-1):
    """log(softmax(x, axis)), computed as x - max - log(sum(exp(x - max)))."""
    x = as_tensor_variable(x)
    return apply(Op("log_softmax", axis=_axes("log_softmax", x, axis)), x)

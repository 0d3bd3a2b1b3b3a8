"""Neural-network ops: softmax and log_softmax, each numerically stable (the max is subtracted first).

Also reachable as `at.nnet`, with Theano's aliases for the elementwise activations defined in math.py.
"""

from __future__ import annotations

import numbers

import numpy as np

from aotgraph.graph.basic import Op
from aotgraph.graph.rules import OpRule, register
from aotgraph.tensor import math
from aotgraph.tensor.basic import apply, as_tensor_variable, type_error
from aotgraph.tensor.conv import conv2d  # noqa: F401 - Theano's theano.tensor.nnet.conv2d
from aotgraph.tensor.math import exp, sigmoid, softplus  # noqa: F401 - Theano's at.nnet aliases
from aotgraph.tensor.reduction import sum as reduce_sum
from aotgraph.tensor.shape_ops import arange, float_grad, is_int_dtype, normalize_axis, sum_axes
from aotgraph.tensor.type import TensorType

__all__ = [
    "softmax", "log_softmax", "logsoftmax", "sigmoid", "softplus", "relu", "softmax_with_bias",
    "categorical_crossentropy", "crossentropy_categorical_1hot", "crossentropy_softmax_1hot",
    "crossentropy_softmax_1hot_with_bias",
    "binary_crossentropy", "sigmoid_binary_crossentropy", "hard_sigmoid", "ultra_fast_sigmoid", "softsign", "elu",
    "selu",
]


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


logsoftmax = log_softmax  # Theano's name


# ---- Theano's nnet functions, composed from the ops above (their gradients follow) ----------------------------
def relu(x, alpha=0):
    """max(x, 0) (numpy's maximum, exactly); with `alpha`, x where x > 0 else alpha * x (a leaky relu)."""
    if isinstance(alpha, (int, float)) and alpha == 0:
        return math.relu(x)
    x = as_tensor_variable(x)
    return math.switch(math.gt(x, 0), x, alpha * x)


def softmax_with_bias(x, b):
    """softmax(x + b) over the last axis (`b` a vector added to each row)."""
    return softmax(math.add(x, b))


def _one_hot_row_entries(op_name: str, coding_dist, true_dist):
    """coding_dist[i, true_dist[i]] for each row i (true_dist an integer vector of class indices)."""
    if coding_dist.ndim != 2 or true_dist.ndim != 1:
        raise type_error(op_name, "with class indices, needs a matrix of probabilities and a vector of indices",
                         coding_dist.type, true_dist.type)
    if not is_int_dtype(true_dist.dtype):
        raise type_error(op_name, "class indices must be integers", coding_dist.type, true_dist.type)
    return coding_dist[arange(coding_dist.shape[0]), true_dist]


def categorical_crossentropy(coding_dist, true_dist):
    """-sum(true_dist * log(coding_dist)) over the last axis, per row (Theano's).

    `true_dist` is a distribution like `coding_dist` (one-hot rows, say), or an integer vector of class
    indices: then the result is -log(coding_dist[i, true_dist[i]]).
    """
    coding_dist, true_dist = as_tensor_variable(coding_dist), as_tensor_variable(true_dist)
    if true_dist.ndim == coding_dist.ndim:
        return math.neg(reduce_sum(math.mul(true_dist, math.log(coding_dist)), axis=coding_dist.ndim - 1))
    if true_dist.ndim == coding_dist.ndim - 1:
        return math.neg(math.log(_one_hot_row_entries("categorical_crossentropy", coding_dist, true_dist)))
    raise type_error("categorical_crossentropy", "true_dist must have the rank of coding_dist or one less",
                     coding_dist.type, true_dist.type)


def crossentropy_categorical_1hot(coding_dist, true_one_of_n):
    """-log(coding_dist[i, true_one_of_n[i]]) per row (class indices)."""
    coding_dist, true_one_of_n = as_tensor_variable(coding_dist), as_tensor_variable(true_one_of_n)
    return math.neg(math.log(_one_hot_row_entries("crossentropy_categorical_1hot", coding_dist, true_one_of_n)))


def crossentropy_softmax_1hot_with_bias(x, b, y_idx):
    """(the cross-entropy of softmax(x + b) against the classes y_idx, per row; softmax(x + b)), computed
    with log_softmax (stable for large x)."""
    z = math.add(as_tensor_variable(x), b)
    y_idx = as_tensor_variable(y_idx)
    nll = math.neg(_one_hot_row_entries("crossentropy_softmax_1hot", log_softmax(z), y_idx))
    return nll, softmax(z)


def crossentropy_softmax_1hot(x, y_idx):
    """crossentropy_softmax_1hot_with_bias with no bias."""
    return crossentropy_softmax_1hot_with_bias(x, 0, y_idx)


def binary_crossentropy(output, target):
    """-(target * log(output) + (1 - target) * log(1 - output)), elementwise (output a probability)."""
    output, target = as_tensor_variable(output), as_tensor_variable(target)
    return math.neg(math.add(math.mul(target, math.log(output)),
                             math.mul(math.sub(1, target), math.log(math.sub(1, output)))))


def sigmoid_binary_crossentropy(output, target):
    """binary_crossentropy(sigmoid(output), target) computed stably from the logits `output`:
    softplus(-|output|) + output * ((output > 0) - target)."""
    output, target = as_tensor_variable(output), as_tensor_variable(target)
    positive = math.cast(math.gt(output, 0), output.dtype)
    return math.add(softplus(math.neg(math.abs(output))), math.mul(output, math.sub(positive, target)))


def hard_sigmoid(x):
    """clip(0.2 * x + 0.5, 0, 1): Theano's piecewise-linear sigmoid."""
    return math.clip(math.add(math.mul(as_tensor_variable(x), 0.2), 0.5), 0, 1)


def ultra_fast_sigmoid(x):
    """The sigmoid. Theano's version is an approximation (error ~2e-2) for speed; the exact one costs about
    the same in a compiled loop, so this is `sigmoid` itself."""
    return sigmoid(x)


def softsign(x):
    """x / (1 + |x|)."""
    x = as_tensor_variable(x)
    return math.true_div(x, math.add(1, math.abs(x)))


def elu(x, alpha=1.0):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    x = as_tensor_variable(x)
    return math.switch(math.gt(x, 0), x, math.mul(alpha, math.expm1(x)))


def selu(x):
    """The scaled elu of Klambauer et al. (2017): scale * elu(x, alpha) with their constants."""
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return math.mul(scale, elu(x, alpha))

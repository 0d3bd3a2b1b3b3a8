"""Elementwise math: one registration per op, its numpy reference and its gradient side by side.

A gradient rule gets (op, inputs, outputs, output_grads) and returns one
gradient per input with the *output's* shape; `gradient.py` sums it back over
broadcast dimensions and drops gradients of integer inputs.
"""

from __future__ import annotations

import math as _pymath

import numpy as np

from aotgraph.tensor.basic import as_tensor_variable
from aotgraph.tensor.elemwise_rule import elemwise
from aotgraph.tensor.type import normalize_dtype


def _g(fn):
    """Adapt a rule written as fn(inputs..., output, output_grad) to the table's signature."""
    return lambda op, inputs, outputs, gouts: fn(*inputs, outputs[0], gouts[0])


def _sigmoid_np(x):
    x = np.asarray(x)
    x = x.astype(np.result_type(x.dtype, np.float16), copy=False)  # in float: -x of an unsigned int wraps
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _softplus_np(x):
    return np.logaddexp(np.zeros((), np.result_type(np.asarray(x).dtype, np.float16)), x)


def _erf_np(x):
    x = np.asarray(x)
    out = np.vectorize(_pymath.erf, otypes=[np.float64])(x) if x.size else np.zeros(x.shape)
    return out.astype(np.result_type(x.dtype, np.float16), copy=False)


def _sign_np(x):
    return np.sign(x) if np.asarray(x).dtype.kind != "b" else np.asarray(x).copy()


def _cast_np(x, dtype):
    return np.asarray(x).astype(dtype)


# ---- arithmetic -------------------------------------------------------------------------------
add = elemwise("add", np.add, 2, _g(lambda x, y, z, gz: [gz, gz]))
sub = elemwise("sub", np.subtract, 2, _g(lambda x, y, z, gz: [gz, -gz]))
mul = elemwise("mul", np.multiply, 2, _g(lambda x, y, z, gz: [gz * y, gz * x]))
true_div = elemwise("true_div", np.true_divide, 2, _g(lambda x, y, z, gz: [gz / y, -gz * z / y]))
floor_div = elemwise("floor_div", np.floor_divide, 2, _g(lambda x, y, z, gz: [None, None]))
mod = elemwise("mod", np.remainder, 2, _g(lambda x, y, z, gz: [gz, -gz * floor_div(x, y)]))
pow = elemwise(
    "pow", np.power, 2,
    _g(lambda x, y, z, gz: [gz * y * pow(x, y - 1), gz * z * log(switch(eq(x, 0), 1, x))]),
)
neg = elemwise("neg", np.negative, 1, _g(lambda x, z, gz: [-gz]))
abs = elemwise("abs", np.abs, 1, _g(lambda x, z, gz: [gz * sign(x)]))
sqr = elemwise("sqr", np.square, 1, _g(lambda x, z, gz: [gz * 2 * x]))
maximum = elemwise(
    "maximum", np.maximum, 2, _g(lambda x, y, z, gz: [gz * ge(x, y), gz * lt(x, y)])
)
minimum = elemwise(
    "minimum", np.minimum, 2, _g(lambda x, y, z, gz: [gz * le(x, y), gz * gt(x, y)])
)

# ---- comparisons and logic (no gradient: piecewise constant) ---------------------------------
_none2 = _g(lambda x, y, z, gz: [None, None])
eq = elemwise("eq", np.equal, 2, _none2)
neq = elemwise("neq", np.not_equal, 2, _none2)
lt = elemwise("lt", np.less, 2, _none2)
le = elemwise("le", np.less_equal, 2, _none2)
gt = elemwise("gt", np.greater, 2, _none2)
ge = elemwise("ge", np.greater_equal, 2, _none2)
and_ = elemwise("and_", np.bitwise_and, 2, _none2)
or_ = elemwise("or_", np.bitwise_or, 2, _none2)
xor = elemwise("xor", np.bitwise_xor, 2, _none2)
invert = elemwise("invert", np.invert, 1, _g(lambda x, z, gz: [None]))
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = and_, or_, xor, invert

# ---- transcendental ---------------------------------------------------------------------------
exp = elemwise("exp", np.exp, 1, _g(lambda x, z, gz: [gz * z]))
log = elemwise("log", np.log, 1, _g(lambda x, z, gz: [gz / x]))
log1p = elemwise("log1p", np.log1p, 1, _g(lambda x, z, gz: [gz / (1 + x)]))
expm1 = elemwise("expm1", np.expm1, 1, _g(lambda x, z, gz: [gz * (z + 1)]))
sqrt = elemwise("sqrt", np.sqrt, 1, _g(lambda x, z, gz: [gz * 0.5 / z]))
sin = elemwise("sin", np.sin, 1, _g(lambda x, z, gz: [gz * cos(x)]))
cos = elemwise("cos", np.cos, 1, _g(lambda x, z, gz: [-gz * sin(x)]))
tan = elemwise("tan", np.tan, 1, _g(lambda x, z, gz: [gz * (1 + sqr(z))]))
tanh = elemwise("tanh", np.tanh, 1, _g(lambda x, z, gz: [gz * (1 - sqr(z))]))
arctan = elemwise("arctan", np.arctan, 1, _g(lambda x, z, gz: [gz / (1 + sqr(x))]))
sigmoid = elemwise("sigmoid", _sigmoid_np, 1, _g(lambda x, z, gz: [gz * z * (1 - z)]))
softplus = elemwise("softplus", _softplus_np, 1, _g(lambda x, z, gz: [gz * sigmoid(x)]))
erf = elemwise(
    "erf", _erf_np, 1, _g(lambda x, z, gz: [gz * (2 / _pymath.sqrt(_pymath.pi)) * exp(-sqr(x))])
)

# ---- piecewise --------------------------------------------------------------------------------
_zero_grad1 = _g(lambda x, z, gz: [None])
sign = elemwise("sign", _sign_np, 1, _zero_grad1)
floor = elemwise("floor", np.floor, 1, _zero_grad1)
ceil = elemwise("ceil", np.ceil, 1, _zero_grad1)
round = elemwise("round", np.round, 1, _zero_grad1)
relu = elemwise("relu", lambda x: np.maximum(x, np.zeros((), np.asarray(x).dtype)), 1,
                _g(lambda x, z, gz: [gz * gt(x, 0)]))
switch = elemwise(
    "switch", lambda c, a, b: np.where(c, a, b), 3,
    _g(lambda c, a, b, z, gz: [None, switch(c, gz, 0), switch(c, 0, gz)]),
)
where = switch
clip = elemwise(
    "clip", lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), 3,
    _g(lambda x, lo, hi, z, gz: [gz * and_(ge(x, lo), le(x, hi)), gz * lt(x, lo), gz * gt(x, hi)]),
)
_cast = elemwise(
    "cast", _cast_np, 1,
    lambda op, inputs, outputs, gouts: [cast(gouts[0], inputs[0].dtype)], params=("dtype",),
)


def cast(x, dtype):
    """`x` converted to `dtype` (numpy's astype); a no-op when the dtype already matches."""
    x = as_tensor_variable(x)
    dtype = normalize_dtype(dtype)
    return x if x.dtype == dtype else _cast(x, dtype=dtype)


def true_divide(x, y):
    """`x / y` elementwise, always a float result (numpy's true_divide); Theano's name for `true_div`."""
    return true_div(x, y)


def int_div(x, y):
    """`x // y` elementwise, rounding toward minus infinity (numpy's floor_divide); Theano's name."""
    return floor_div(x, y)


def power(x, y):
    """`x ** y` elementwise, with numpy's broadcasting and dtype promotion (numpy's power)."""
    return pow(x, y)


def square(x):
    """`x * x` elementwise (numpy's square)."""
    return sqr(x)

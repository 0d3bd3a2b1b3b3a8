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


def _grad(fn):
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
_add = elemwise("add", np.add, 2, _grad(lambda x, y, z, gz: [gz, gz]))
sub = elemwise("sub", np.subtract, 2, _grad(lambda x, y, z, gz: [gz, -gz]))
_mul = elemwise("mul", np.multiply, 2, _grad(lambda x, y, z, gz: [gz * y, gz * x]))


def add(x, y, *more):
    """Elementwise sum with numpy's broadcasting and promotion; several terms add left to right (Theano's
    add takes any number)."""
    result = _add(x, y)
    for z in more:
        result = _add(result, z)
    return result


def mul(x, y, *more):
    """Elementwise product with numpy's broadcasting and promotion; several factors multiply left to right."""
    result = _mul(x, y)
    for z in more:
        result = _mul(result, z)
    return result


true_div = elemwise("true_div", np.true_divide, 2, _grad(lambda x, y, z, gz: [gz / y, -gz * z / y]))
floor_div = elemwise("floor_div", np.floor_divide, 2, _grad(lambda x, y, z, gz: [None, None]), expensive=True)
mod = elemwise("mod", np.remainder, 2, _grad(lambda x, y, z, gz: [gz, -gz * floor_div(x, y)]), expensive=True)
pow = elemwise(
    "pow", np.power, 2,
    _grad(lambda x, y, z, gz: [gz * y * pow(x, y - 1), gz * z * log(switch(eq(x, 0), 1, x))]),
    c_function="pow", vector_math=True,
)
neg = elemwise("neg", np.negative, 1, _grad(lambda x, z, gz: [-gz]))
abs = elemwise("abs", np.abs, 1, _grad(lambda x, z, gz: [gz * sign(x)]), c_function="fabs")
sqr = elemwise("sqr", np.square, 1, _grad(lambda x, z, gz: [gz * 2 * x]))
maximum = elemwise(
    "maximum", np.maximum, 2, _grad(lambda x, y, z, gz: [gz * ge(x, y), gz * lt(x, y)])
)
minimum = elemwise(
    "minimum", np.minimum, 2, _grad(lambda x, y, z, gz: [gz * le(x, y), gz * gt(x, y)])
)

# ---- comparisons and logic (no gradient: piecewise constant) ---------------------------------
_none2 = _grad(lambda x, y, z, gz: [None, None])
eq = elemwise("eq", np.equal, 2, _none2)
neq = elemwise("neq", np.not_equal, 2, _none2)
lt = elemwise("lt", np.less, 2, _none2)
le = elemwise("le", np.less_equal, 2, _none2)
gt = elemwise("gt", np.greater, 2, _none2)
ge = elemwise("ge", np.greater_equal, 2, _none2)
and_ = elemwise("and_", np.bitwise_and, 2, _none2)
or_ = elemwise("or_", np.bitwise_or, 2, _none2)
xor = elemwise("xor", np.bitwise_xor, 2, _none2)
invert = elemwise("invert", np.invert, 1, _grad(lambda x, z, gz: [None]))
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = and_, or_, xor, invert

# ---- transcendental ---------------------------------------------------------------------------
exp = elemwise("exp", np.exp, 1, _grad(lambda x, z, gz: [gz * z]), c_function="exp", vector_math=True)
log = elemwise("log", np.log, 1, _grad(lambda x, z, gz: [gz / x]), c_function="log", vector_math=True)
log1p = elemwise("log1p", np.log1p, 1, _grad(lambda x, z, gz: [gz / (1 + x)]), c_function="log1p", vector_math=True)
expm1 = elemwise("expm1", np.expm1, 1, _grad(lambda x, z, gz: [gz * (z + 1)]), c_function="expm1", vector_math=True)
sqrt = elemwise("sqrt", np.sqrt, 1, _grad(lambda x, z, gz: [gz * 0.5 / z]), c_function="sqrt")
sin = elemwise("sin", np.sin, 1, _grad(lambda x, z, gz: [gz * cos(x)]), c_function="sin", vector_math=True)
cos = elemwise("cos", np.cos, 1, _grad(lambda x, z, gz: [-gz * sin(x)]), c_function="cos", vector_math=True)
tan = elemwise("tan", np.tan, 1, _grad(lambda x, z, gz: [gz * (1 + sqr(z))]), c_function="tan", vector_math=True)
tanh = elemwise("tanh", np.tanh, 1, _grad(lambda x, z, gz: [gz * (1 - sqr(z))]), c_function="tanh", vector_math=True)
arctan = elemwise("arctan", np.arctan, 1, _grad(lambda x, z, gz: [gz / (1 + sqr(x))]), c_function="atan",
                  vector_math=True)
arcsin = elemwise("arcsin", np.arcsin, 1, _grad(lambda x, z, gz: [gz / sqrt(1 - sqr(x))]), c_function="asin",
                  vector_math=True)
arccos = elemwise("arccos", np.arccos, 1, _grad(lambda x, z, gz: [-gz / sqrt(1 - sqr(x))]), c_function="acos",
                  vector_math=True)
sinh = elemwise("sinh", np.sinh, 1, _grad(lambda x, z, gz: [gz * cosh(x)]), c_function="sinh", vector_math=True)
cosh = elemwise("cosh", np.cosh, 1, _grad(lambda x, z, gz: [gz * sinh(x)]), c_function="cosh", vector_math=True)
arcsinh = elemwise("arcsinh", np.arcsinh, 1, _grad(lambda x, z, gz: [gz / sqrt(sqr(x) + 1)]), c_function="asinh",
                   vector_math=True)
arccosh = elemwise("arccosh", np.arccosh, 1, _grad(lambda x, z, gz: [gz / sqrt(sqr(x) - 1)]), c_function="acosh",
                   vector_math=True)
arctanh = elemwise("arctanh", np.arctanh, 1, _grad(lambda x, z, gz: [gz / (1 - sqr(x))]), c_function="atanh",
                   vector_math=True)
log2 = elemwise("log2", np.log2, 1, _grad(lambda x, z, gz: [gz / (x * _pymath.log(2))]), c_function="log2",
                vector_math=True)
log10 = elemwise("log10", np.log10, 1, _grad(lambda x, z, gz: [gz / (x * _pymath.log(10))]), c_function="log10",
                 vector_math=True)
exp2 = elemwise("exp2", np.exp2, 1, _grad(lambda x, z, gz: [gz * z * _pymath.log(2)]), c_function="exp2",
                vector_math=True)
# rendered by helpers calling exp and log1p
sigmoid = elemwise("sigmoid", _sigmoid_np, 1, _grad(lambda x, z, gz: [gz * z * (1 - z)]), vector_math=True)
softplus = elemwise("softplus", _softplus_np, 1, _grad(lambda x, z, gz: [gz * sigmoid(x)]), vector_math=True)
erf = elemwise(
    "erf", _erf_np, 1, _grad(lambda x, z, gz: [gz * (2 / _pymath.sqrt(_pymath.pi)) * exp(-sqr(x))]),
    c_function="erf", vector_math=True,
)

arctan2 = elemwise(
    "arctan2", np.arctan2, 2,
    _grad(lambda y, x, z, gz: [gz * x / (sqr(x) + sqr(y)), -gz * y / (sqr(x) + sqr(y))]), c_function="atan2",
)


def _erfc_np(x):
    x = np.asarray(x)
    out = np.vectorize(_pymath.erfc, otypes=[np.float64])(x) if x.size else np.zeros(x.shape)
    return out.astype(np.result_type(x.dtype, np.float16), copy=False)


erfc = elemwise(
    "erfc", _erfc_np, 1, _grad(lambda x, z, gz: [-gz * (2 / _pymath.sqrt(_pymath.pi)) * exp(-sqr(x))]),
    c_function="erfc",
)
isnan = elemwise("isnan", np.isnan, 1, _grad(lambda x, z, gz: [None]))
isinf = elemwise("isinf", np.isinf, 1, _grad(lambda x, z, gz: [None]))

# ---- piecewise --------------------------------------------------------------------------------
_zero_grad1 = _grad(lambda x, z, gz: [None])
sign = elemwise("sign", _sign_np, 1, _zero_grad1)
floor = elemwise("floor", np.floor, 1, _zero_grad1, c_function="floor")
ceil = elemwise("ceil", np.ceil, 1, _zero_grad1, c_function="ceil")
round = elemwise("round", np.round, 1, _zero_grad1, c_function="rint")  # half to even, like numpy
trunc = elemwise("trunc", np.trunc, 1, _zero_grad1, c_function="trunc")
relu = elemwise("relu", lambda x: np.maximum(x, np.zeros((), np.asarray(x).dtype)), 1,
                _grad(lambda x, z, gz: [gz * gt(x, 0)]))
switch = elemwise(
    "switch", lambda c, a, b: np.where(c, a, b), 3,
    _grad(lambda c, a, b, z, gz: [None, switch(c, gz, 0), switch(c, 0, gz)]),
)
where = switch
clip = elemwise(
    "clip", lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), 3,
    _grad(lambda x, lo, hi, z, gz: [gz * and_(ge(x, lo), le(x, hi)), gz * lt(x, lo), gz * gt(x, hi)]),
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

"""The elementwise op test specs: one row per op drives the reference tests (tests/tensor/test_math.py), the
gradient checks (tests/test_gradient.py) and the compiled-vs-reference tests (tests/codegen/
test_codegen_elemwise.py). Adding an elementwise op is its registration in aotgraph/tensor/math.py and one
row here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ALL = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64")
NUMERIC = ALL[1:]
FLOATS = ("float32", "float64")
INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
LOGICAL = ("bool", *INTS)

# input domains (low, high): where an op is defined, and its gradient smooth enough for finite differences
REAL = (-3.0, 3.0)
POSITIVE = (0.1, 3.0)
UNIT = (-0.9, 0.9)  # arcsin, arccos, arctanh
ABOVE_ONE = (1.1, 3.0)  # arccosh
NEAR_ZERO = (-1.2, 1.2)  # tan: away from its poles


@dataclass(frozen=True)
class OpSpec:
    """How one elementwise op is tested.

    `grad`: 'smooth' (checked against finite differences on its domain), 'kinked' (checked by a hand-written
    case of test_gradient.py away from its kinks) or None (piecewise constant: no gradient).
    `float_function`: numpy computes it in floating point (small integers in float16): the compiled test
    feeds it small values, with a looser tolerance for those dtypes.
    """

    name: str  # at.<name>
    arity: int
    reference: Callable  # numpy's function: the oracle
    dtypes: tuple[str, ...]
    domain: tuple[float, float] = REAL
    grad: str | None = "smooth"
    float_function: bool = False
    rtol32: float = 1e-6  # float32 tolerance against the reference (float64: 1e-12)

    def values(self, dtype: str, shape=(3, 4), seed: int = 0) -> np.ndarray:
        """Inputs of `dtype` within the domain (integers: the whole numbers in it, at least 0 for unsigned)."""
        rng = np.random.default_rng(seed)
        low, high = self.domain
        if dtype == "bool":
            return rng.integers(0, 2, shape).astype(bool)
        if np.dtype(dtype).kind in "iu":
            lo = max(math.ceil(low), 0) if dtype.startswith("u") else math.ceil(low)
            return rng.integers(lo, math.floor(high) + 1, shape).astype(dtype)
        return rng.uniform(low, high, shape).astype(dtype)

    def grad_point(self, seed: int = 0) -> list[np.ndarray]:
        """float64 arguments for verify_grad: within the domain, and within [-1, 1] where the domain allows."""
        low, high = self.domain
        if max(low, -1.0) < min(high, 1.0):
            low, high = max(low, -1.0), min(high, 1.0)
        rng = np.random.default_rng(seed)
        return [rng.uniform(low, high, (3, 4)) for _ in range(self.arity)]


def _sigmoid(x):
    return 1 / (1 + np.exp(-np.asarray(x, dtype=np.float64)))


def _softplus(x):
    return np.log1p(np.exp(np.asarray(x, np.float64)))


SPECS = [
    OpSpec("add", 2, np.add, ALL),
    OpSpec("sub", 2, np.subtract, NUMERIC),
    OpSpec("mul", 2, np.multiply, ALL),
    OpSpec("true_div", 2, np.true_divide, NUMERIC, POSITIVE),
    OpSpec("floor_div", 2, np.floor_divide, NUMERIC, POSITIVE, grad=None),
    OpSpec("mod", 2, np.remainder, NUMERIC, POSITIVE, grad="kinked"),
    OpSpec("pow", 2, np.power, NUMERIC, POSITIVE),
    OpSpec("maximum", 2, np.maximum, ALL, grad="kinked"),
    OpSpec("minimum", 2, np.minimum, ALL, grad="kinked"),
    OpSpec("eq", 2, np.equal, ALL, grad=None),
    OpSpec("neq", 2, np.not_equal, ALL, grad=None),
    OpSpec("lt", 2, np.less, ALL, grad=None),
    OpSpec("le", 2, np.less_equal, ALL, grad=None),
    OpSpec("gt", 2, np.greater, ALL, grad=None),
    OpSpec("ge", 2, np.greater_equal, ALL, grad=None),
    OpSpec("and_", 2, np.bitwise_and, LOGICAL, grad=None),
    OpSpec("or_", 2, np.bitwise_or, LOGICAL, grad=None),
    OpSpec("xor", 2, np.bitwise_xor, LOGICAL, grad=None),
    OpSpec("neg", 1, np.negative, NUMERIC),
    OpSpec("abs", 1, np.abs, ALL, grad="kinked"),
    OpSpec("sqr", 1, np.square, NUMERIC),
    OpSpec("invert", 1, np.invert, LOGICAL, grad=None),
    OpSpec("exp", 1, np.exp, FLOATS, float_function=True),
    OpSpec("log", 1, np.log, FLOATS, POSITIVE, float_function=True),
    OpSpec("log1p", 1, np.log1p, FLOATS, POSITIVE, float_function=True),
    OpSpec("expm1", 1, np.expm1, FLOATS, float_function=True),
    OpSpec("sqrt", 1, np.sqrt, FLOATS, POSITIVE, float_function=True),
    OpSpec("sin", 1, np.sin, FLOATS, float_function=True),
    OpSpec("cos", 1, np.cos, FLOATS, float_function=True),
    OpSpec("tan", 1, np.tan, FLOATS, NEAR_ZERO, float_function=True),
    OpSpec("tanh", 1, np.tanh, FLOATS, float_function=True),
    OpSpec("arctan", 1, np.arctan, FLOATS, float_function=True),
    OpSpec("arcsin", 1, np.arcsin, FLOATS, UNIT, float_function=True),
    OpSpec("arccos", 1, np.arccos, FLOATS, UNIT, float_function=True),
    OpSpec("sinh", 1, np.sinh, FLOATS, float_function=True),
    OpSpec("cosh", 1, np.cosh, FLOATS, float_function=True),
    OpSpec("arcsinh", 1, np.arcsinh, FLOATS, float_function=True),
    OpSpec("arccosh", 1, np.arccosh, FLOATS, ABOVE_ONE, float_function=True),
    OpSpec("arctanh", 1, np.arctanh, FLOATS, UNIT, float_function=True),
    OpSpec("log2", 1, np.log2, FLOATS, POSITIVE, float_function=True),
    OpSpec("log10", 1, np.log10, FLOATS, POSITIVE, float_function=True),
    OpSpec("exp2", 1, np.exp2, FLOATS, float_function=True),
    OpSpec("sigmoid", 1, _sigmoid, FLOATS, float_function=True),
    OpSpec("softplus", 1, _softplus, FLOATS, float_function=True),
    OpSpec("erf", 1, np.vectorize(math.erf), FLOATS, float_function=True),
    OpSpec("erfc", 1, np.vectorize(math.erfc), FLOATS, float_function=True),
    OpSpec("arctan2", 2, np.arctan2, FLOATS, POSITIVE, float_function=True),
    OpSpec("sign", 1, np.sign, NUMERIC, grad=None),
    OpSpec("floor", 1, np.floor, FLOATS, grad=None),
    OpSpec("ceil", 1, np.ceil, FLOATS, grad=None),
    OpSpec("round", 1, np.round, FLOATS, grad=None),
    OpSpec("trunc", 1, np.trunc, FLOATS, grad=None),
    OpSpec("isnan", 1, np.isnan, FLOATS, grad=None),
    OpSpec("isinf", 1, np.isinf, FLOATS, grad=None),
    OpSpec("relu", 1, lambda x: np.maximum(x, 0), NUMERIC, grad="kinked"),
]

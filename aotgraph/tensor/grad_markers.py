"""Ops that change only what `grad` sees: zero_grad, disconnected_grad, grad_clip, grad_scale (theano.gradient's).

Each returns its input unchanged (a view: the numpy reference returns the same array); its gradient
rule is the whole point. The rewrites drop them before code generation (`rewrite/canonicalize.py`), and
the compiled backend renders one as `z = x` when no rewrite ran.
"""

from __future__ import annotations

import numbers

from aotgraph.graph.basic import Op
from aotgraph.graph.rules import DISCONNECTED, OpRule, register
from aotgraph.tensor.basic import apply, as_tensor_variable
from aotgraph.tensor.math import clip, mul

__all__ = ["zero_grad", "disconnected_grad", "grad_clip", "grad_scale", "MARKERS"]

MARKERS = ("zero_grad", "disconnected_grad", "grad_clip", "grad_scale")


def _same_type(op, types):
    return [types[0]]


def _identity(op, x):
    return (x,)


def _marker(name: str, grad) -> None:
    register(name, OpRule(infer=_same_type, perform=_identity, grad=grad, view_map={0: 0}))


_marker("zero_grad", lambda op, inputs, outputs, gouts: [None])  # connected, gradient zero
_marker("disconnected_grad", lambda op, inputs, outputs, gouts: [DISCONNECTED])
_marker("grad_clip", lambda op, inputs, outputs, gouts: [clip(gouts[0], op.lower, op.upper)])
_marker("grad_scale", lambda op, inputs, outputs, gouts: [mul(gouts[0], op.multiplier)])


def _number(who: str, what: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: {what} must be a real number, got {type(value).__name__} {value!r:.60}")
    return float(value)


def zero_grad(x):
    """x, through which `grad` passes a zero gradient (x still counts as connected to the cost)."""
    return apply(Op("zero_grad"), as_tensor_variable(x))


def disconnected_grad(x):
    """x, through which no gradient flows: variables reached only through it are disconnected from the cost."""
    return apply(Op("disconnected_grad"), as_tensor_variable(x))


def grad_clip(x, lower_bound, upper_bound):
    """x, whose gradient is clipped elementwise to [lower_bound, upper_bound] on its way back."""
    lower = _number("grad_clip", "lower_bound", lower_bound)
    upper = _number("grad_clip", "upper_bound", upper_bound)
    if lower > upper:
        raise ValueError(f"grad_clip: lower_bound {lower} is greater than upper_bound {upper}")
    return apply(Op("grad_clip", lower=lower, upper=upper), as_tensor_variable(x))


def grad_scale(x, multiplier):
    """x, whose gradient is multiplied by `multiplier` on its way back."""
    return apply(Op("grad_scale", multiplier=_number("grad_scale", "multiplier", multiplier)), as_tensor_variable(x))

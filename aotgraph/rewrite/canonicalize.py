"""canonicalize: simpler forms that give numpy's results for every finite input.

Each rule keeps the value of every element for finite inputs (up to the sign of a zero: `x + 0` turns
-0.0 into 0.0, as numpy's own sum of one element does), and the engine refuses any replacement whose
dtype or broadcast shape differs from the original's: `x * 1` with x int8 and 1 a float stays (the
product is float64), and `x + zeros((3, 4))` with x of shape (4,) stays (the sum is 3x4).

One rule is not exact to the last bit: `1 / (1 + exp(-z)) -> sigmoid(z)`, the logistic function written
out, becomes the op whose numpy reference is the stable formula (both agree within rounding for finite
results; the literal form is what the stabilize rules recognise as sigmoid).
"""

from __future__ import annotations

from collections.abc import Sequence

from aotgraph.graph.basic import Variable
from aotgraph.rewrite.engine import run_pass
from aotgraph.rewrite.pattern import HALF, ONE, TWO, ZERO, P, Rule, local_rewriter
from aotgraph.tensor.grad_markers import MARKERS
from aotgraph.tensor.math import abs, add, cast, neg, sigmoid, sqr, sqrt, sub
from aotgraph.tensor.shape_ops import dimshuffle


def negate(x: Variable) -> Variable:
    """-x, without building neg(neg(u))."""
    node = x.owner
    return node.inputs[0] if node is not None and node.op.name == "neg" else neg(x)


def negated(v: Variable) -> Variable | None:
    """z such that v == -z exactly (for every element), when v's form shows one; else None.

    neg(z) -> z;  (-u) - b -> u + b;  a - b -> b - a  (IEEE rounding is symmetric, so these are exact).
    """
    node = v.owner
    if node is None:
        return None
    if node.op.name == "neg":
        return node.inputs[0]
    if node.op.name == "sub":
        a, b = node.inputs
        if a.owner is not None and a.owner.op.name == "neg":
            return add(a.owner.inputs[0], b)
        return sub(b, a)
    return None


def _sigmoid_of_exp(e: Variable) -> Variable | None:
    """1 / (1 + exp(e)) = sigmoid(-e): a rule only when -e is there to be read off e."""
    z = negated(e)
    return None if z is None else sigmoid(z)


def _dimshuffle_identity(x: Variable, out: Variable) -> Variable | None:
    return x if out.owner.op.pattern == tuple(range(x.ndim)) else None


def _dimshuffle_of_dimshuffle(x: Variable, inner: Variable, out: Variable) -> Variable:
    """Two dimshuffles (transposes, broadcasts, dropped size-1 axes) as one."""
    first, second = inner.owner.op.pattern, out.owner.op.pattern
    composed = tuple("x" if p == "x" else first[p] for p in second)
    return x if composed == tuple(range(x.ndim)) else dimshuffle(x, composed)


def _reshape_to_same_shape(x: Variable, out: Variable) -> Variable | None:
    """reshape(x, s) where x's static shape is fully known and is s (no sizes computed at run time)."""
    return x if None not in x.type.shape and out.type.shape == x.type.shape else None


def _cast_to_same_dtype(x: Variable, out: Variable) -> Variable | None:
    return x if x.type.dtype == out.type.dtype else None


def _reduce_over_size_one_axes(x: Variable, out: Variable) -> Variable | None:
    """A reduction over axes of static size 1 (or over no axis) keeps each element: drop those axes, cast."""
    op = out.owner.op
    if op.name != "reduce" or any(x.type.shape[a] != 1 for a in op.axis):
        return None
    kept = x if op.keepdims or not op.axis else dimshuffle(x, [i for i in range(x.ndim) if i not in op.axis])
    return cast(kept, out.type.dtype)


RULES = [
    Rule("mul_by_one", P("mul", "x", ONE, commute=True), lambda x: x),
    Rule("mul_self", P("mul", "x", "x"), lambda x: sqr(x)),
    Rule("add_zero", P("add", "x", ZERO, commute=True), lambda x: x),
    Rule("sub_zero", P("sub", "x", ZERO), lambda x: x),
    Rule("zero_sub", P("sub", ZERO, "x"), lambda x: negate(x)),
    Rule("div_by_one", P("true_div", "x", ONE), lambda x: x),
    Rule("pow_one", P("pow", "x", ONE), lambda x: x),
    Rule("pow_two", P("pow", "x", TWO), lambda x: sqr(x)),
    Rule("pow_half", P("pow", "x", HALF), lambda x: sqrt(x)),
    Rule("neg_neg", P("neg", P("neg", "x")), lambda x: x),
    Rule("abs_neg", P("abs", P("neg", "x")), lambda x: None if x.dtype.startswith("uint") else abs(x)),
    Rule("switch_same", P("switch", "c", "x", "x"), lambda c, x: x),
    Rule("inv_1_plus_exp", P("true_div", ONE, P("add", ONE, P("exp", "e"), commute=True)), _sigmoid_of_exp),
    Rule("dimshuffle_identity", P("dimshuffle", "x", name="out"), _dimshuffle_identity),
    Rule("dimshuffle_dimshuffle", P("dimshuffle", P("dimshuffle", "x", name="inner"), name="out"),
         _dimshuffle_of_dimshuffle),
    Rule("reshape_same_shape", P("reshape", "x", name="out"), _reshape_to_same_shape),
    Rule("cast_same_dtype", P("cast", "x", name="out"), _cast_to_same_dtype),
    Rule("reduce_size_one_axes", P("reduce", "x", name="out"), _reduce_over_size_one_axes),
    # zero_grad, grad_clip, ...: identities once the gradient is built
    *(Rule(f"drop_{name}", P(name, "x"), lambda x: x) for name in MARKERS),
]

_local = local_rewriter(RULES)


def canonicalize(outputs: Sequence[Variable]) -> list[Variable]:
    """New outputs computing `outputs`, with every canonicalize rule applied where it applies."""
    return run_pass(outputs, _local)

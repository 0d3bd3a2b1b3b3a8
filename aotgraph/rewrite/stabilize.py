"""stabilize: forms that stay finite (and accurate) where the written form overflows or cancels.

These change results, on purpose, exactly where the written form loses them: `log(sigmoid(x))` is -inf
for x = -800 in float64 while -softplus(-x) is -800. Float dtypes only (for integers, `1 + x` can wrap
before the log sees it). Run after canonicalize, which turns a literal `1 / (1 + exp(-z))` into sigmoid(z).
The pass works bottom-up, so an argument is rewritten before the expression using it: `1 - sigmoid(x)`
becomes sigmoid(-x) (no cancellation to 0 for large x, which also keeps the gradient of the tutorial's
cross-entropy finite), and then `log(1 - sigmoid(x))` is `log(sigmoid(-x))`, which becomes -softplus(x).
Rules for one op are tried in list order: log(1 + exp(x)) -> softplus(x) comes before the general log1p.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from aotgraph.graph.basic import Variable
from aotgraph.rewrite.canonicalize import negate
from aotgraph.rewrite.engine import run_pass
from aotgraph.rewrite.pattern import ONE, C, P, Rule, local_rewriter
from aotgraph.tensor.math import expm1, log1p, sigmoid, softplus
from aotgraph.tensor.nnet import log_softmax


def _floats(make: Callable[[Variable], Variable]) -> Callable[[Variable], Variable | None]:
    """The replacement `make(x)`, for float x only."""
    return lambda x: make(x) if np.dtype(x.type.dtype).kind == "f" else None


def _log_softmax(x: Variable, sm: Variable) -> Variable:
    return log_softmax(x, axis=sm.owner.op.axis)


RULES = [
    Rule("one_minus_sigmoid", P("sub", ONE, P("sigmoid", "x")), _floats(lambda x: sigmoid(negate(x)))),
    Rule("log_sigmoid", P("log", P("sigmoid", "x")), _floats(lambda x: negate(softplus(negate(x))))),
    Rule("log_softmax", P("log", P("softmax", "x", name="sm")), _log_softmax),
    Rule("log_1_plus_exp", P("log", P("add", ONE, P("exp", "x"), commute=True)), _floats(softplus)),
    Rule("log1p_exp", P("log1p", P("exp", "x")), _floats(softplus)),
    Rule("log_1_plus", P("log", P("add", ONE, "x", commute=True)), _floats(log1p)),
    Rule("log_1_minus", P("log", P("sub", ONE, "x")), _floats(lambda x: log1p(negate(x)))),
    Rule("exp_minus_1", P("sub", P("exp", "x"), ONE), _floats(expm1)),
    Rule("exp_plus_minus_1", P("add", P("exp", "x"), C(-1), commute=True), _floats(expm1)),
]

_local = local_rewriter(RULES)


def stabilize(outputs: Sequence[Variable]) -> list[Variable]:
    """New outputs computing `outputs`, with every stabilize rule applied where it applies."""
    return run_pass(outputs, _local)

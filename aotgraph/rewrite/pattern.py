"""Rules as data: a (pattern, replacement) pair with a name, and the small matcher behind them.

    Rule("log1p", P("log", P("add", ONE, "x", commute=True)), lambda x: log1p(x))

A pattern `P(op_name, *inputs)` matches a variable computed by a one-output node of that op whose inputs
match `inputs` in order (either order of two inputs with `commute=True`). An input pattern is:

- a string: captures the variable under that name (a name used twice must capture the same variable);
- a `P`: matches the node computing that input;
- a `C(value)`: matches a constant whose every element equals `value`.

`P(..., name="out")` also captures the matched variable itself, for replacements that need the op's
params. The replacement is called with the captures as keyword arguments and returns the new variable, or
None when the rule does not apply after all (a condition the pattern cannot say). A rule does not apply
either when its replacement's ops refuse the operand types (TypeError or ValueError from type inference),
or when the replacement's type is not the type of what it replaces (or a more precise one): so a rule
never changes a dtype or a broadcast shape (see `engine.same_or_finer`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from aotgraph.graph.basic import Apply, Constant, Variable
from aotgraph.rewrite.engine import LocalRewrite, same_or_finer

Captures = dict[str, Variable]


class C:
    """Matches a constant whose every element equals `value` (in the constant's own dtype)."""

    def __init__(self, value):
        self.value = value

    def match(self, var: Variable, captures: Captures) -> Captures | None:
        if not isinstance(var, Constant):
            return None
        data = var.data
        if data.size == 0 or data.dtype.kind not in "biuf":
            return None
        return captures if bool(np.all(data == self.value)) else None

    def __repr__(self) -> str:
        return f"C({self.value!r})"


ZERO, ONE, TWO, HALF = C(0), C(1), C(2), C(0.5)


class P:
    """Matches a variable computed by a one-output node of op `op` whose inputs match `inputs`."""

    def __init__(self, op: str, *inputs, commute: bool = False, name: str | None = None):
        if commute and len(inputs) != 2:
            raise ValueError("commute=True needs a pattern with two inputs")
        self.op = op
        self.inputs = inputs
        self.commute = commute
        self.name = name

    def match(self, var: Variable, captures: Captures | None = None) -> Captures | None:
        captures = {} if captures is None else captures
        node = var.owner
        if node is None or node.op.name != self.op or len(node.outputs) != 1 or len(node.inputs) != len(self.inputs):
            return None
        if self.name is not None:
            captures = _capture(self.name, var, captures)
            if captures is None:
                return None
        orders = (node.inputs, node.inputs[::-1]) if self.commute else (node.inputs,)
        for inputs in orders:
            result = _match_all(self.inputs, inputs, captures)
            if result is not None:
                return result
        return None

    def __repr__(self) -> str:
        args = ", ".join(map(repr, self.inputs))
        return f"P({self.op!r}, {args}{', commute=True' if self.commute else ''})"


def _capture(name: str, var: Variable, captures: Captures) -> Captures | None:
    if name in captures:
        return captures if captures[name] is var else None
    return {**captures, name: var}


def _match_all(patterns, inputs, captures: Captures) -> Captures | None:
    for pattern, var in zip(patterns, inputs):
        captures = _capture(pattern, var, captures) if isinstance(pattern, str) else pattern.match(var, captures)
        if captures is None:
            return None
    return captures


@dataclass(frozen=True)
class Rule:
    """Replace what `pattern` matches by `replacement(**captures)` (None: the rule does not apply here)."""

    name: str
    pattern: P
    replacement: Callable[..., Variable | None]


def apply_rules(rules: Sequence[Rule], var: Variable) -> tuple[Rule, Variable] | None:
    """The first rule that rewrites `var`, and its replacement (type-checked); None when none does."""
    for rule in rules:
        captures = rule.pattern.match(var)
        if captures is None:
            continue
        try:
            new = rule.replacement(**captures)
        except (TypeError, ValueError):  # the replacement's ops refuse these operand types: not applicable
            continue
        if new is not None and new is not var and same_or_finer(var, new):
            return rule, new
    return None


def local_rewriter(rules: Sequence[Rule]) -> LocalRewrite:
    """The local rewrite of a list of rules: the first rule (in list order) that applies to a node wins."""
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"rule names must be unique: {names}")
    by_op: dict[str, list[Rule]] = {}
    for rule in rules:
        by_op.setdefault(rule.pattern.op, []).append(rule)

    def rewrite(node: Apply) -> list[Variable] | None:
        candidates = by_op.get(node.op.name)
        if not candidates or len(node.outputs) != 1:
            return None
        found = apply_rules(candidates, node.outputs[0])
        return None if found is None else [found[1]]

    return rewrite

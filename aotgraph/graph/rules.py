"""The rule table: everything an op does, looked up by the op's name.

Each op registers one `OpRule` in the block where it is defined (see
`aotgraph.tensor`). Passes and backends are loops over this table; the keys of
a backend's own table say which ops it renders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aotgraph.graph.basic import Apply, Op, Variable


@dataclass
class OpRule:
    """How one op is typed, evaluated and differentiated.

    infer(op, input_types) -> output types; raises TypeError for bad operands.
    perform(op, *arrays) -> tuple of output arrays (the numpy reference).
    grad(op, inputs, outputs, output_grads) -> one symbolic gradient per input
        (None for an input with no gradient).
    view_map: output index -> input index whose memory the output may alias.
    destroy_map: output index -> input index that the op overwrites (in-place ops).
    elemwise: for elementwise ops, facts that fusion and code generation use.
    """

    infer: Callable[..., list]
    perform: Callable[..., tuple]
    grad: Callable[..., list] | None = None
    view_map: dict[int, int] = field(default_factory=dict)
    destroy_map: dict[int, int] = field(default_factory=dict)
    elemwise: Any = None


class Disconnected:
    """What `grad(..., return_disconnected='Disconnected')` returns for a disconnected variable."""

    def __init__(self, variable: Variable | None = None):
        self.variable = variable

    def __repr__(self) -> str:
        return f"Disconnected({self.variable!r})"


DISCONNECTED = Disconnected()  # a gradient rule returns this for an input the output does not depend on


RULES: dict[str, OpRule] = {}


def register(name: str, rule: OpRule) -> OpRule:
    if name in RULES:
        raise ValueError(f"op {name!r} is registered twice")
    RULES[name] = rule
    return rule


def rule_of(op: Op) -> OpRule:
    try:
        return RULES[op.name]
    except KeyError:
        raise NotImplementedError(f"no rules are registered for op {op.name!r}") from None


def make_node(op: Op, inputs: list[Variable], trace: str | None = None) -> Apply:
    """Type-check `inputs` for `op` and build the Apply node."""
    out_types = rule_of(op).infer(op, [v.type for v in inputs])
    return Apply(op, inputs, out_types, trace=trace)

"""Graph nodes: variables, constants, applications of ops, and walks over them.

The graph layer knows nothing about numpy evaluation or code generation; an op
is a plain hashable name with parameters, and everything an op *does* lives in
the rule table (`aotgraph.graph.rules`).
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

_ids = itertools.count()
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Op:
    """An operation: a name plus hashable parameters. Equal ops compute the same thing."""

    __slots__ = ("name", "params", "_hash")

    def __init__(self, name: str, **params: Any) -> None:
        self.name = name
        self.params = dict(sorted(params.items()))
        self._hash = hash((name, tuple(self.params.items())))

    def __getattr__(self, key: str) -> Any:
        try:
            return self.params[key]
        except KeyError:
            raise AttributeError(key) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Op) and self.name == other.name and self.params == other.params

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        if not self.params:
            return self.name
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}{{{args}}}"

    def __reduce__(self):
        return (_make_op, (self.name, self.params))


def _make_op(name: str, params: dict) -> Op:
    return Op(name, **params)


class Type:
    """Base of variable types; a type makes the variables that carry it."""

    def make_variable(self, owner: Apply | None = None, index: int | None = None, name: str | None = None):
        raise NotImplementedError


class Variable:
    """A value in the graph: a graph input (owner None) or output `index` of `owner`."""

    def __init__(self, type: Type, owner: Apply | None = None, index: int | None = None, name: str | None = None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.auto_name = f"v{next(_ids)}"

    def __repr__(self) -> str:
        if self.name is not None:
            return self.name
        if self.owner is not None:
            return f"{self.owner.op!r}.{self.index}"
        return f"<{self.type}>"

    def clone(self) -> Variable:
        """A new graph input with this variable's type and name."""
        return type(self)(self.type, None, None, self.name)

    __hash__ = object.__hash__


class Constant(Variable):
    """A graph input with a fixed value (`data`, a numpy array)."""

    def __init__(self, type: Type, data: Any, name: str | None = None):
        super().__init__(type, None, None, name)
        self.data = data

    def __repr__(self) -> str:
        if self.name is not None:
            return self.name
        text = repr(self.data.tolist()) if getattr(self.data, "size", 2) <= 4 else f"<{self.type} constant>"
        return text

    def clone(self) -> Constant:
        return type(self)(self.type, self.data, self.name)

    def signature(self) -> tuple:
        """Equal constants have equal signatures (used by merging)."""
        return (self.type, self.data.tobytes())


class Apply:
    """One application of `op` to `inputs`, producing `outputs`."""

    def __init__(self, op: Op, inputs: Sequence[Variable], output_types: Sequence[Type], trace: str | None = None):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = [t.make_variable(self, i) for i, t in enumerate(output_types)]
        self.trace = trace if trace is not None else user_trace()

    def __repr__(self) -> str:
        return f"{self.op!r}({', '.join(map(repr, self.inputs))})"


def user_trace() -> str:
    """'file:line' of the innermost stack frame outside aotgraph (where the user built a node)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR) and not filename.startswith("<frozen"):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "<aotgraph>"


def toposort(outputs: Iterable[Variable]) -> list[Apply]:
    """Apply nodes reachable from `outputs`, each after the nodes it depends on (deterministic)."""
    return toposort_with_stops(list(outputs), {})


def graph_inputs(outputs: Iterable[Variable]) -> list[Variable]:
    """Variables without owner (inputs, shared variables, constants) reachable from `outputs`."""
    outputs = list(outputs)
    found: dict[int, Variable] = {}
    for v in outputs:
        if v.owner is None:
            found.setdefault(id(v), v)
    for node in toposort(outputs):
        for v in node.inputs:
            if v.owner is None:
                found.setdefault(id(v), v)
    return list(found.values())


def ancestors(outputs: Iterable[Variable]) -> set[int]:
    """ids of every variable that `outputs` depend on, themselves included."""
    outputs = list(outputs)
    ids = {id(v) for v in outputs}
    for node in toposort(outputs):
        ids.update(id(v) for v in node.inputs)
        ids.update(id(v) for v in node.outputs)
    return ids


def clone_replace(
    outputs: Sequence[Variable], replace: dict[Variable, Variable], rebuild: Any = None
) -> list[Variable]:
    """Copy the graph of `outputs` with variables in `replace` substituted.

    `rebuild(op, inputs, node)` makes the replacement node; by default the node
    is copied with its old output types. Passing a rebuild that re-infers types
    gives `rebuild_strict=False` semantics.
    """
    memo: dict[int, Variable] = {id(k): v for k, v in replace.items()}
    for node in toposort_with_stops(outputs, memo):
        new_inputs = [memo.get(id(v), v) for v in node.inputs]
        if all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        if rebuild is not None:
            new_outputs = rebuild(node.op, new_inputs, node)
        else:
            new_node = Apply(node.op, new_inputs, [o.type for o in node.outputs], trace=node.trace)
            new_outputs = new_node.outputs
        for old, new in zip(node.outputs, new_outputs):
            memo[id(old)] = new
            if new.name is None:
                new.name = old.name
    return [memo.get(id(v), v) for v in outputs]


def toposort_with_stops(outputs: Sequence[Variable], stops: dict[int, Any]) -> list[Apply]:
    """Like toposort, but does not walk above variables whose id is in `stops`."""
    order: list[Apply] = []
    seen: set[int] = set()
    for out in outputs:
        if id(out) in stops or out.owner is None:
            continue
        stack = [(out.owner, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in seen:
                continue
            if expanded:
                seen.add(id(node))
                order.append(node)
                continue
            stack.append((node, True))
            for inp in reversed(node.inputs):
                if inp.owner is not None and id(inp) not in stops and id(inp.owner) not in seen:
                    stack.append((inp.owner, False))
    return order

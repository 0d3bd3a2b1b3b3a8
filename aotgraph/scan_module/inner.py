"""The step function of a scan as an op parameter: inner inputs and outputs, frozen and hashable.

Two inner graphs are equal when their structure is (same ops on the same inputs, same constants), so
merging sees two scans of one step function as one node, and the build cache sees one source.
"""

from __future__ import annotations

from collections.abc import Sequence

from aotgraph.graph.basic import Constant, Variable, toposort
from aotgraph.graph.evaluate import run_node


class InnerGraph:
    """`outputs` computed from `inputs` (graph inputs of the step: slices, states, non-sequences)."""

    __slots__ = ("inputs", "outputs", "_key", "_hash", "_nodes")

    def __init__(self, inputs: Sequence[Variable], outputs: Sequence[Variable]):
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self._nodes = toposort(self.outputs)
        self._key = _structure(self.inputs, self.outputs, self._nodes)
        self._hash = hash(self._key)

    @property
    def nodes(self) -> list:
        return self._nodes

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InnerGraph) and (self is other or self._key == other._key)

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"<step of {len(self.inputs)} inputs, {len(self._nodes)} nodes, {len(self.outputs)} outputs>"

    def __reduce__(self):
        return (InnerGraph, (self.inputs, self.outputs))

    def run(self, values: list) -> list:
        """The inner outputs for the inner inputs' `values` (each node's numpy reference, in order)."""
        store = {id(v): value for v, value in zip(self.inputs, values)}
        for node in self._nodes:
            args = [v.data if isinstance(v, Constant) and id(v) not in store else store[id(v)] for v in node.inputs]
            for var, value in zip(node.outputs, run_node(node, args)):
                store[id(var)] = value
        return [v.data if isinstance(v, Constant) and id(v) not in store else store[id(v)] for v in self.outputs]


def _structure(inputs, outputs, nodes) -> tuple:
    """A value equal for structurally equal graphs: each variable named by where it comes from."""
    refs: dict[int, tuple] = {id(v): ("in", k, v.type) for k, v in enumerate(inputs)}

    def ref(v: Variable) -> tuple:
        if id(v) in refs:
            return refs[id(v)]
        if isinstance(v, Constant):
            return ("const",) + v.signature()
        raise ValueError(f"the step of a scan uses {v!r}, which is none of its inputs")

    body = []
    for j, node in enumerate(nodes):
        body.append((node.op, tuple(ref(v) for v in node.inputs)))
        for k, out in enumerate(node.outputs):
            refs[id(out)] = ("node", j, k)
    return (tuple(refs[id(v)] for v in inputs), tuple(body), tuple(ref(v) for v in outputs))

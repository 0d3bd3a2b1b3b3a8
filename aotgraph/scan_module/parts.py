"""A scan node taken apart (each input and output with its inner counterpart) and put back together.

Rewrites that change what a loop carries (scan rules in aotgraph/rewrite) edit these lists and `build` a
new node: the bookkeeping of the op's input and output order stays here, next to the op.
"""

from __future__ import annotations

from dataclasses import dataclass

from aotgraph.graph.basic import Apply, Variable
from aotgraph.graph.rules import make_node
from aotgraph.scan_module.inner import InnerGraph
from aotgraph.scan_module.op import Layout, scan_op, with_init


@dataclass
class Recurrent:
    states: list  # inner placeholders, one per tap
    init: Variable  # outer initial buffer
    taps: tuple
    last_only: bool
    out: Variable  # inner new value
    old: Variable | None  # the outer output it computes in the original node
    with_init: bool = False  # the output starts with the initial states (scan_op)


@dataclass
class ScanParts:
    node: Apply
    seqs: list  # (inner placeholder, outer sequence)
    recs: list  # Recurrent
    nits: list  # (inner output, original outer output or None)
    nonseqs: list  # (inner placeholder, outer value)
    until: Variable | None

    @classmethod
    def of(cls, node: Apply) -> ScanParts:
        op, inner = node.op, node.op.inner
        lay = Layout(op)
        states = lay.inner_states(inner.inputs, op.taps)
        recs = [Recurrent(states[j], init, op.taps[j], op.last_only[j], inner.outputs[j], node.outputs[j],
                          with_init(op)[j]) for j, init in enumerate(lay.inits(node.inputs))]
        nits = [(inner.outputs[lay.n_rec + k], node.outputs[lay.n_rec + k]) for k in range(lay.n_nit)]
        return cls(node, list(zip(lay.inner_seqs(inner.inputs), lay.seqs(node.inputs))), recs, nits,
                   list(zip(lay.inner_nonseqs(inner.inputs), lay.nonseqs(node.inputs))),
                   inner.outputs[-1] if op.until else None)

    def inner_outputs(self) -> list:
        return [r.out for r in self.recs] + [o for o, _ in self.nits] + ([self.until] if self.until is not None else [])

    def build(self) -> tuple[Apply, dict]:
        """The new node, and {original outer output: new outer output} for the outputs kept."""
        op = self.node.op
        inputs = [p for p, _ in self.seqs] + [s for r in self.recs for s in r.states] + [p for p, _ in self.nonseqs]
        new_op = scan_op(InnerGraph(inputs, self.inner_outputs()), len(self.seqs), [r.taps for r in self.recs],
                         [r.last_only for r in self.recs], len(self.nits), self.until is not None,
                         op.truncate_gradient, op.label, [r.with_init for r in self.recs])
        outer = [self.node.inputs[0], *[o for _, o in self.seqs], *[r.init for r in self.recs]]
        new = make_node(new_op, outer + [o for _, o in self.nonseqs], trace=self.node.trace)
        olds = [r.old for r in self.recs] + [old for _, old in self.nits]
        return new, {old: out for old, out in zip(olds, new.outputs) if old is not None}

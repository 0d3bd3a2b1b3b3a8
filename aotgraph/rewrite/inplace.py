"""inplace: an elementwise or fused node may write its result into the buffer of an input nobody needs after it.

The node becomes `fused_inplace` (destroy_map {0: 0}) with that input moved to position 0 and the output
written there moved to position 0. An input `v` may be overwritten by node D when:

- `v` has D's result's dtype and broadcast pattern (the loop writes every element of it exactly once);
- the value `v` holds (its root: `v`, or through view_map the value `v` is a view of) is computed by the graph
  (an intermediate) or is an input declared `mutable=True`; never another graph input, a shared variable or a
  constant (folded constants are read-only arrays shared by every call);
- no result of the graph (an output or an update, whether borrowed or not) is that value or a view of it;
- every other node reading that value (directly or through a view) is an ancestor of D, so it has run
  before D in any order the backend picks; and D reads it only through `v`;
- if that value lives in a mutable input's buffer (it is the input, or was written there in place), D's results
  are not update values: a shared variable never ends up holding memory the caller owns. (An output may: the
  caller let the function have that buffer.)

The backend treats `fused_inplace` as a permission: it writes in place when the buffer at run time is a
writable, aligned, C-contiguous array of exactly the result's shape (and, for a mutable input, shares no
memory with another argument of the call), and allocates otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from aotgraph.graph.basic import Apply, Constant, Variable, toposort
from aotgraph.graph.rules import rule_of
from aotgraph.rewrite.fuse import depends_on
from aotgraph.tensor.fused import ScalarProgram, fused_op

_SEARCH = 500  # nodes one "has it run before?" search may visit; beyond that the input is left alone


def inplace(outputs: Sequence[Variable], mutable: Sequence[Variable] = (), updates_from: int | None = None,
            ) -> list[Variable]:
    """New outputs computing `outputs`, elementwise and fused nodes overwriting dead inputs where allowed.

    `mutable`: the graph inputs the caller lets the function overwrite (In(..., mutable=True)).
    `updates_from`: outputs[updates_from:] are update values (None: there are none).
    """
    outputs = list(outputs)
    nodes = toposort(outputs)
    updates = {id(v) for v in outputs[updates_from:]} if updates_from is not None else set()
    facts = _Aliases(nodes, outputs, {id(v) for v in mutable}, updates)
    memo: dict[int, Variable] = {}
    for node in nodes:
        inputs = [memo.get(id(v), v) for v in node.inputs]
        victim = facts.victim(node) if _candidate(node) else None
        if victim is not None:
            facts.written(node, victim)
            made = _inplace_node(node, inputs, victim)
        elif any(a is not b for a, b in zip(inputs, node.inputs)):
            made = _copy(node, inputs)
        else:
            continue
        for old, new in zip(node.outputs, made):
            memo[id(old)] = new
    return [memo.get(id(v), v) for v in outputs]


def _candidate(node: Apply) -> bool:
    return node.op.name == "fused" or rule_of(node.op).elemwise is not None


class _Aliases:
    """Which values share memory (view_map), who reads them, and which are results or may not be written."""

    def __init__(self, nodes: list[Apply], outputs: list[Variable], mutable: set[int], updates: set[int]):
        self.nodes = nodes
        self.position = {id(n): i for i, n in enumerate(nodes)}
        self.mutable = mutable
        self.updates = updates
        self.callers = set(mutable)  # ids of the values in a buffer of the caller's (a mutable input's)
        self.root: dict[int, Variable] = {}
        for node in nodes:
            for out_index, in_index in rule_of(node.op).view_map.items():
                source = node.inputs[in_index]
                self.root[id(node.outputs[out_index])] = self.root.get(id(source), source)
        self.readers: dict[int, set[int]] = {}
        for index, node in enumerate(nodes):
            for v in node.inputs:
                self.readers.setdefault(id(self.root_of(v)), set()).add(index)
        self.result_roots = {id(self.root_of(v)) for v in outputs}

    def root_of(self, v: Variable) -> Variable:
        return self.root.get(id(v), v)

    def writable(self, root: Variable) -> bool:
        if isinstance(root, Constant):
            return False
        return root.owner is not None or id(root) in self.mutable

    def victim(self, node: Apply) -> int | None:
        """The index of an input `node` may overwrite with its output 0 (after reordering), else None."""
        index = self.position[id(node)]
        for k, v in enumerate(node.inputs):
            root = self.root_of(v)
            if not self.writable(root) or id(root) in self.result_roots or not _output_like(node, v):
                continue
            if any(w is not v and self.root_of(w) is root for w in node.inputs):
                continue
            if id(root) in self.callers and any(id(o) in self.updates for o in node.outputs):
                continue
            others = self.readers.get(id(root), set()) - {index}
            if any(other > index for other in others):  # read later (or in no fixed order): still needed
                continue
            if all(depends_on([node], other, self.nodes, self.position, limit=_SEARCH) for other in others):
                return k
        return None


    def written(self, node: Apply, victim: int) -> None:
        """Record that `node` writes into input `victim`'s buffer (its first matching output lives there)."""
        v = node.inputs[victim]
        if id(self.root_of(v)) in self.callers:
            self.callers.update(id(o) for o in node.outputs)


def _output_like(node: Apply, v: Variable) -> bool:
    """Whether some output of `node` has v's dtype and broadcast pattern (so it can be written into v)."""
    return any(o.type.dtype == v.type.dtype and o.type.broadcastable == v.type.broadcastable for o in node.outputs)


def _copy(node: Apply, inputs: list[Variable]) -> list[Variable]:
    new = Apply(node.op, inputs, [o.type for o in node.outputs], trace=node.trace)
    for old, made in zip(node.outputs, new.outputs):
        made.name = old.name
    return new.outputs


def _program_of(node: Apply) -> ScalarProgram:
    """The scalar program of a fused node, or a program of one statement for an elementwise node."""
    if node.op.name == "fused":
        return node.op.expr
    refs, types = {}, []
    for v in node.inputs:
        if id(v) not in refs:
            refs[id(v)] = f"i{len(types)}"
            types.append(v.type)
    return ScalarProgram(((node.op, tuple(refs[id(v)] for v in node.inputs)),), ("t0",), tuple(types))


def _distinct_inputs(node: Apply, inputs: list[Variable]) -> list[Variable]:
    if node.op.name == "fused":
        return list(inputs)
    seen: dict[int, Variable] = {}
    for old, new in zip(node.inputs, inputs):
        seen.setdefault(id(old), new)
    return list(seen.values())


def _inplace_node(node: Apply, inputs: list[Variable], victim: int) -> list[Variable]:
    """`node` as fused_inplace over `inputs`, its input `victim` first and a matching output first."""
    program = _program_of(node)
    distinct = _distinct_inputs(node, inputs)
    k = int(_victim_ref(node, victim)[1:])
    order = [k] + [j for j in range(len(distinct)) if j != k]
    rename = {f"i{old}": f"i{new}" for new, old in enumerate(order)}
    stmts = tuple((op, tuple(rename.get(a, a) for a in args)) for op, args in program.stmts)
    v = node.inputs[victim]
    first = next(m for m, o in enumerate(node.outputs)
                 if o.type.dtype == v.type.dtype and o.type.broadcastable == v.type.broadcastable)
    out_order = [first] + [m for m in range(len(node.outputs)) if m != first]
    outputs = tuple(rename.get(program.outputs[m], program.outputs[m]) for m in out_order)
    types = tuple(program.in_types[j] for j in order)
    new = Apply(fused_op(ScalarProgram(stmts, outputs, types), inplace=True), [distinct[j] for j in order],
                [node.outputs[m].type for m in out_order], trace=node.trace)
    made: list[Variable] = [None] * len(node.outputs)
    for position, m in enumerate(out_order):
        made[m] = new.outputs[position]
        made[m].name = node.outputs[m].name
    return made


def _victim_ref(node: Apply, victim: int) -> str:
    """The program ref ('i<k>') of input `victim` of `node`."""
    if node.op.name == "fused":
        return f"i{victim}"
    distinct: dict[int, int] = {}
    for v in node.inputs:
        distinct.setdefault(id(v), len(distinct))
    return f"i{distinct[id(node.inputs[victim])]}"

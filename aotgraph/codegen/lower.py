"""Lowering: a FunctionSpec becomes a `Kernel` (see ir.py).

The passes, in order:
1. `toposort` the nodes computing the spec's results;
2. `name_values`: every graph input, constant and node output gets an identifier (`v<n>`, `c<n>`) in
   order of appearance, so the same spec lowers to the same text in every process;
3. `fusion_groups`: chains of elementwise nodes fuse into one loop (a node joins its consumers' loop
   when all its consumers are in that loop, it is not a result and it has the loop's broadcast
   pattern), and `elemwise_loops` merges sibling loops over the same operands into one loop with
   several outputs;
4. each loop becomes an `ElemwiseStep` (scalar rules in scalar.py), every other node a step made by
   its rule in ops.py (the keys of `ELEMWISE` and `OPS` are the ops this backend supports);
5. liveness: after each step, the intermediates nobody reads any more are released.
"""

from __future__ import annotations

import numpy as np

from aotgraph.codegen import ops as op_rules
from aotgraph.codegen.dtypes import literal
from aotgraph.codegen.ir import Buffer, ElemwiseStep, Kernel, ScalarStmt, Step
from aotgraph.codegen.scalar import ELEMWISE, render_scalar
from aotgraph.graph.basic import Apply, Constant, Variable, toposort
from aotgraph.graph.rules import rule_of


def supported_ops() -> list[str]:
    """The op names the Cython backend renders."""
    return sorted(set(ELEMWISE) | set(op_rules.OPS))


def is_elemwise(node: Apply) -> bool:
    return rule_of(node.op).elemwise is not None


def check_supported(nodes: list[Apply]) -> None:
    missing = sorted({n.op.name for n in nodes if n.op.name not in ELEMWISE and n.op.name not in op_rules.OPS})
    if missing:
        where = next(n for n in nodes if n.op.name == missing[0]).trace
        raise NotImplementedError(
            f"the Cython backend (mode FAST_RUN) cannot compile op(s) {', '.join(map(repr, missing))} "
            f"(first created at {where}); use mode='FAST_COMPILE' for this function"
        )


def lower(spec, name: str = "k0") -> Kernel:
    """The kernel computing `spec.results` from `spec.graph_inputs`."""
    results = spec.results
    nodes = toposort(results)
    check_supported(nodes)
    lowering = _Lowering(spec.graph_inputs, nodes, results)
    return lowering.run(name)


class _Lowering:
    def __init__(self, graph_inputs: list[Variable], nodes: list[Apply], results: list[Variable]):
        self.graph_inputs = graph_inputs
        self.nodes = nodes
        self.results = results
        self.names: dict[int, Buffer] = {}
        self.consts: list[Buffer] = []
        self.const_values: list = []
        self.helpers: dict[str, str] = {}
        self.counter = 0

    # ---- naming ----------------------------------------------------------------------------------------
    def new_buffer(self, v: Variable, prefix: str = "v") -> Buffer:
        if prefix == "c":
            name = f"c{len(self.consts)}"
        else:
            name = f"v{self.counter}"
            self.counter += 1
        buf = Buffer(name, v.type.dtype, v.type.ndim, tuple(v.type.shape))
        self.names[id(v)] = buf
        return buf

    def buffer(self, v: Variable) -> Buffer:
        """The buffer holding `v` (a constant used as an array becomes a data constant)."""
        if id(v) not in self.names:
            if not isinstance(v, Constant):
                raise AssertionError(f"lowering met {v!r} before it was computed")
            buf = self.new_buffer(v, "c")
            self.consts.append(buf)
            self.const_values.append(np.asarray(v.data))
        return self.names[id(v)]

    # ---- the passes ------------------------------------------------------------------------------------
    def run(self, name: str) -> Kernel:
        inputs = [self.new_buffer(v) for v in self.graph_inputs]
        loops = elemwise_loops(self.nodes, self.results)
        steps = []
        for index, node in enumerate(self.nodes):
            if is_elemwise(node):
                if index not in loops:
                    continue
                groups = [[self.nodes[i] for i in group] for group in loops[index]]
                body = self.elemwise_step(groups)
                members = [n for group in groups for n in group]
                steps.append(Step(body, _loop_label(index, members), _describe(members)))
            else:
                ins = [self.buffer(v) for v in node.inputs]
                outs = [self.new_buffer(v) for v in node.outputs]
                body = op_rules.OPS[node.op.name](node, ins, outs)
                self.helpers.update(getattr(body, "helpers", {}) or {})
                steps.append(Step(body, f"{index} {node.op!r}", _describe([node])))
        result_names = [self.buffer(v).name for v in self.results]
        _liveness(steps, {b.name for b in inputs} | {b.name for b in self.consts} | set(result_names))
        return Kernel(name, inputs, self.consts, self.const_values, steps, result_names, self.helpers)

    def elemwise_step(self, groups: list[list[Apply]]) -> ElemwiseStep:
        """One loop computing every node of `groups`; the last node of each group is stored to memory."""
        temps: dict[int, str] = {}  # id(var) -> scalar name
        leaves: list[Buffer] = []
        leaf_ids: dict[int, int] = {}
        stmts: list[ScalarStmt] = []
        uses_err = False
        outs, results = [], []
        for group in groups:
            for node in group:
                args, dtypes = [], []
                for v in node.inputs:
                    if id(v) in temps:
                        args.append(temps[id(v)])
                    elif _inline(v) is not None:
                        args.append(_inline(v))
                    else:
                        if id(v) not in leaf_ids:
                            leaf_ids[id(v)] = len(leaves)
                            leaves.append(self.buffer(v))
                        args.append(f"a{leaf_ids[id(v)]}")
                    dtypes.append(v.type.dtype)
                out = node.outputs[0]
                ctx = render_scalar(node.op, rule_of(node.op).elemwise.fn, args, dtypes, out.type.dtype)
                self.helpers.update(ctx.helpers)
                uses_err = uses_err or ctx.uses_err
                target = f"t{len(stmts)}"
                stmts.append(ScalarStmt(target, out.type.dtype, ctx.expr))
                temps[id(out)] = target
            outs.append(self.new_buffer(group[-1].outputs[0]))
            results.append(stmts[-1].target)
        scalars = [f"a{k}" for k in range(len(leaves))]
        return ElemwiseStep(outs, leaves, scalars, stmts, results, uses_err)


def _inline(v: Variable) -> str | None:
    """The literal of a constant that can be written into a loop (one element, exactly printable), else None."""
    if not isinstance(v, Constant) or np.size(v.data) != 1:
        return None
    return literal(np.asarray(v.data).reshape(()), v.type.dtype)


def fusion_groups(nodes: list[Apply], results: list[Variable]) -> dict[int, int]:
    """For each elementwise node (by index), the index of the root node of the loop that computes it.

    A node joins its consumers' loop when all its consumers are in that one loop, its value is not a
    result, and it has the loop's broadcast pattern (so fusing never recomputes a smaller operand).
    """
    clients: dict[int, list[int]] = {}
    for index, node in enumerate(nodes):
        for v in node.inputs:
            clients.setdefault(id(v), []).append(index)
    result_ids = {id(v) for v in results}
    group: dict[int, int] = {}
    for index in reversed(range(len(nodes))):
        node = nodes[index]
        if not is_elemwise(node):
            continue
        out = node.outputs[0]
        users = clients.get(id(out), [])
        roots = {group.get(u) for u in users}
        fusable = id(out) not in result_ids and users and len(roots) == 1 and None not in roots
        if fusable:
            root = roots.pop()
            fusable = nodes[root].outputs[0].type.broadcastable == out.type.broadcastable
        group[index] = root if fusable else index
    return group


def elemwise_loops(nodes: list[Apply], results: list[Variable]) -> dict[int, list[list[int]]]:
    """Loops to emit: position (node index) -> the fusion groups (lists of node indices) the loop computes.

    Sibling groups -- the same operands and the same broadcast pattern -- share one loop with
    several outputs, emitted where the first of them was; they cannot depend on each other, since
    their operands are all computed before either.
    """
    groups = fusion_groups(nodes, results)
    members: dict[int, list[int]] = {}
    for index, root in groups.items():
        members.setdefault(root, []).append(index)
    loops: dict[int, list[list[int]]] = {}
    by_key: dict[tuple, int] = {}
    for root in sorted(members):
        group = sorted(members[root])
        key = (_leaves([nodes[i] for i in group]), nodes[root].outputs[0].type.broadcastable)
        if key in by_key:
            loops[by_key[key]].append(group)
        else:
            by_key[key] = root
            loops[root] = [group]
    return loops


def _leaves(group: list[Apply]) -> frozenset:
    """ids of the values a fusion group reads from memory."""
    inside = {id(n.outputs[0]) for n in group}
    return frozenset(id(v) for n in group for v in n.inputs if id(v) not in inside and _inline(v) is None)


def _loop_label(index: int, members: list[Apply]) -> str:
    if len(members) == 1:
        return f"{index} {members[0].op!r}"
    return f"{index} loop[{' '.join(repr(n.op) for n in members)}]"


def _describe(group: list[Apply]) -> str:
    root = group[-1]
    ops = ", ".join(repr(n.op) for n in group)
    return f"{ops} (created at {root.trace})"


def _liveness(steps: list[Step], keep: set[str]) -> None:
    """Fill each step's `dead`: intermediates whose last reader is that step."""
    last: dict[str, int] = {}
    for i, step in enumerate(steps):
        for b in step.body.ins:
            last[b.name] = i
    for name, i in sorted(last.items()):
        if name not in keep:
            steps[i].dead.append(name)
    for step in steps:
        step.dead.sort(key=lambda n: int(n[1:]))
        for b in step.body.outs:  # an output nobody reads dies at once (unless returned)
            if b.name not in last and b.name not in keep:
                step.dead.append(b.name)

"""scan: the rewrites that see through scan nodes (the step graph itself is rewritten when it is lowered).

- outputs nobody reads are removed from the loop: a non-recurrent output always, a recurrent one when no
  remaining output reads its states (the gradient of an input nobody asked for, say);
- constant non-sequences move into the step graph, where fold and canonicalize see them;
- non-sequences the remaining step no longer reads are dropped;
- work that does not need the loop leaves it (scan_pushout.py);
- `join(init[:span], states)` (the gradient's replay of what each step read) becomes an output of the loop
  itself (`with_init`): the loop keeps the initial and later states in one buffer already, so no copy is made.
Sequences stay (their lengths decide the number of steps and are checked).
"""

from __future__ import annotations

from collections.abc import Sequence

from aotgraph.graph.basic import Apply, Constant, Variable, ancestors, clone_replace, toposort
from aotgraph.graph.rules import make_node
from aotgraph.rewrite.merge import merge
from aotgraph.rewrite.scan_pushout import push_out
from aotgraph.scan_module.inner import InnerGraph
from aotgraph.scan_module.op import SCAN, Layout, scan_op, with_init
from aotgraph.scan_module.parts import ScanParts


def simplify_scans(outputs: Sequence[Variable]) -> list[Variable]:
    """New outputs computing `outputs`, each scan node simplified as the module docstring says."""
    current, changed = list(outputs), False
    while True:
        used = _read_variables(current)
        for node in toposort(current):
            replacement = None
            if node.op.name == SCAN:
                replacement = simplified(node, used) or push_out(node)
            elif node.op.name == "join":
                replacement = joined_with_init(node)
            if replacement is not None:
                current, changed = clone_replace(current, replacement), True
                break
        else:
            return merge(current) if changed else current  # what two rewrites each built after the loop: once


def _read_variables(outputs: list[Variable]) -> set[int]:
    used = {id(v) for v in outputs}
    for node in toposort(outputs):
        used.update(id(v) for v in node.inputs)
    return used


def simplified(node: Apply, used: set[int]) -> dict | None:
    """{old output: new output} for a simpler node computing the used outputs of scan `node`, or None."""
    op, inner = node.op, node.op.inner
    lay = Layout(op)
    states = lay.inner_states(inner.inputs, op.taps)
    drop_rec = {j for j in range(lay.n_rec) if id(node.outputs[j]) not in used}
    drop_nit = {k for k in range(lay.n_nit) if id(node.outputs[lay.n_rec + k]) not in used}
    while True:  # a dropped recurrent output must not be read by a kept one
        kept_outs = _kept_outputs(op, lay, drop_rec, drop_nit)
        needed = ancestors(kept_outs)
        still_read = {j for j in drop_rec if any(id(v) in needed for v in states[j])}
        if not still_read:
            break
        drop_rec -= still_read
    nonseqs, inner_nonseqs = lay.nonseqs(node.inputs), lay.inner_nonseqs(inner.inputs)
    constants = {id(v): c for v, c in zip(inner_nonseqs, nonseqs) if isinstance(c, Constant)}
    unread = [v for v in inner_nonseqs if id(v) not in needed and id(v) not in constants]
    if not drop_rec and not drop_nit and not constants and not unread:
        return None
    if len(drop_rec) == lay.n_rec and len(drop_nit) == lay.n_nit:
        return None  # nothing of it is read: the node is not in the graph at all
    if constants:
        kept_outs = clone_replace(kept_outs, {v: constants[id(v)] for v in inner_nonseqs if id(v) in constants})
    needed = ancestors(kept_outs)
    rec = [j for j in range(lay.n_rec) if j not in drop_rec]
    nit = [k for k in range(lay.n_nit) if k not in drop_nit]
    kept_nonseqs = [(v, c) for v, c in zip(inner_nonseqs, nonseqs) if id(v) not in constants and id(v) in needed]
    inner_inputs = list(lay.inner_seqs(inner.inputs)) + [v for j in rec for v in states[j]]
    inner_inputs += [v for v, _ in kept_nonseqs]
    new_op = scan_op(InnerGraph(inner_inputs, kept_outs), op.n_seqs, [op.taps[j] for j in rec],
                     [op.last_only[j] for j in rec], len(nit), op.until, op.truncate_gradient, op.label,
                     [with_init(op)[j] for j in rec])
    outer = [node.inputs[0], *lay.seqs(node.inputs), *[lay.inits(node.inputs)[j] for j in rec]]
    outer += [c for _, c in kept_nonseqs]
    new = make_node(new_op, outer, trace=node.trace)
    old = [node.outputs[j] for j in rec] + [node.outputs[lay.n_rec + k] for k in nit]
    return dict(zip(old, new.outputs))


def joined_with_init(join: Apply) -> dict | None:
    """{old: new} when `join` is `concatenate([init[:span], states])` of a recurrent output of a scan node: the
    node's output with its initial states in front (`with_init`), the old states a view of it; else None."""
    if join.op.axis != 0 or len(join.inputs) != 2:
        return None
    head, states = join.inputs
    node = states.owner
    if node is None or node.op.name != SCAN or head.owner is None or head.owner.op.name != "subtensor":
        return None
    lay, j = Layout(node.op), states.index
    if j >= lay.n_rec or node.op.last_only[j] or with_init(node.op)[j]:
        return None
    span = lay.spans[j]
    if (len(head.owner.inputs) != 1 or head.owner.inputs[0] is not lay.inits(node.inputs)[j]
            or head.owner.op.idx != (("slice", None, span, None),)):
        return None
    parts = ScanParts.of(node)
    parts.recs[j].with_init = True
    new, mapping = parts.build()
    full = new.outputs[j]
    if full.type != join.outputs[0].type or full.type != states.type:
        return None
    mapping[states] = full[span:]
    mapping[join.outputs[0]] = full
    return mapping


def _kept_outputs(op, lay: Layout, drop_rec: set, drop_nit: set) -> list[Variable]:
    inner = op.inner.outputs
    kept = [inner[j] for j in range(lay.n_rec) if j not in drop_rec]
    kept += [inner[lay.n_rec + k] for k in range(lay.n_nit) if k not in drop_nit]
    return kept + ([inner[-1]] if op.until else [])

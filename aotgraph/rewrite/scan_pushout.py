"""scan pushout: work that does not need the loop leaves it, where numpy does it in one call.

- Loop invariants (nodes reading only non-sequences and constants) are computed once, before the loop.
- Products reading only one sequence, non-sequences and constants (`x_t @ W` in an RNN, with the
  elementwise work feeding them) are computed for all steps at once: one matrix product instead of one
  per step. Elementwise work alone stays in the loop: outside it would only add a large temporary array.
- Sums carried by the loop, `acc + A_t.T @ B_t` with A a sequence (the gradient of a weight in
  backpropagation through time), become one matrix product over all steps after the loop: the loop keeps
  B per step instead of doing n small products; `acc + sum(B_t)` over B_t's leading axes (a bias's
  gradient) becomes one sum after the loop.
(Theano's scan_pushout_non_seqs_ops, scan_pushout_seqs_ops and scan_pushout_dot1.)
"""

from __future__ import annotations

import aotgraph.tensor as at
from aotgraph.graph.basic import Apply, Constant, Variable, ancestors, clone_replace, toposort
from aotgraph.graph.rules import make_node, rule_of
from aotgraph.scan_module.parts import ScanParts
from aotgraph.tensor.shape_ops import dimshuffle

INVARIANT = "invariant"


def push_out(node: Apply) -> dict | None:
    """{old output: new output} after moving work out of scan `node`, or None when nothing moves."""
    return _push_out_work(node) or _push_out_sums(node)


# ---- invariants and sequence work ---------------------------------------------------------------------------


def _classify(parts: ScanParts) -> dict[int, object]:
    """id(inner variable) -> INVARIANT, or the outer sequence it is computed from; state-dependent: absent."""
    kind: dict[int, object] = {id(p): INVARIANT for p, _ in parts.nonseqs}
    kind.update({id(p): outer for p, outer in parts.seqs})
    for node in toposort(parts.inner_outputs()):
        kinds = [INVARIANT if isinstance(v, Constant) else kind.get(id(v)) for v in node.inputs]
        if any(k is None for k in kinds) or rule_of(node.op).destroy_map:
            continue
        sources = {id(k): k for k in kinds if k is not INVARIANT}
        if all(isinstance(v, Constant) for v in node.inputs):
            continue  # constants only: left to fold, inside the step
        if not sources:
            kind.update({id(o): INVARIANT for o in node.outputs})
        elif len(sources) == 1 and _vectorizable(node, kinds):
            kind.update({id(o): next(iter(sources.values())) for o in node.outputs})
    return kind


def _vectorizable(node: Apply, kinds: list) -> bool:
    """Whether the node computes all steps at once when its per-step operands get a leading step axis."""
    if rule_of(node.op).elemwise is not None:
        return True
    if node.op.name == "matmul":
        return all(v.type.ndim >= 2 for v, k in zip(node.inputs, kinds) if k is not INVARIANT)
    return False


def _push_out_work(node: Apply) -> dict | None:
    parts = ScanParts.of(node)
    kind = _classify(parts)
    placeholders = {id(p) for p, _ in parts.seqs + parts.nonseqs}

    def leaves(v: Variable) -> bool:
        """Invariants leave the loop; sequence work only as products (one large product beats n small ones;
        elementwise work on all steps at once would only add a large temporary array)."""
        if id(v) not in kind or id(v) in placeholders or isinstance(v, Constant) or v.owner is None:
            return False
        return kind[id(v)] is INVARIANT or v.owner.op.name == "matmul"

    frontier: dict[int, Variable] = {}
    for inner_node in toposort(parts.inner_outputs()):
        if any(id(o) in kind for o in inner_node.outputs):
            continue
        for v in inner_node.inputs:  # a loop node reading work that can leave the loop
            if leaves(v):
                frontier[id(v)] = v
    for v in parts.inner_outputs():
        if leaves(v):
            frontier[id(v)] = v
    if not frontier:
        return None
    outer_of: dict[int, Variable] = {id(p): o for p, o in parts.seqs + parts.nonseqs}
    replace = {}
    for v in frontier.values():
        outer = _outer(v, kind, outer_of)
        placeholder = v.type.make_variable(name=v.name)
        replace[v] = placeholder
        (parts.nonseqs if kind[id(v)] is INVARIANT else parts.seqs).append((placeholder, outer))
    _replace_inner(parts, replace)
    _, mapping = parts.build()
    return mapping


def _outer(v: Variable, kind: dict, outer_of: dict) -> Variable:
    """The outer expression of inner `v`: its value, or (sequence work) its values of all steps stacked."""
    if id(v) in outer_of or isinstance(v, Constant):
        return outer_of.get(id(v), v)
    node = v.owner
    args = [_outer(i, kind, outer_of) for i in node.inputs]
    if kind[id(v)] is not INVARIANT and rule_of(node.op).elemwise is not None:
        rank = v.type.ndim  # per-step operands of lower rank: their step axis must stay the first
        args = [dimshuffle(a, (0, *("x",) * (rank - i.type.ndim), *range(1, i.type.ndim + 1)))
                if kind.get(id(i)) not in (None, INVARIANT) and not isinstance(i, Constant) and i.type.ndim < rank
                else a for a, i in zip(args, node.inputs)]
    if node.op.name == "matmul" and _one_product(node, kind):
        result = _as_one_product(node, args)
    else:
        result = make_node(node.op, args, trace=node.trace).outputs[v.index]
    outer_of[id(v)] = result
    return result


def _one_product(node: Apply, kind: dict) -> bool:
    """x_t @ W with x_t a matrix per step and W invariant: all steps are one (n * rows, k) @ (k, m) product."""
    a, b = node.inputs
    return (kind.get(id(a)) not in (None, INVARIANT) and not isinstance(a, Constant) and a.type.ndim == 2
            and (isinstance(b, Constant) or kind.get(id(b)) is INVARIANT) and b.type.ndim == 2
            and not node.op.trans_a)


def _as_one_product(node: Apply, args: list) -> Variable:
    """numpy's batched matmul runs one small product per step; stacked rows make one large one (BLAS's best)."""
    a, b = args
    flat = at.reshape(a, (-1, a.shape[-1]))
    product = make_node(node.op, [flat, b], trace=node.trace).outputs[0]
    return at.reshape(product, (a.shape[0], a.shape[1], product.shape[-1]))


def _replace_inner(parts: ScanParts, replace: dict) -> None:
    outs = clone_replace(parts.inner_outputs(), replace)
    for r, new in zip(parts.recs, outs):
        r.out = new
    parts.nits = [(new, old) for (_, old), new in zip(parts.nits, outs[len(parts.recs):])]
    if parts.until is not None:
        parts.until = outs[-1]


# ---- sums carried by the loop -------------------------------------------------------------------------------


def _push_out_sums(node: Apply) -> dict | None:
    """acc + A_t.T @ B_t carried by the loop, A a sequence, or acc + sum(B_t) over B_t's leading axes: the loop
    keeps B per step, one product (one sum) after it."""
    parts = ScanParts.of(node)
    seq_of = {id(p): o for p, o in parts.seqs}
    for j, rec in enumerate(parts.recs):
        term = _summed_term(parts, rec)
        summed = term.owner if term is not None and term.owner is not None else None
        if rec.old is None or summed is None or not (_is_sequence_product(summed, seq_of) or _is_leading_sum(
                summed, rec.states[0])):
            continue
        del parts.recs[j]
        b = summed.inputs[-1]  # the product's B, the sum's operand
        position = next((k for k, (o, _) in enumerate(parts.nits) if o is b), None)
        if position is None:  # B per step (the sums of W, U and b in BPTT share one)
            parts.nits.append((b, None))
            position = len(parts.nits) - 1
        new, mapping = parts.build()
        b_all, init = new.outputs[len(parts.recs) + position], rec.init[0]
        if summed.op.name == "matmul":
            total = _product_after(summed, seq_of[id(summed.inputs[0])], b_all, init)
        else:  # sizes from the state, not from b_all: with no step, b_all's shape is all zeros
            total = at.sum(at.reshape(b_all, (-1, *[init.shape[d] for d in range(init.ndim)])), axis=0)
        mapping[rec.old] = at.cast(init + total, rec.old.dtype)
        return mapping
    return None


def _is_sequence_product(node: Apply, seq_of: dict) -> bool:
    """A_t.T @ B_t with A a sequence, both matrices."""
    return (node.op.name == "matmul" and node.op.trans_a and not node.op.trans_b
            and all(v.type.ndim == 2 for v in node.inputs) and id(node.inputs[0]) in seq_of)


def _is_leading_sum(node: Apply, acc: Variable) -> bool:
    """sum(B_t) over the axes B_t has before acc's, in acc's dtype (then the sum over all steps is one sum)."""
    if node.op.name != "reduce" or node.op.kind != "sum" or node.op.keepdims:
        return False
    b = node.inputs[0]
    lead = b.type.ndim - acc.type.ndim
    return lead >= 1 and tuple(node.op.axis) == tuple(range(lead)) and b.dtype == acc.dtype and node.op.dtype in (
        None, acc.dtype)


def _product_after(product: Apply, a_seq: Variable, b_all: Variable, init: Variable) -> Variable:
    """sum over the steps of A_t.T @ B_t, as one product of the steps' rows."""
    a_all = a_seq[:b_all.shape[0]]
    forward = _reversed_of(a_seq)
    if forward is not None:  # (a gradient's loop reads its sequences backwards) the sum's order is free: undo
        # the reversal on both sides, so that the sequence's rows make a matrix without a copy (the sums of
        # W and U then share the one copy of B reversed: merged after this pass)
        a_all, b_all = forward[forward.shape[0] - b_all.shape[0]:], b_all[::-1]
    # sizes from the state and the sequence, not from b_all: with no step, b_all's shape is all zeros
    rows = [at.reshape(a_all, (-1, a_all.shape[-1])), at.reshape(b_all, (-1, init.shape[-1]))]
    return make_node(product.op, rows, trace=product.trace).outputs[0]


def _reversed_of(v: Variable) -> Variable | None:
    """x when v is x[::-1], else None."""
    node = v.owner
    if node is None or node.op.name != "subtensor" or len(node.inputs) != 1:
        return None
    return node.inputs[0] if node.op.idx == (("slice", None, None, -1),) else None


def _summed_term(parts: ScanParts, rec) -> Variable | None:
    """E when the recurrent output `rec` is `acc + E`, its state acc read by nothing else; else None."""
    if not rec.last_only or rec.taps != (-1,) or rec.out.owner is None or rec.out.owner.op.name != "add":
        return None
    (acc,) = rec.states
    a, b = rec.out.owner.inputs
    term = b if a is acc else a if b is acc else None
    if term is None or term.type.ndim != acc.type.ndim or term.dtype != acc.dtype:
        return None
    others = [v for v in parts.inner_outputs() if v is not rec.out] + [term]
    if id(acc) in ancestors(others):
        return None
    return term

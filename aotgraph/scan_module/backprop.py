"""The gradient of a scan (backpropagation through time): another scan, running over the steps backwards.

Forward step i reads the states at its taps and writes state i. Going back, step i gets the gradient of
its new state (the output's gradient at i plus what later steps sent back through their taps), asks the
step's own graph for the gradients of its inputs (`differentiate`: aotgraph.gradient.grad, passed in by
the caller, which sits above this layer), and sends each tap's gradient to the state it read. A recurrent
output reading `span` earlier states carries `span` gradients: carry m holds the gradient of the state m
steps before the current one. Non-sequence gradients are summed in carries too; sequence gradients are
per-step outputs. With truncate_gradient=T only the last T steps are run back: older sequence elements
and the initial states get zero gradients.
"""

from __future__ import annotations

import numpy as np

import aotgraph.tensor as at
from aotgraph.graph.basic import Op, ancestors, clone_replace
from aotgraph.scan_module.inner import InnerGraph
from aotgraph.scan_module.op import Layout, scan_op, with_init
from aotgraph.tensor.basic import apply
from aotgraph.tensor.shape_ops import dimshuffle


def _is_float(v) -> bool:
    return np.dtype(v.type.dtype).kind == "f"


def scan_grad(op: Op, inputs: list, outputs: list, output_grads: list, differentiate) -> list:
    """One gradient per outer input of the scan node (None for n_steps and integer inputs)."""
    if op.until:
        raise NotImplementedError(f"grad through a scan with an until condition ({op.label or 'scan'}) is not "
                                  "supported (Theano does not support it either)")
    if any(with_init(op)):
        raise NotImplementedError("grad of a scan whose outputs hold their initial states (a rewritten scan): "
                                  "take the gradient of the graph before it is rewritten")
    lay, inner = Layout(op), op.inner
    seqs, inits, nonseqs = lay.seqs(inputs), lay.inits(inputs), lay.nonseqs(inputs)
    states = lay.inner_states(inner.inputs, op.taps)
    history = _history(op, inputs, outputs, lay)
    n = at.shape(history[0] if history else outputs[lay.n_rec])[0]
    m = n if op.truncate_gradient == -1 else at.minimum(n, op.truncate_gradient)

    back_seq_inner, back_seq_outer = [], []  # what the backward step reads per step, inner and outer (reversed)
    for v, outer in zip(lay.inner_seqs(inner.inputs), seqs):
        back_seq_inner.append(v)
        back_seq_outer.append(outer[:n][::-1])
    for j, (group, span, init) in enumerate(zip(states, lay.spans, inits)):
        buffer = at.concatenate([init[:span], history[j]]) if lay.n_rec else None
        for k, v in zip(op.taps[j], group):
            back_seq_inner.append(v)
            back_seq_outer.append(buffer[span + k:span + k + n][::-1])
    known = {}
    carries_inner, carries_outer, carry_next = [], [], []
    rec_float = [j for j in range(lay.n_rec) if _is_float(outputs[j])]
    for j in rec_float:
        out = inner.outputs[j]
        span, state = lay.spans[j], states[j][0]
        carry = [state.type.make_variable(name=f"d{j}_{c}") for c in range(span)]
        g = carry[0]
        if not op.last_only[j]:
            step_grad = state.type.make_variable(name=f"g{j}")
            back_seq_inner.append(step_grad)
            back_seq_outer.append(output_grads[j][:n][::-1])
            g = g + step_grad
        known[out] = g
        zero = at.zeros_like(inits[j][0])
        first = at.cast(output_grads[j], state.type.dtype) if op.last_only[j] else zero
        carries_inner += carry
        carries_outer += [first] + [zero] * (span - 1)
        carry_next.append((j, carry))
    for k in range(lay.n_nit):
        out = inner.outputs[lay.n_rec + k]
        if _is_float(out):
            step_grad = out.type.make_variable(name=f"g{lay.n_rec + k}")
            back_seq_inner.append(step_grad)
            back_seq_outer.append(output_grads[lay.n_rec + k][:n][::-1])
            known[out] = step_grad
    if not known:
        return [None] * len(inputs)

    inner_nonseqs = list(lay.inner_nonseqs(inner.inputs))
    wrt_seqs = [v for v in lay.inner_seqs(inner.inputs) if _is_float(v)]
    wrt_states = [v for j in rec_float for v in states[j]]
    wrt_nonseqs = [v for v in inner_nonseqs if _is_float(v)]
    grads = differentiate(None, wrt_seqs + wrt_states + wrt_nonseqs, known_grads=known,
                          disconnected_inputs="ignore", return_disconnected="zero")
    grad_of = {id(v): g for v, g in zip(wrt_seqs + wrt_states + wrt_nonseqs, grads)}

    new_carries = []
    for j, carry in carry_next:
        span = lay.spans[j]
        sent = {k: grad_of[id(v)] for k, v in zip(op.taps[j], states[j])}  # tap k -> gradient of that state
        for c in range(span):
            term = sent.get(-(c + 1))
            later = carry[c + 1] if c + 1 < span else None
            new_carries.append(_plus(later, term, carry[0]))
    acc_inner = [v.type.make_variable(name=f"acc_{v.name}" if v.name else None) for v in wrt_nonseqs]
    acc_outer = [at.zeros_like(outer) for v, outer in zip(inner_nonseqs, nonseqs) if _is_float(v)]
    new_accs = [acc + grad_of[id(v)] for acc, v in zip(acc_inner, wrt_nonseqs)]
    seq_grads = [grad_of[id(v)] for v in wrt_seqs]

    back_outs = new_carries + new_accs + seq_grads
    stored = [(v, history[j]) for j, v in enumerate(inner.outputs[:lay.n_rec])]
    stored += [(v, outputs[lay.n_rec + k]) for k, v in enumerate(inner.outputs[lay.n_rec:lay.n_rec + lay.n_nit])]
    back_outs = _read_stored(back_outs, stored, n, back_seq_inner, back_seq_outer)
    back_inner = InnerGraph(back_seq_inner + carries_inner + acc_inner + inner_nonseqs, back_outs)
    n_carries = len(carries_inner) + len(acc_inner)
    back_op = scan_op(back_inner, len(back_seq_inner), [(-1,)] * n_carries, [True] * n_carries, len(seq_grads),
                      False, -1, f"grad of {op.label}" if op.label else "grad of scan")
    back_outer = [m, *back_seq_outer, *[dimshuffle(c, ("x", *range(c.ndim))) for c in carries_outer],
                  *[dimshuffle(a, ("x", *range(a.ndim))) for a in acc_outer], *nonseqs]
    results = apply(back_op, *back_outer)
    results = results if isinstance(results, list) else [results]
    return _assemble(op, lay, inputs, results, carry_next, wrt_seqs, wrt_nonseqs, n, m)


def _history(op: Op, inputs: list, outputs: list, lay: Layout) -> list:
    """Every state of each recurrent output, (n, ...): the node's outputs, or a replay keeping them all."""
    if not any(op.last_only):
        return list(outputs[:lay.n_rec])
    full = scan_op(op.inner, op.n_seqs, op.taps, [False] * lay.n_rec, op.n_nit, op.until, op.truncate_gradient,
                   op.label)
    results = apply(full, *inputs)
    results = results if isinstance(results, list) else [results]
    return results[:lay.n_rec]


def _read_stored(back_outs: list, stored: list, n, seq_inner: list, seq_outer: list) -> list:
    """The backward step reads the forward step's outputs from what the forward scan stored (as numpy's BPTT
    reads its saved states) instead of computing them again: tanh's gradient needs tanh's output, not the
    products that made its input."""
    used = ancestors(back_outs)
    replace = {}
    for inner_out, values in stored:
        if inner_out.owner is not None and id(inner_out) in used:
            placeholder = inner_out.type.make_variable(name=f"{inner_out.name or 'out'}[t]")
            replace[inner_out] = placeholder
            seq_inner.append(placeholder)
            seq_outer.append(values[:n][::-1])
    return clone_replace(back_outs, replace) if replace else back_outs


def _plus(a, b, like):
    if a is None and b is None:
        return at.zeros_like(like)
    if a is None:
        return b
    return a if b is None else a + b


def _assemble(op, lay, inputs, results, carry_next, wrt_seqs, wrt_nonseqs, n, m) -> list:
    """The gradients of the forward node's inputs from the backward scan's results."""
    grads: list = [None] * len(inputs)
    position = 0
    for j, carry in carry_next:
        span = len(carry)
        finals = results[position:position + span]  # carry c after step 0: the gradient of initial state span-1-c
        position += span
        init = lay.inits(inputs)[j]
        stacked = at.stack(list(reversed(finals)))
        if op.truncate_gradient != -1:
            stacked = at.switch(at.lt(m, n), at.zeros_like(stacked), stacked)
        grads[1 + lay.n_seqs + j] = at.set_subtensor(at.zeros_like(init)[:span], stacked)
    wanted = {id(w) for w in wrt_nonseqs}
    nonseq_positions = [i for i, v in enumerate(lay.inner_nonseqs(op.inner.inputs)) if id(v) in wanted]
    for i, g in zip(nonseq_positions, results[position:position + len(wrt_nonseqs)]):
        grads[1 + lay.n_seqs + lay.n_rec + i] = g
    position += len(wrt_nonseqs)
    seq_positions = [i for i, v in enumerate(lay.inner_seqs(op.inner.inputs)) if id(v) in {id(w) for w in wrt_seqs}]
    for i, g in zip(seq_positions, results[position:]):
        seq = lay.seqs(inputs)[i]
        grads[1 + i] = at.set_subtensor(at.zeros_like(seq)[n - m:n], g[::-1])
    return grads

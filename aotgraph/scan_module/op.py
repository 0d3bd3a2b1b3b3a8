"""The scan op: a loop whose step is an inner graph (an `InnerGraph` in the op's parameters).

Outer inputs, in order: `n_steps` (an int64 scalar; -1: the length of the shortest sequence), one sequence
per tap (already sliced so that step i reads element i), one initial buffer per recurrent output (shape
(span,) + state shape: the `span` states before step 0, oldest first), then the non-sequences.
Inner inputs: one slice per sequence, the states at each tap of each recurrent output, the non-sequences.
Inner outputs: the new value of each recurrent output, each non-recurrent output, then the `until`
condition when there is one.
Outer outputs: per recurrent output its n values (n, ...) or, when `last_only`, its final state; per
non-recurrent output its n values. `until` stops the loop after the step whose condition is true.
"""

from __future__ import annotations

import numpy as np

from aotgraph.graph.basic import Op
from aotgraph.graph.rules import OpRule, register
from aotgraph.scan_module.inner import InnerGraph
from aotgraph.tensor.type import TensorType

SCAN = "scan"


def scan_op(inner: InnerGraph, n_seqs: int, taps: tuple, last_only: tuple, n_nit: int, until: bool,
            truncate_gradient: int = -1, name: str | None = None, with_init: tuple = ()) -> Op:
    """The op; `taps[j]` are the (negative) taps of recurrent output j, `last_only[j]` keeps its final state only,
    `with_init[j]` puts its `span` initial states before the n states (a rewrite asks for it where the graph
    joins them: the gradient's replay of the states reads both, and the loop keeps them in one buffer)."""
    extra = {"with_init": tuple(bool(w) for w in with_init)} if any(with_init) else {}  # printed only when used
    return Op(SCAN, inner=inner, n_seqs=n_seqs, taps=tuple(tuple(t) for t in taps), last_only=tuple(last_only),
              n_nit=n_nit, until=until, truncate_gradient=truncate_gradient, label=name, **extra)


def with_init(op: Op) -> tuple:
    """Per recurrent output: whether the op's output starts with its initial states (see scan_op)."""
    return op.params.get("with_init") or (False,) * len(op.taps)


class Layout:
    """Where each kind of input and output sits, outer and inner, for one scan op."""

    def __init__(self, op: Op):
        self.n_seqs = op.n_seqs
        self.n_rec = len(op.taps)
        self.n_nit = op.n_nit
        self.n_state_inputs = sum(len(t) for t in op.taps)
        self.n_nonseqs = len(op.inner.inputs) - self.n_seqs - self.n_state_inputs
        self.spans = [-min(t) for t in op.taps]

    # outer inputs
    def seqs(self, inputs):
        return inputs[1:1 + self.n_seqs]

    def inits(self, inputs):
        return inputs[1 + self.n_seqs:1 + self.n_seqs + self.n_rec]

    def nonseqs(self, inputs):
        return inputs[1 + self.n_seqs + self.n_rec:]

    # inner inputs
    def inner_seqs(self, inner):
        return inner[:self.n_seqs]

    def inner_states(self, inner, taps) -> list[list]:
        groups, k = [], self.n_seqs
        for t in taps:
            groups.append(list(inner[k:k + len(t)]))
            k += len(t)
        return groups

    def inner_nonseqs(self, inner):
        return inner[self.n_seqs + self.n_state_inputs:]


def _label(op: Op) -> str:
    return f"scan {op.label!r}" if op.label else "scan"


def _infer(op: Op, types: list) -> list:
    lay, inner = Layout(op), op.inner
    expected = 1 + lay.n_seqs + lay.n_rec + lay.n_nonseqs
    if len(types) != expected:
        raise TypeError(f"{_label(op)}: takes {expected} inputs, got {len(types)}")
    if types[0].ndim != 0 or np.dtype(types[0].dtype).kind not in "iu":
        raise TypeError(f"{_label(op)}: n_steps must be an integer scalar, got {types[0]}")
    for k, (t, v) in enumerate(zip(lay.seqs(types), lay.inner_seqs(inner.inputs))):
        if t.dtype != v.type.dtype or t.ndim != v.type.ndim + 1:
            raise TypeError(f"{_label(op)}: sequence {k} has type {t}; its step reads {v.type}")
    states = lay.inner_states(inner.inputs, op.taps)
    for j, (t, group) in enumerate(zip(lay.inits(types), states)):
        state = group[0].type
        if t.dtype != state.dtype or t.ndim != state.ndim + 1:
            raise TypeError(f"{_label(op)}: the initial states of output {j} have type {t}; the state is {state}")
    for k, (t, v) in enumerate(zip(lay.nonseqs(types), lay.inner_nonseqs(inner.inputs))):
        if not v.type.is_super(t):
            raise TypeError(f"{_label(op)}: non-sequence {k} has type {t}; the step takes {v.type}")
    outs = []
    for j, group in enumerate(states):
        state = group[0].type
        outs.append(state if op.last_only[j] else TensorType(state.dtype, (None, *state.shape)))
    for v in inner.outputs[lay.n_rec:lay.n_rec + lay.n_nit]:
        outs.append(TensorType(v.type.dtype, (None, *v.type.shape)))
    return outs


def _perform(op: Op, n_steps, *args) -> tuple:
    lay, inner = Layout(op), op.inner
    seqs, inits, nonseqs = lay.seqs((None, *args)), lay.inits((None, *args)), list(lay.nonseqs((None, *args)))
    n = _steps(op, int(n_steps), seqs)
    windows = []
    for j, (init, span) in enumerate(zip(inits, lay.spans)):
        if init.shape[0] < span:
            raise ValueError(f"{_label(op)}: output {j} reads {span} earlier states (taps {list(op.taps[j])}), "
                             f"but its initial value holds {init.shape[0]}")
        windows.append([init[k] for k in range(span)])
    rec = [None if last else np.empty((n, *init.shape[1:]), init.dtype) for init, last in zip(inits, op.last_only)]
    nit: list = [None] * lay.n_nit
    done = n
    for i in range(n):
        values = [s[i] for s in seqs]
        for window, taps, span in zip(windows, op.taps, lay.spans):
            values += [window[span + t] for t in taps]
        outs = inner.run(values + nonseqs)
        for j, (value, window) in enumerate(zip(outs[:lay.n_rec], windows)):
            value = _checked(op, value, window[0], f"output {j}", i)
            window.append(value)
            del window[0]
            if rec[j] is not None:
                rec[j][i] = value
        for m, value in enumerate(outs[lay.n_rec:lay.n_rec + lay.n_nit]):
            dtype = inner.outputs[lay.n_rec + m].type.dtype
            if nit[m] is None:
                nit[m] = np.empty((n, *np.shape(value)), dtype)
            nit[m][i] = _checked(op, value, nit[m][0], f"output {lay.n_rec + m}", i)
        if op.until and bool(outs[-1]):
            done = i + 1
            break
    results = [np.array(w[-1]) if r is None else r[:done] for r, w in zip(rec, windows)]
    results = [np.concatenate([init[:span], r]) if keep else r
               for r, init, span, keep in zip(results, inits, lay.spans, with_init(op))]
    for m, values in enumerate(nit):
        if values is None:
            v = inner.outputs[lay.n_rec + m]
            values = np.zeros((0,) * (v.type.ndim + 1), v.type.dtype)
        results.append(values[:done])
    return tuple(results)


def _steps(op: Op, n: int, seqs) -> int:
    """The number of steps: n_steps, or the shortest sequence's length; every sequence must be long enough."""
    if n == -1:  # what scan() passes when no n_steps is given
        if not seqs:
            raise ValueError(f"{_label(op)}: no sequences and no n_steps: give n_steps")
        return min(len(s) for s in seqs)
    if n < 0:
        raise ValueError(f"{_label(op)}: n_steps must be >= 0, got {n}")
    for k, s in enumerate(seqs):
        if len(s) < n:
            raise ValueError(f"{_label(op)}: n_steps is {n}, but sequence {k} (after slicing for its taps) has "
                             f"only {len(s)} elements")
    return n


def _checked(op: Op, value, like: np.ndarray, what: str, step: int) -> np.ndarray:
    value = np.asarray(value)
    if value.shape != like.shape:
        raise ValueError(f"{_label(op)}: step {step} made {what} of shape {value.shape}, but earlier values "
                         f"(or its initial state) have shape {like.shape}")
    return value.astype(like.dtype, copy=False)


register(SCAN, OpRule(infer=_infer, perform=_perform))

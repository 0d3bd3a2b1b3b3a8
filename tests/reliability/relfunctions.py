"""The functions the reliability tests call, compiled in FAST_COMPILE: conftest.py compiles them for FAST_RUN
(all in one module) and builds them into one module with `ag.build`.

Many functions share one graph (`x + y` serves add, strict, mutate...): strictness, mutability and
downcasting are runtime facts, so they add no code. Lines marked `# node: <tag>` are where the nodes
that error messages must name are created (relcases.py finds their line numbers by these markers).
"""

from __future__ import annotations

import numpy as np

import aotgraph as ag
import aotgraph.tensor as at


def bad_input_functions() -> dict:
    """Functions for the bad-input cases (no shared state)."""
    x, y = at.dvectors("x", "y")
    m, n = at.dmatrices("m", "n")
    s = at.dscalar("s")
    f = at.fvector("f")
    i, j = at.ivectors("i", "j")
    p, q = at.lvectors("p", "q")
    u, w = at.tensor("uint8", (None,), "u"), at.tensor("uint8", (None,), "w")
    e = at.ivector("e")

    def fn(inputs, outputs, name, **kwargs):
        return ag.function(inputs, outputs, mode="FAST_COMPILE", name=name, **kwargs)

    bcast = m + n  # node: bcast
    product = at.dot(m, n)  # node: dot
    inner = at.tanh(x) * 2 + at.sum(x)
    deep = inner * y  # node: deep
    return {
        "add": fn([x, y], x + y, "add"),
        "strict": fn([ag.In(x, strict=True), y], x + y, "strict"),
        "mutate": fn([ag.In(x, mutable=True), y], x + y, "mutate"),
        "halve32": fn([f], f / 2, "halve32"),
        "halve32_down": fn([f], f / 2, "halve32_down", allow_input_downcast=True),
        "twice_int": fn([i], i * 2, "twice_int"),
        "scale": fn([s, x], s * x, "scale"),
        "bcast": fn([m, n], bcast, "bcast"),
        "dot": fn([m, n], product, "dot"),
        "deep": fn([x, y], [inner, deep], "deep"),
        "layout": fn([m, n, x], [m * n + x, m.T * 2, at.sum(m, axis=0), at.dot(m, n.T), m[::-1, 1:] - n[:, :-1]],
                     "layout"),
        "floats": fn([x], [at.log(x), at.sqrt(x), 1 / x, at.exp(x), at.tanh(x), at.sigmoid(x), x * 0, at.max(x),
                           at.sum(x)], "floats"),
        "floats32": fn([f], [at.log(f), 1 / f, f * 0, at.max(f)], "floats32"),
        "nan_calls": fn([x, y], [at.dot(x, y), at.softmax(x), at.log_softmax(x), at.var(x)], "nan_calls"),
        "signed_zeros": fn([x, y], [at.minimum(x, y), at.maximum(x, y), at.relu(x), at.clip(x, y, 1.0)],
                           "signed_zeros"),
        "intdiv": fn([i, j], [i // j, i % j, i / j], "intdiv"),
        "intdiv64": fn([p, q], [p // q, p % q], "intdiv64"),
        "uintdiv": fn([u, w], [u // w, u % w], "uintdiv"),
        "ipow": fn([i, e], i ** e, "ipow"),
        "empty": fn([m], [at.sum(m, axis=0), at.sum(m), m * 2, at.dot(m, m.T), at.softmax(m), at.prod(m, axis=1)],
                    "empty"),
    }


def state_functions() -> tuple[dict, dict]:
    """({name: Function}, {name: SharedVariable}): functions with updates, defaults and borrowed outputs."""
    x, y = at.dvectors("x", "y")
    k = at.dscalar("k")
    ex = at.lscalar("ex")
    inc = at.lscalar("inc")
    total = at.lscalar("total")
    a = ag.shared(np.zeros(3), name="a")
    b = ag.shared(np.zeros(3), name="b")
    calls = ag.shared(np.int64(0), name="calls")
    acc = ag.shared(np.int64(0), name="acc")
    left = ag.shared(np.float64(0), name="left")
    right = ag.shared(np.float64(0), name="right")
    step = ag.shared(np.float64(1), name="step")
    vec = ag.shared(np.zeros(16), name="vec")

    def fn(inputs, outputs, name, **kwargs):
        return ag.function(inputs, outputs, mode="FAST_COMPILE", name=name, **kwargs)

    first = x * k
    second = at.exp(x) + a
    late = at.sum(second) * at.cast(at.sum(first), "int64") ** ex  # raises for ex < 0, after first and second
    functions = {
        # three updates, an updated default, a borrowed output; fails late for ex < 0, mid-way for a bad y
        "atomic": fn(
            [x, y, ex, ag.In(k, value=2.0, update=k + 1, name="k")],
            [first, ag.Out(second, borrow=True), late],
            "atomic",
            updates=[(a, a + x), (b, b + first * y), (calls, calls + 1)],
        ),
        "peek_state": fn([], ag.Out(a, borrow=True), "peek_state"),
        "accumulate": fn([inc], acc, "accumulate", updates=[(acc, acc + inc)]),
        "count_default": fn([inc, ag.In(total, value=0, update=total + inc, name="total")], total, "count_default"),
        "pair_step": fn([], [left, right], "pair_step", updates=[(left, left + step), (right, right + step)]),
        "pair_gap": fn([], [left - right, left], "pair_gap"),
        "pure": fn([x, y], [x * y + at.sin(x), at.sum(x * y)], "pure"),
        "mem_vec": fn([x, y], [x * y + 1, at.sum(x)], "mem_vec", updates=[(vec, vec + x)]),
    }
    shared = dict(a=a, b=b, calls=calls, acc=acc, left=left, right=right, step=step, vec=vec)
    return functions, shared


def all_functions() -> tuple[dict, dict]:
    """Every function above in one dict (what the one built module holds), and the shared variables."""
    functions = bad_input_functions()
    stateful, shared = state_functions()
    functions.update(stateful)
    return functions, shared

"""Compiled scans whose step is a kernel (not one C loop over scalars) write each step's result into its row
of the output buffer: values against numpy loops, and the module's counts of rows written in place or copied.

All programs are one FAST_RUN function (one compile); each is run at two lengths, so that what is copied
per step shows in the difference of the counts.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import aotgraph as ag
import aotgraph.tensor as at
from tests.scan.scancases import RNG, rnn_bptt

TOL = dict(rtol=1e-10, atol=1e-12)
M = RNG.normal(size=(3, 3)) * 0.5
U = RNG.normal(size=(3, 3)) * 0.4
V = RNG.normal(size=(3, 2))


def graph():
    """(inputs, outputs): taps [-2, -1], go_backwards, until, several outputs, a reduce, a step whose result
    is a view (copied into its row), each over a matrix sequence with vector or matrix states."""
    x, s0, xb, hb0, lim = at.dmatrix("x"), at.dmatrix("s0"), at.tensor3("xb"), at.dmatrix("hb0"), at.dscalar("lim")
    taps, _ = ag.scan(lambda x_t, s2, s1: 0.5 * s2 + at.tanh(at.dot(s1, at.constant(M))) + x_t, sequences=x,
                      outputs_info=dict(initial=s0, taps=[-2, -1]))
    back, _ = ag.scan(lambda x_t, h: at.tanh(x_t + at.dot(h, at.constant(U))), sequences=xb, outputs_info=hb0,
                      go_backwards=True)
    grow, _ = ag.scan(lambda x_t, h, limit: (h * 1.1 + abs(x_t), ag.scan_module.until((h * 1.1 + abs(x_t)).sum()
                                                                                          > limit)),
                      sequences=x, outputs_info=s0[0], non_sequences=lim)
    (h, c, y), _ = ag.scan(lambda x_t, h, c: (at.tanh(x_t + at.dot(c, at.constant(U))), c + h,
                                              at.dot(h, at.constant(V))), sequences=x,
                           outputs_info=[s0[0], s0[1], None])
    last, _ = ag.reduce(lambda x_t, acc: at.tanh(at.dot(acc, at.constant(U)) + x_t), sequences=xb,
                        outputs_info=hb0)
    flipped, _ = ag.scan(lambda x_t, h: (h + x_t)[::-1], sequences=x, outputs_info=s0[0])
    return [x, s0, xb, hb0, lim], [taps, back, grow, h, c, y, last, flipped]


def numpy_loops(xs, init, xbs, hb, limit) -> list:
    states = [init[0], init[1]]
    for x_t in xs:
        states.append(0.5 * states[-2] + np.tanh(states[-1] @ M) + x_t)
    back, h = [], hb
    for x_t in xbs[::-1]:
        h = np.tanh(x_t + h @ U)
        back.append(h)
    grow, g = [], init[0]
    for x_t in xs:
        g = g * 1.1 + abs(x_t)
        grow.append(g)
        if g.sum() > limit:
            break
    hs, cs, ys, h, c = [], [], [], init[0], init[1]
    for x_t in xs:
        h, c, y = np.tanh(x_t + c @ U), c + h, h @ V
        hs.append(h), cs.append(c), ys.append(y)
    acc = hb
    for x_t in xbs:
        acc = np.tanh(acc @ U + x_t)
    flipped, f = [], init[0]
    for x_t in xs:
        f = (f + x_t)[::-1]
        flipped.append(f)
    return [stack(states[2:], (3,)), stack(back, (2, 3)), stack(grow, (3,)), stack(hs, (3,)), stack(cs, (3,)),
            stack(ys, (2,) if ys else (0,)), acc, stack(flipped, (3,))]  # (no step: a non-fed-back output's
    # shape is unknown but its rank, as in the numpy reference of the op)


def stack(rows: list, shape: tuple) -> np.ndarray:
    return np.array(rows).reshape((len(rows), *shape))


def arguments(n: int) -> list:
    xs = RNG.normal(size=(n, 3))
    return [xs, RNG.normal(size=(2, 3)), RNG.normal(size=(n, 2, 3)), RNG.normal(size=(2, 3)),
            float(np.abs(xs[:n // 2]).sum() + 1.0)]


@pytest.fixture(scope="module")
def compiled():
    """The programs above and the RNN with its BPTT gradients (scancases.rnn_bptt), in one FAST_RUN function."""
    inputs, outputs = graph()
    rnn = rnn_bptt()
    f = ag.function(inputs + rnn.inputs, outputs + rnn.outputs, mode="FAST_RUN")
    f._thunk.__self__.wait()  # its module may still be compiled in the background (config.background_builds)
    return f, rnn, sys.modules[f._thunk.__self__.module]


@pytest.mark.parametrize("n", [0, 1, 5, 30])
def test_step_results_written_in_place_match_numpy(compiled, n):
    f, rnn, _ = compiled
    args = arguments(n)
    got = f(*args, *rnn.args)
    expected = numpy_loops(*args) + rnn.expected
    for k, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == np.shape(e), f"output {k}"
        np.testing.assert_allclose(g, e, **TOL, err_msg=f"output {k}")


def test_no_copy_per_step(compiled):
    """Each step writes its results into their rows: only the first row of a non-recurrent output (its shape
    is known from the first step on) and the step returning a view (`flipped`) are copied."""
    f, rnn, module = compiled
    counts = []
    for n in (4, 30):
        before = module._scan_counts()
        f(*arguments(n), *rnn.args)
        after = module._scan_counts()
        counts.append((after[0] - before[0], after[1] - before[1]))
    (written_short, copied_short), (written_long, copied_long) = counts
    assert copied_long - copied_short == 30 - 4  # `flipped`: one copy per step; nothing else per step
    assert written_long - written_short >= 5 * (30 - 4)  # taps, back, h, c, y (and grow while it runs), last


def test_stacked_results_are_views_of_the_step_buffers(compiled):
    """The stacked states are the buffer the steps wrote (its initial rows in front), not a copy of it."""
    f, rnn, _ = compiled
    taps = f(*arguments(6), *rnn.args)[0]
    assert taps.base is not None and taps.base.shape == (6 + 2, 3)

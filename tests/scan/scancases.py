"""The scan programs the tests run: each builds a graph with ag.scan and knows its numpy loop.

A case is (inputs, outputs, updates, arguments, numpy reference); the tests compile every case in
FAST_COMPILE and build all of them into one module (one compile for the whole file).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import aotgraph as ag
import aotgraph.tensor as at

RNG = np.random.default_rng(42)


@dataclass
class Case:
    inputs: list
    outputs: list
    args: list
    expected: list
    updates: dict = field(default_factory=dict)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def cumsum() -> Case:
    x, h0 = at.dvector("x"), at.dscalar("h0")
    out, _ = ag.scan(lambda x_t, h: h + x_t, sequences=x, outputs_info=h0)
    xs = RNG.normal(size=50)
    return Case([x, h0], [out], [xs, 1.5], [1.5 + np.cumsum(xs)])


def polynomial() -> Case:
    """The tutorial's polynomial: sum of coefficients[i] * x ** i, one term per step."""
    coefficients, x = at.dvector("coefficients"), at.dscalar("x")
    terms, _ = ag.scan(lambda c, power, free: c * free ** power, sequences=[coefficients, at.arange(10000)],
                       non_sequences=x)
    cs = np.array([1.0, 0.0, 2.0, -3.0, 0.5])
    return Case([coefficients, x], [terms.sum()], [cs, 3.0], [np.polyval(cs[::-1], 3.0)])


def taps() -> Case:
    """A recurrence on two earlier states (taps -2, -1) reading a sequence at taps -1 and +1."""
    x, s0 = at.dvector("x"), at.dvector("s0")
    out, _ = ag.scan(lambda x_prev, x_next, s2, s1: 0.5 * s2 + s1 * 0.3 + x_prev - x_next,
                     sequences=dict(input=x, taps=[-1, 1]), outputs_info=dict(initial=s0, taps=[-2, -1]))
    xs, init = RNG.normal(size=12), np.array([0.25, -1.0])
    states = list(init)
    for t in range(1, len(xs) - 1):
        states.append(0.5 * states[-2] + states[-1] * 0.3 + xs[t - 1] - xs[t + 1])
    return Case([x, s0], [out], [xs, init], [np.array(states[2:])])


def backwards() -> Case:
    x, h0 = at.dvector("x"), at.dscalar("h0")
    out, _ = ag.scan(lambda x_t, h: h * 0.5 + x_t, sequences=x, outputs_info=h0, go_backwards=True, n_steps=7)
    xs, h, expected = RNG.normal(size=10), 2.0, []
    for x_t in xs[::-1][:7]:
        h = h * 0.5 + x_t
        expected.append(h)
    return Case([x, h0], [out], [xs, 2.0], [np.array(expected)])


def until_limit() -> Case:
    """Doubling until the value passes a limit: the loop stops after the step whose condition is true."""
    h0, limit = at.dscalar("h0"), at.dscalar("limit")
    out, _ = ag.scan(lambda h, lim: (h * 2, ag.scan_module.until(h * 2 > lim)), outputs_info=h0,
                     non_sequences=limit, n_steps=1000)
    expected = [0.75 * 2 ** k for k in range(1, 8)]
    return Case([h0, limit], [out], [0.75, 50.0], [np.array(expected)])


def several_outputs() -> Case:
    """A recurrent output next to two outputs that are not fed back (None in outputs_info)."""
    x, h0 = at.dmatrix("x"), at.dvector("h0")
    (h, norm, twice), _ = ag.scan(lambda x_t, h: (h + x_t, (x_t ** 2).sum(), 2 * x_t), sequences=x,
                                  outputs_info=[h0, None, None])
    xs, init = RNG.normal(size=(6, 3)), RNG.normal(size=3)
    return Case([x, h0], [h, norm, twice], [xs, init], [init + np.cumsum(xs, axis=0), (xs ** 2).sum(1), 2 * xs])


def shorthands() -> Case:
    x = at.dvector("x")
    squares, _ = ag.map(lambda v: v * v, sequences=x)
    total, _ = ag.reduce(lambda v, acc: acc + v, sequences=x, outputs_info=at.constant(0.0))
    left, _ = ag.foldl(lambda v, acc: acc * 0.5 + v, sequences=x, outputs_info=at.constant(0.0))
    right, _ = ag.foldr(lambda v, acc: acc * 0.5 + v, sequences=x, outputs_info=at.constant(0.0))
    xs = RNG.normal(size=9)
    fold = lambda values: __import__("functools").reduce(lambda acc, v: acc * 0.5 + v, values, 0.0)  # noqa: E731
    return Case([x], [squares, total, left, right], [xs], [xs * xs, xs.sum(), fold(xs), fold(xs[::-1])])


def rnn_weights(n_in=3, n_hidden=5):
    return (RNG.normal(size=(n_in, n_hidden)) * 0.5, RNG.normal(size=(n_hidden, n_hidden)) * 0.4,
            RNG.normal(size=n_hidden) * 0.1)


def numpy_rnn_bptt(xs, h0, W, U, b, targets, truncate=-1):
    """The vanilla RNN h_t = tanh(x_t W + h_{t-1} U + b), cost sum((h - targets)^2)/2, and its BPTT gradients."""
    hs, h = [], h0
    for x_t in xs:
        h = np.tanh(x_t @ W + h @ U + b)
        hs.append(h)
    hs = np.array(hs)
    cost = 0.5 * np.sum((hs - targets) ** 2)
    gW, gU, gb, gx = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b), np.zeros_like(xs)
    carry = np.zeros_like(h0)
    n = len(xs)
    steps = range(n - 1, -1, -1) if truncate == -1 else range(n - 1, max(n - 1 - truncate, -1), -1)
    for t in steps:
        g = (hs[t] - targets[t]) + carry
        da = g * (1 - hs[t] ** 2)
        prev = hs[t - 1] if t > 0 else h0
        gW += xs[t].T @ da
        gU += prev.T @ da
        gb += da.sum(0)
        gx[t] = da @ W.T
        carry = da @ U.T
    g_h0 = carry if truncate == -1 or truncate >= n else np.zeros_like(h0)
    return hs, cost, gW, gU, gb, gx, g_h0


def rnn_bptt(truncate: int = -1) -> Case:
    """A vanilla RNN over a batch, with the gradients of a squared error by backpropagation through time."""
    X, h0, targets = at.tensor3("X"), at.dmatrix("h0"), at.tensor3("targets")
    W, U, b = (ag.shared(v, name) for v, name in zip(rnn_weights(), ("W", "U", "b")))
    hs, _ = ag.scan(lambda x_t, h: at.tanh(at.dot(x_t, W) + at.dot(h, U) + b), sequences=X, outputs_info=h0,
                    truncate_gradient=truncate)
    cost = 0.5 * ((hs - targets) ** 2).sum()
    grads = ag.grad(cost, [W, U, b, X, h0])
    xs, init, ts = RNG.normal(size=(8, 4, 3)), RNG.normal(size=(4, 5)), RNG.normal(size=(8, 4, 5))
    expected = numpy_rnn_bptt(xs, init, W.get_value(), U.get_value(), b.get_value(), ts, truncate)
    return Case([X, h0, targets], [hs, cost, *grads], [xs, init, ts], list(expected))


def numpy_lstm(xs, h0, c0, Wx, Wh, bias):
    n = h0.shape[-1]
    h, c, hs = h0, c0, []
    for x_t in xs:
        z = x_t @ Wx + h @ Wh + bias
        i, f, o, g = _np_sigmoid(z[..., :n]), _np_sigmoid(z[..., n:2 * n]), _np_sigmoid(z[..., 2 * n:3 * n]), \
            np.tanh(z[..., 3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    return np.array(hs), c


def lstm_step(x_t, h, c, Wx, Wh, bias, n):
    z = at.dot(x_t, Wx) + at.dot(h, Wh) + bias
    i, f, o = at.sigmoid(z[:, :n]), at.sigmoid(z[:, n:2 * n]), at.sigmoid(z[:, 2 * n:3 * n])
    g = at.tanh(z[:, 3 * n:])
    c_new = f * c + i * g
    return o * at.tanh(c_new), c_new


def lstm() -> Case:
    """The LSTM of the tutorials (gates from one product), its hidden states and last cell."""
    n, n_in = 4, 3
    X, h0, c0 = at.tensor3("X"), at.dmatrix("h0"), at.dmatrix("c0")
    Wx, Wh, bias = (ag.shared(RNG.normal(size=s) * 0.4, name)
                    for s, name in (((n_in, 4 * n), "Wx"), ((n, 4 * n), "Wh"), ((4 * n,), "bias")))
    (hs, cs), _ = ag.scan(lambda x_t, h, c: lstm_step(x_t, h, c, Wx, Wh, bias, n), sequences=X,
                          outputs_info=[h0, c0])
    xs, h_init, c_init = RNG.normal(size=(7, 2, n_in)), RNG.normal(size=(2, n)), RNG.normal(size=(2, n))
    exp_h, exp_c = numpy_lstm(xs, h_init, c_init, Wx.get_value(), Wh.get_value(), bias.get_value())
    return Case([X, h0, c0], [hs, cs[-1]], [xs, h_init, c_init], [exp_h, exp_c])


def standin_uniform(state):
    """A deterministic stand-in for a random stream (an LCG on a float64 state): next state, uniform draw."""
    new = (state * 9301.0 + 49297.0) % 233280.0
    return new, new / 233280.0


def gibbs_chain() -> Case:
    """An RBM Gibbs chain v -> h -> v, its draws from a shared generator state updated by every step.

    The generator is a stand-in for random streams (an LCG), but the mechanism is scan's for real: the step
    returns the state's update, scan returns it as an update of the shared variable, function(updates=)
    commits it, and the next call continues the chain from there.
    """
    n_v, n_h = 6, 4
    W = RNG.normal(size=(n_v, n_h))
    bv, bh = RNG.normal(size=n_v) * 0.1, RNG.normal(size=n_h) * 0.1
    state = ag.shared(np.float64(12345.0), "rng_state")
    v0, k = at.dvector("v0"), at.lscalar("k")

    def gibbs_step(v, W_, bv_, bh_):
        s1, u_h = standin_uniform(state)
        u_h = (u_h + at.arange(n_h) * 0.1237) % 1.0
        h = at.cast(u_h < at.sigmoid(at.dot(v, W_) + bh_), "float64")
        s2, u_v = standin_uniform(s1)
        u_v = (u_v + at.arange(n_v) * 0.0771) % 1.0
        v_new = at.cast(u_v < at.sigmoid(at.dot(W_, h) + bv_), "float64")
        return v_new, {state: s2}

    chain, updates = ag.scan(gibbs_step, outputs_info=v0, non_sequences=[at.constant(W), at.constant(bv),
                                                                          at.constant(bh)], n_steps=k)

    def numpy_chain(v, s, steps):
        out = []
        for _ in range(steps):
            s, u = standin_uniform(s)
            h = (((u + np.arange(n_h) * 0.1237) % 1.0) < _np_sigmoid(v @ W + bh)).astype(float)
            s, u = standin_uniform(s)
            v = (((u + np.arange(n_v) * 0.0771) % 1.0) < _np_sigmoid(W @ h + bv)).astype(float)
            out.append(v)
        return np.array(out), s

    start = (RNG.random(n_v) < 0.5).astype(float)
    samples, final = numpy_chain(start, 12345.0, 15)
    case = Case([v0, k], [chain], [start, 15], [samples], updates=updates)
    case.numpy_chain = numpy_chain
    case.state = state
    case.final_state = final
    return case


CASES = {
    "cumsum": cumsum, "polynomial": polynomial, "taps": taps, "backwards": backwards, "until": until_limit,
    "several_outputs": several_outputs, "shorthands": shorthands, "rnn_bptt": rnn_bptt,
    "rnn_truncated": lambda: rnn_bptt(truncate=3), "lstm": lstm,
}

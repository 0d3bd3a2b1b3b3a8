"""scan: per-step overhead, and an RNN's forward pass + BPTT gradient, against numpy loops (one run).

    python benchmarks/bench_scan.py [--steps 1000000] [--rounds 15] [--breakdown]

1. Per-step overhead: `scan(lambda x_t, h: h + x_t, sequences=x)` over 10^6 float64 steps, compiled
   (FAST_RUN), in ns per step, next to the same loop in Python over a numpy array and np.cumsum (no loop).
   Target (issue 11): <= 20 ns per step.
2. A vanilla RNN (64 units, batch 32, 64 inputs, 200 steps): cost and the gradients of W, U, b by
   backpropagation through time, one compiled call, against the same step written with numpy in a Python
   loop. Target: <= 0.5x numpy's time (and <= 0.5x PyTensor's C mode, measured when pytensor is installed).
   The contenders take turns (`--rounds` rounds of a few calls each), and each figure is the median of its
   rounds: on a shared machine, load that comes and goes then weighs on all of them alike. `--breakdown`
   prints where a compiled call's time goes, node by node (per call and per step), from a profiled run.
"""

from __future__ import annotations

import argparse
import os
import time
import timeit
import warnings

# One BLAS thread unless set: OpenBLAS sizes its thread pool by the machine's CPUs, and on a machine whose few
# cores are busy with other work its threads wait for each other: one (64 x 6400) @ (6400 x 64) product then
# took ~0.5 s instead of ~2 ms here (the numpy loop's small products run on one thread either way).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# and one thread for aotgraph's own loops too: the numpy loop and PyTensor run on one core, and so should we
os.environ.setdefault("AOTGRAPH_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import aotgraph as ag  # noqa: E402
import aotgraph.tensor as at  # noqa: E402


def best(fn, number: int, repeat: int = 3) -> float:
    """Fastest seconds per call of `fn` over `repeat` runs of `number` calls."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def per_step(steps: int) -> dict:
    x = at.dvector("x")
    out, _ = ag.scan(lambda x_t, h: h + x_t, sequences=x, outputs_info=at.constant(0.0))
    f = ag.function([x], out, mode="FAST_RUN")
    xs = np.random.default_rng(0).random(steps)
    assert np.allclose(f(xs), np.cumsum(xs))

    def python_loop():
        out, h = np.empty_like(xs), 0.0
        for t in range(len(xs)):
            h = h + xs[t]
            out[t] = h
        return out

    return {
        "aotgraph scan (FAST_RUN)": best(lambda: f(xs), 1) / steps,
        "Python loop over numpy": best(python_loop, 1) / steps,
        "np.cumsum (no loop)": best(lambda: np.cumsum(xs), 5) / steps,
    }


def rnn_graph(n_in: int, n_hidden: int, rng):
    W = ag.shared(rng.normal(size=(n_in, n_hidden)) * 0.1, "W")
    U = ag.shared(rng.normal(size=(n_hidden, n_hidden)) * 0.1, "U")
    b = ag.shared(np.zeros(n_hidden), "b")
    X, h0, targets = at.tensor3("X"), at.dmatrix("h0"), at.tensor3("targets")
    hs, _ = ag.scan(lambda x_t, h: at.tanh(at.dot(x_t, W) + at.dot(h, U) + b), sequences=X, outputs_info=h0)
    cost = 0.5 * ((hs - targets) ** 2).sum()
    return [X, h0, targets], [cost, *ag.grad(cost, [W, U, b])], (W, U, b)


def numpy_rnn_step(xs, h0, targets, W, U, b):
    hs, h = [], h0
    for x_t in xs:
        h = np.tanh(x_t @ W + h @ U + b)
        hs.append(h)
    hs = np.array(hs)
    cost = 0.5 * np.sum((hs - targets) ** 2)
    gW, gU, gb, carry = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b), np.zeros_like(h0)
    for t in range(len(xs) - 1, -1, -1):
        da = (hs[t] - targets[t] + carry) * (1 - hs[t] ** 2)
        gW += xs[t].T @ da
        gU += (hs[t - 1] if t else h0).T @ da
        gb += da.sum(0)
        carry = da @ U.T
    return cost, gW, gU, gb


def rnn(steps: int = 200, batch: int = 32, n_in: int = 64, n_hidden: int = 64, rounds: int = 15,
        breakdown: bool = False) -> dict:
    rng = np.random.default_rng(0)
    inputs, outputs, (W, U, b) = rnn_graph(n_in, n_hidden, rng)
    f = ag.function(inputs, outputs, mode="FAST_RUN")
    args = [rng.normal(size=(steps, batch, n_in)), np.zeros((batch, n_hidden)), rng.normal(size=(steps, batch,
                                                                                                    n_hidden))]
    weights = [W.get_value(), U.get_value(), b.get_value()]
    for got, expected in zip(f(*args), numpy_rnn_step(*args, *weights)):
        assert np.allclose(got, expected, rtol=1e-9, atol=1e-9)
    contenders = {"aotgraph (FAST_RUN)": lambda: f(*args), "numpy, Python loop": lambda: numpy_rnn_step(
        *args, *weights)}
    try:
        contenders["PyTensor (C mode)"] = pytensor_rnn(args, weights)
    except ImportError:
        pass
    times: dict[str, list] = {what: [] for what in contenders}
    for _ in range(rounds):  # in turns: each round times every contender, a few calls each
        for what, fn in contenders.items():
            times[what].append(best(fn, 3, repeat=1))
    if breakdown:
        print_breakdown(inputs, outputs, args, steps)
    return {what: float(np.median(t)) for what, t in times.items()}


def print_breakdown(inputs, outputs, args, steps: int) -> None:
    """Where a compiled call's time goes: each node's share, per call and per step (a profiled function)."""
    f = ag.function(inputs, outputs, mode="FAST_RUN", profile=True)
    calls = 30
    for _ in range(calls):
        f(*args)
    stats = f.profile
    rows = sorted(((t, label) for (_, label), t in stats.node_time.items()), reverse=True)
    total = sum(t for t, _ in rows)
    print(f"  breakdown of a compiled call (profiled, {calls} calls; {total / calls * 1e3:.2f} ms per call):")
    for seconds, label in rows[:12]:
        text = label if len(label) < 70 else label[:67] + "..."
        print(f"    {seconds / calls * 1e3:7.3f} ms  {seconds / calls / steps * 1e6:7.2f} us/step  {text}")


def pytensor_rnn(args, weights):
    """The same program in PyTensor's C mode: a function of no argument that runs it once."""
    import pytensor
    import pytensor.tensor as pt

    W, U, b = (pytensor.shared(w) for w in weights)
    X, h0, targets = pt.tensor3("X"), pt.dmatrix("h0"), pt.tensor3("targets")
    with warnings.catch_warnings():  # (pytensor 3 announces a change of scan's return value)
        warnings.simplefilter("ignore", DeprecationWarning)
        hs, _ = pytensor.scan(lambda x_t, h: pt.tanh(pt.dot(x_t, W) + pt.dot(h, U) + b), sequences=X,
                              outputs_info=h0)
    cost = 0.5 * ((hs - targets) ** 2).sum()
    f = pytensor.function([X, h0, targets], [cost, *pytensor.grad(cost, [W, U, b])], mode="CVM")
    return lambda: f(*args)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10**6)
    parser.add_argument("--rounds", type=int, default=15, help="RNN: rounds of turns between the contenders")
    parser.add_argument("--breakdown", action="store_true", help="RNN: where a compiled call's time goes")
    options = parser.parse_args()
    steps = options.steps
    start = time.perf_counter()
    rows = per_step(steps)
    print(f"per-step overhead, scan(h + x_t) over {steps} float64 steps (target <= 20 ns/step)")
    base = rows["Python loop over numpy"]
    for what, seconds in rows.items():
        print(f"  {what:32} {seconds * 1e9:10.1f} ns/step   {seconds / base:6.3f}x the Python loop")
    print("RNN 64 units, batch 32, 64 inputs, 200 steps: forward + BPTT gradient of W, U, b (target <= 0.5x; "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"AOTGRAPH_NUM_THREADS={os.environ['AOTGRAPH_NUM_THREADS']}; medians of {options.rounds} rounds)")
    rows = rnn(rounds=options.rounds, breakdown=options.breakdown)
    base = rows["numpy, Python loop"]
    for what, seconds in rows.items():
        print(f"  {what:32} {seconds * 1e3:10.2f} ms        {seconds / base:6.3f}x numpy")
    if "PyTensor (C mode)" not in rows:
        print("  (pytensor is not installed: no PyTensor figure)")
    print(f"(benchmark ran {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

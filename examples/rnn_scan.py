"""An Elman RNN trained with backpropagation through time, written as a Theano program (only the imports change).

    python examples/rnn_scan.py [--epochs 300] [--mode FAST_COMPILE|FAST_RUN]

The task: read a sequence of numbers and output, at every step, the sum of the last three inputs (a memory
task a recurrent net learns in a few hundred steps). The recurrence is `theano.scan`; the gradients of
the squared error with respect to every weight are `theano.grad` through the scan (a backwards scan); the
weights are shared variables updated by the training function. It prints the cost going down.

In Theano:                         here:
    import theano                      import aotgraph as theano
    import theano.tensor as T          import aotgraph.tensor as T
"""

from __future__ import annotations

import argparse

import numpy as np

import aotgraph as theano
import aotgraph.tensor as T

N_HIDDEN = 16


def make_data(rng: np.random.RandomState, steps: int = 20, batch: int = 32):
    x = rng.uniform(-1, 1, size=(steps, batch, 1))
    y = x.copy()
    y[1:] += x[:-1]
    y[2:] += x[:-2]
    return x, y


def build_model(rng: np.random.RandomState, mode=None, learning_rate: float = 0.05):
    """The net, its cost and a training function (names as a Theano user writes them)."""
    x = T.tensor3("x")  # (time, batch, 1)
    y = T.tensor3("y")
    W_in = theano.shared(rng.normal(0, 0.5, (1, N_HIDDEN)), name="W_in")
    W_rec = theano.shared(rng.normal(0, 0.2, (N_HIDDEN, N_HIDDEN)), name="W_rec")
    b = theano.shared(np.zeros(N_HIDDEN), name="b")
    W_out = theano.shared(rng.normal(0, 0.3, (N_HIDDEN, 1)), name="W_out")
    params = [W_in, W_rec, b, W_out]

    def step(x_t, h_tm1):
        h_t = T.tanh(T.dot(x_t, W_in) + T.dot(h_tm1, W_rec) + b)
        return h_t, T.dot(h_t, W_out)

    h0 = T.zeros((x.shape[1], N_HIDDEN))
    (h, y_pred), _ = theano.scan(step, sequences=x, outputs_info=[h0, None])
    cost = ((y_pred - y) ** 2).mean()
    grads = theano.grad(cost, params)
    updates = [(p, p - learning_rate * g) for p, g in zip(params, grads)]
    train = theano.function([x, y], cost, updates=updates, mode=mode, name="train")
    return train, params


def main(argv=None) -> list[float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--mode", default=None)
    args = parser.parse_args(argv)
    rng = np.random.RandomState(0)
    train, _ = build_model(rng, mode=args.mode)
    x, y = make_data(rng)
    costs = []
    for epoch in range(args.epochs):
        costs.append(float(train(x, y)))
        if epoch % max(args.epochs // 10, 1) == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch:4d}  cost {costs[-1]:.5f}")
    return costs


if __name__ == "__main__":
    main()

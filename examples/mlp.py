"""A two-layer perceptron trained by SGD with momentum on three interleaved spirals.

    python examples/mlp.py [--steps 1000] [--activation tanh|relu] [--mode FAST_COMPILE|FAST_RUN]

hidden = act(x @ W1 + b1); class probabilities = softmax(hidden @ W2 + b2); the loss is the mean
softmax cross-entropy plus L2 weight decay. Each step updates eight shared variables at once: the
four parameters and their four velocities (classical momentum: v <- mu v - lr g; p <- p + v).
The script prints the loss curve and the training accuracy.
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import numpy as np

import aotgraph as ag
import aotgraph.tensor as at


def make_spirals(rng: np.random.Generator, per_class: int = 100, classes: int = 3, noise: float = 0.2):
    """Points on `classes` interleaved spiral arms in 2-d; returns (x, labels, one-hot targets)."""
    x = np.zeros((per_class * classes, 2))
    labels = np.zeros(per_class * classes, dtype=np.int64)
    for c in range(classes):
        r = np.linspace(0.0, 1.0, per_class)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, per_class) + rng.normal(0.0, noise, per_class)
        x[c * per_class:(c + 1) * per_class] = np.column_stack([r * np.sin(t), r * np.cos(t)])
        labels[c * per_class:(c + 1) * per_class] = c
    return x, labels, np.eye(classes)[labels]


def log_softmax(z):
    """log softmax over the last axis, shifted by the row maximum so that exp never overflows."""
    if hasattr(at, "log_softmax"):
        return at.log_softmax(z, axis=-1)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - at.log(at.exp(shifted).sum(axis=-1, keepdims=True))


def build_model(rng: np.random.Generator, hidden: int = 64, classes: int = 3, activation: str = "tanh",
                lr: float = 0.5, momentum: float = 0.9, reg: float = 1e-3, mode=None) -> SimpleNamespace:
    x = at.dmatrix("x")
    y = at.dmatrix("y")  # one-hot targets
    params = {
        "W1": ag.shared(rng.normal(0.0, 1.0, (2, hidden)), name="W1"),
        "b1": ag.shared(np.zeros(hidden), name="b1"),
        "W2": ag.shared(rng.normal(0.0, 1.0 / np.sqrt(hidden), (hidden, classes)), name="W2"),
        "b2": ag.shared(np.zeros(classes), name="b2"),
    }
    act = {"tanh": at.tanh, "relu": at.relu}[activation]
    h = act(at.dot(x, params["W1"]) + params["b1"])
    logp = log_softmax(at.dot(h, params["W2"]) + params["b2"])
    xent = -(y * logp).sum(axis=1).mean()
    loss = xent + 0.5 * reg * ((params["W1"] ** 2).sum() + (params["W2"] ** 2).sum())
    grads = dict(zip(params, ag.grad(loss, list(params.values()))))
    velocities = {k: ag.shared(np.zeros_like(p.get_value()), name=f"v_{k}") for k, p in params.items()}
    updates = []
    for k, p in params.items():
        v_new = momentum * velocities[k] - lr * grads[k]
        updates += [(velocities[k], v_new), (p, p + v_new)]
    train = ag.function([x, y], loss, updates=updates, mode=mode, name="train")
    predict = ag.function([x], logp.argmax(axis=1), mode=mode, name="predict")
    return SimpleNamespace(x=x, y=y, params=params, velocities=velocities, loss=loss, grads=grads,
                           train=train, predict=predict, activation=activation, reg=reg)


def train_model(model: SimpleNamespace, data, steps: int, report_every: int | None = None,
                verbose: bool = True) -> list[tuple[int, float, float]]:
    """Full-batch steps; returns (step, loss before the step, training accuracy) at each report."""
    x, labels, onehot = data
    report_every = report_every or max(1, steps // 15)
    history = []
    for i in range(steps):
        loss = float(model.train(x, onehot))
        if i % report_every == 0 or i == steps - 1:
            accuracy = float(np.mean(model.predict(x) == labels))
            history.append((i, loss, accuracy))
            if verbose:
                bar = "#" * int(round(40 * min(loss, 1.2) / 1.2))
                print(f"step {i:5d}   loss {loss:8.5f}   accuracy {accuracy:6.1%}   {bar}")
    return history


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--activation", choices=("tanh", "relu"), default="tanh")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--mode", default=None, help="FAST_COMPILE (numpy reference) or FAST_RUN (Cython)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    data = make_spirals(rng)
    model = build_model(rng, args.hidden, activation=args.activation, lr=args.lr, momentum=args.momentum,
                        mode=args.mode)
    print(f"{len(data[0])} points, 3 classes; {args.hidden} {args.activation} hidden units; "
          f"SGD lr={args.lr} momentum={args.momentum}")
    history = train_model(model, data, args.steps)
    accuracy = float(np.mean(model.predict(data[0]) == data[1]))
    print(f"final loss {history[-1][1]:.5f}; training accuracy {accuracy:.1%}")
    return {"history": history, "accuracy": accuracy, "model": model}


if __name__ == "__main__":
    main()

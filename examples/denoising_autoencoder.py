"""A denoising autoencoder, written as the Deep Learning Tutorials' dA.py writes it, with aotgraph's imports.

    python examples/denoising_autoencoder.py [--epochs 30] [--corruption 0.3] [--mode FAST_COMPILE|FAST_RUN]

Each training step corrupts its minibatch afresh (`RandomStreams.binomial(size=x.shape, n=1, p=1 - level)
* x`: the stream's state is a shared variable whose default update draws new numbers on every call),
encodes it with sigmoid(x~ W + b), decodes with the tied weights, sigmoid(y W' + b'), and takes an SGD step
on the reconstruction cross-entropy against the clean input. The data: noisy copies of a few binary
prototypes, which the autoencoder learns to restore. The script prints the cost per epoch and how well the
trained model denoises unseen corrupted inputs.
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import numpy as np

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.tensor.shared_randomstreams import RandomStreams


def make_patterns(rng: np.random.Generator, count: int = 600, visible: int = 64, prototypes: int = 6,
                  flip: float = 0.05) -> np.ndarray:
    """`count` binary vectors, each one of a few random prototypes with a fraction `flip` of its bits flipped."""
    base = rng.random((prototypes, visible)) < 0.5
    picks = base[rng.integers(0, prototypes, count)]
    return np.where(rng.random(picks.shape) < flip, ~picks, picks).astype(np.float64)


class DenoisingAutoencoder:
    """The tutorial's dA: tied weights W (visible x hidden), hidden bias b, visible bias b_prime."""

    def __init__(self, rng: np.random.Generator, theano_rng: RandomStreams, visible: int, hidden: int):
        bound = 4 * np.sqrt(6.0 / (visible + hidden))
        self.W = ag.shared(rng.uniform(-bound, bound, (visible, hidden)), name="W")
        self.b = ag.shared(np.zeros(hidden), name="b")
        self.b_prime = ag.shared(np.zeros(visible), name="b_prime")
        self.params = [self.W, self.b, self.b_prime]
        self.theano_rng = theano_rng

    def get_corrupted_input(self, x, corruption_level):
        return self.theano_rng.binomial(size=x.shape, n=1, p=1 - corruption_level, dtype="float64") * x

    def get_hidden_values(self, x):
        return at.sigmoid(at.dot(x, self.W) + self.b)

    def get_reconstructed_input(self, hidden):
        return at.sigmoid(at.dot(hidden, self.W.T) + self.b_prime)

    def get_cost_updates(self, x, corruption_level, learning_rate):
        tilde_x = self.get_corrupted_input(x, corruption_level)
        z = self.get_reconstructed_input(self.get_hidden_values(tilde_x))
        cost = at.mean(-at.sum(x * at.log(z) + (1 - x) * at.log(1 - z), axis=1))
        grads = ag.grad(cost, self.params)
        return cost, [(p, p - learning_rate * g) for p, g in zip(self.params, grads)], tilde_x


def build(seed: int = 0, visible: int = 64, hidden: int = 32, corruption: float = 0.3, learning_rate: float = 0.1,
          mode=None) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    da = DenoisingAutoencoder(rng, RandomStreams(rng.integers(2**30)), visible, hidden)
    x = at.dmatrix("x")
    cost, updates, tilde_x = da.get_cost_updates(x, corruption, learning_rate)
    train = ag.function([x], cost, updates=updates, mode=mode, name="train")
    reconstruct = ag.function([x], da.get_reconstructed_input(da.get_hidden_values(x)), mode=mode,
                              name="reconstruct")
    return SimpleNamespace(da=da, x=x, cost=cost, tilde_x=tilde_x, train=train, reconstruct=reconstruct, rng=rng,
                           corruption=corruption, learning_rate=learning_rate)


def denoising_error(model: SimpleNamespace, clean: np.ndarray, level: float) -> tuple[float, float]:
    """(fraction of wrong bits in the corrupted input, in its reconstruction), with fresh numpy corruption."""
    corrupted = clean * (model.rng.random(clean.shape) >= level)
    restored = model.reconstruct(corrupted) > 0.5
    return float(np.mean(corrupted != clean)), float(np.mean(restored != clean))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--corruption", type=float, default=0.3)
    parser.add_argument("--mode", default=None, help="FAST_COMPILE (numpy reference) or FAST_RUN (Cython)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    model = build(args.seed, corruption=args.corruption, mode=args.mode)
    data = make_patterns(model.rng)
    train_set, test_set = data[:500], data[500:]
    costs = []
    for epoch in range(args.epochs):
        batch_costs = [float(model.train(train_set[i:i + args.batch])) for i in range(0, len(train_set), args.batch)]
        costs.append(float(np.mean(batch_costs)))
        print(f"epoch {epoch:3d}   reconstruction cost {costs[-1]:.4f}")
    before, after = denoising_error(model, test_set, args.corruption)
    print(f"unseen inputs with {args.corruption:.0%} of their bits dropped: {before:.1%} wrong bits before, "
          f"{after:.1%} after the autoencoder")
    return {"costs": costs, "error_before": before, "error_after": after, "model": model}


if __name__ == "__main__":
    main()

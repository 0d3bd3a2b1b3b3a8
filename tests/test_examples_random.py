"""The denoising autoencoder example (the tutorials' dA.py with aotgraph's imports): its gradients equal
hand-derived numpy gradients for the corruption each call drew, and it learns to denoise."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os

import numpy as np

import aotgraph as ag

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dA = load_example("denoising_autoencoder")


def numpy_grads(clean, corrupted, W, b, b_prime):
    """Backpropagation by hand: y = sigmoid(x~ W + b), z = sigmoid(y W^T + b'), mean cross-entropy to x."""
    y = 1 / (1 + np.exp(-(corrupted @ W + b)))
    z = 1 / (1 + np.exp(-(y @ W.T + b_prime)))
    dz = (z - clean) / len(clean)  # d cost / d (pre-sigmoid of z)
    dy = (dz @ W) * y * (1 - y)
    return corrupted.T @ dy + dz.T @ y, dy.sum(axis=0), dz.sum(axis=0)


def test_gradients_equal_hand_derived_for_the_drawn_corruption():
    model = dA.build(seed=1, visible=16, hidden=8, mode="FAST_COMPILE")
    clean = dA.make_patterns(model.rng, count=12, visible=16)
    grads = ag.function([model.x], [model.tilde_x, *ag.grad(model.cost, model.da.params)], mode="FAST_COMPILE")
    seen = []
    for _ in range(3):
        corrupted, *got = grads(clean)
        assert set(np.unique(corrupted)) <= {0.0, 1.0} and np.all(corrupted <= clean)
        seen.append(corrupted)
        want = numpy_grads(clean, corrupted, *(p.get_value() for p in model.da.params))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
        model.train(clean)
    assert not np.array_equal(seen[0], seen[1])  # each call corrupts afresh


def test_training_lowers_the_cost_and_denoises():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = dA.main(["--epochs", "15", "--mode", "FAST_COMPILE"])
    costs = result["costs"]
    assert costs[-1] < 0.6 * costs[0]
    assert result["error_after"] < 0.5 * result["error_before"]
    assert "after the autoencoder" in out.getvalue()

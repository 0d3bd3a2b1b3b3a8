"""The training examples: their symbolic gradients equal hand-derived numpy gradients, and they train."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os

import numpy as np
import pytest

import aotgraph as ag

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_quietly(main, argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = main(argv)
    return result, out.getvalue()


def available_modes() -> list[str]:
    from aotgraph.compile.mode import get_mode

    try:
        get_mode("FAST_RUN")
    except (NotImplementedError, ValueError):
        return ["FAST_COMPILE"]
    return ["FAST_COMPILE", "FAST_RUN"]


logreg = load_example("logistic_regression")
mlp = load_example("mlp")


# ---- logistic regression ----------------------------------------------------------------------------


def logreg_numpy_grads(X, Y, w, b):
    """d/dw and d/db of mean cross-entropy + 0.01 |w|^2, with p = sigmoid(Xw + b): (p - y) X / N + 0.02 w."""
    p = 1 / (1 + np.exp(-(X @ w) - b))
    return X.T @ (p - Y) / len(Y) + 0.02 * w, np.mean(p - Y)


def test_logistic_regression_gradients_equal_hand_derived():
    rng = np.random.RandomState(3)
    X, Y = logreg.make_data(rng)
    model = logreg.build_model(rng, init_scale=0.01)
    grads = ag.function([model.x, model.y], [model.gw, model.gb])
    for _ in range(3):  # at the start, and after training steps moved w and b
        gw, gb = grads(X, Y)
        want_w, want_b = logreg_numpy_grads(X, Y, model.w.get_value(), float(model.b.get_value()))
        np.testing.assert_allclose(gw, want_w, rtol=0, atol=1e-10)
        np.testing.assert_allclose(gb, want_b, rtol=0, atol=1e-10)
        for _ in range(5):
            model.train(X, Y)
    assert float(model.b.get_value()) != 0.0


def test_logistic_regression_trains():
    result, text = run_quietly(logreg.main, ["--steps", "60", "--no-build"])
    costs = [c for _, c, _ in result["history"]]
    assert costs[-1] < 0.5 * costs[0]
    assert all(b < a for a, b in zip(costs, costs[1:]))
    assert result["accuracy"] > 0.9
    assert "training accuracy" in text and "accuracy of predict on the training data" in text


# ---- MLP ---------------------------------------------------------------------------------------------


def mlp_numpy_grads(X, T, p, activation, reg):
    """Backpropagation by hand for act(X W1 + b1) W2 + b2 -> softmax cross-entropy + reg/2 |W|^2."""
    z1 = X @ p["W1"] + p["b1"]
    h = np.tanh(z1) if activation == "tanh" else np.maximum(z1, 0)
    z2 = h @ p["W2"] + p["b2"]
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    dz2 = (probs - T) / len(X)
    dh = dz2 @ p["W2"].T
    dz1 = dh * (1 - h**2) if activation == "tanh" else dh * (z1 > 0)
    return {
        "W1": X.T @ dz1 + reg * p["W1"], "b1": dz1.sum(axis=0),
        "W2": h.T @ dz2 + reg * p["W2"], "b2": dz2.sum(axis=0),
    }


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_gradients_equal_hand_derived(activation):
    rng = np.random.default_rng(5)
    X, _, T = mlp.make_spirals(rng, per_class=20)
    model = mlp.build_model(rng, hidden=16, activation=activation)
    names = list(model.params)
    grads = ag.function([model.x, model.y], [model.grads[k] for k in names])
    for _ in range(2):
        values = {k: v.get_value() for k, v in model.params.items()}
        want = mlp_numpy_grads(X, T, values, activation, model.reg)
        for k, got in zip(names, grads(X, T)):
            np.testing.assert_allclose(got, want[k], rtol=0, atol=1e-10, err_msg=k)
        for _ in range(5):
            model.train(X, T)


def test_mlp_momentum_updates_every_shared_variable():
    rng = np.random.default_rng(0)
    X, _, T = mlp.make_spirals(rng, per_class=10)
    model = mlp.build_model(rng, hidden=8, momentum=0.9)
    model.train(X, T)
    params = {k: p.get_value() for k, p in model.params.items()}
    velocities = {k: v.get_value() for k, v in model.velocities.items()}
    grads = ag.function([model.x, model.y], [model.grads[k] for k in model.params])(X, T)
    model.train(X, T)
    for (k, p), g in zip(model.params.items(), grads):
        v_new = 0.9 * velocities[k] - 0.5 * g  # classical momentum, lr 0.5
        np.testing.assert_allclose(model.velocities[k].get_value(), v_new, rtol=1e-12, atol=1e-15, err_msg=k)
        np.testing.assert_allclose(p.get_value(), params[k] + v_new, rtol=1e-12, atol=1e-15, err_msg=k)
        assert np.any(v_new != 0)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_trains(activation):
    result, text = run_quietly(mlp.main, ["--steps", "150", "--activation", activation])
    losses = [loss for _, loss, _ in result["history"]]
    assert losses[-1] < 0.5 * losses[0]
    assert result["accuracy"] > 0.8
    assert "final loss" in text


# ---- both modes agree ----------------------------------------------------------------------------------


@pytest.mark.skipif("FAST_RUN" not in available_modes(), reason="the compiled backend is not available")
def test_examples_agree_across_modes():
    runs = {}
    try:
        logreg.build_model(np.random.RandomState(0), mode="FAST_RUN")
        mlp.build_model(np.random.default_rng(0), mode="FAST_RUN")
    except NotImplementedError as err:
        pytest.skip(f"the FAST_RUN backend cannot compile the examples yet: {err}")
    for mode in ("FAST_COMPILE", "FAST_RUN"):
        runs[mode] = (
            run_quietly(logreg.main, ["--steps", "40", "--no-build", "--mode", mode])[0]["history"],
            run_quietly(mlp.main, ["--steps", "40", "--mode", mode])[0]["history"],
        )
    for reference, compiled in zip(runs["FAST_COMPILE"], runs["FAST_RUN"]):
        np.testing.assert_allclose([c for _, c, _ in compiled], [c for _, c, _ in reference], rtol=1e-9)


@pytest.mark.skipif(not callable(getattr(ag, "build", None)), reason="ag.build() is not available")
def test_logistic_regression_continues_in_a_fresh_process(tmp_path):
    result, text = run_quietly(logreg.main, ["--steps", "30", "--mode", available_modes()[-1],
                                             "--build-dir", str(tmp_path)])
    fresh = result["fresh_output"]
    first = float(fresh.split("first cross-entropy ")[1].split(",")[0])
    last = float(fresh.split(", last ")[1].split()[0])
    assert last < first
    saved = float(text.split("in-process cross-entropy from the weights saved by the build: ")[1].split()[0])
    assert abs(first - saved) < 2e-6  # it continued from the saved weights
    assert "predict agrees with train's prediction: True" in fresh

"""Logistic regression: the Theano tutorial's "real example", ported by changing the imports.

    python examples/logistic_regression.py [--steps 2000] [--mode FAST_COMPILE|FAST_RUN] [--build-dir DIR]

400 random samples with 784 features and random 0/1 labels; the model is trained by gradient
descent with `ag.grad` and shared-variable updates, printing the cost going down and the accuracy
on the training data. Then, when `ag.build` is available, `train` and `predict` are built into one
extension module, and a fresh Python process in which aotgraph cannot be imported keeps training
from the saved weights: its first cost continues the curve, and `predict` sees the weights `train`
updated.

One difference from the tutorial: it draws w ~ N(0, 1), so with 784 features the first logits reach
+-100, where 1 - p_1 rounds to 0 and the naive cross-entropy is inf (and its gradient nan). Theano
survives that through its stabilizing rewrites (log(1 - sigmoid(z)) -> -softplus(z)); FAST_COMPILE
runs the graph as written, so by default we start from w ~ N(0, 0.01^2). `--init-scale 1` gives the
tutorial's exact start, for a mode whose rewrites stabilize the graph.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from types import SimpleNamespace

import numpy as np

import aotgraph as ag
import aotgraph.tensor as at

N = 400  # training sample size
FEATS = 784  # number of input variables


def make_data(rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """D = (input values, target class), as the tutorial draws them."""
    return rng.randn(N, FEATS), rng.randint(size=N, low=0, high=2)


def build_model(rng: np.random.RandomState, init_scale: float = 0.01, mode=None) -> SimpleNamespace:
    """The tutorial's graph and its two functions (names kept so the code reads like the tutorial)."""
    x = at.dmatrix("x")
    y = at.dvector("y")
    w = ag.shared(rng.randn(FEATS) * init_scale, name="w")
    b = ag.shared(0.0, name="b")
    p_1 = 1 / (1 + at.exp(-at.dot(x, w) - b))  # probability that target = 1
    prediction = p_1 > 0.5  # the prediction thresholded
    xent = -y * at.log(p_1) - (1 - y) * at.log(1 - p_1)  # cross-entropy loss function
    cost = xent.mean() + 0.01 * (w**2).sum()  # the cost to minimize
    gw, gb = ag.grad(cost, [w, b])  # gradient of the cost with respect to w and b
    train = ag.function(
        inputs=[x, y], outputs=[prediction, xent], updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)],
        mode=mode, name="train",
    )
    predict = ag.function(inputs=[x], outputs=prediction, mode=mode, name="predict")
    return SimpleNamespace(x=x, y=y, w=w, b=b, cost=cost, gw=gw, gb=gb, train=train, predict=predict)


def cost_value(xent: np.ndarray, w: np.ndarray) -> float:
    """The cost the model minimizes, from train's xent output and the weights it was computed with."""
    return float(xent.mean() + 0.01 * (w**2).sum())


def train_model(model: SimpleNamespace, data, steps: int, report_every: int | None = None,
                verbose: bool = True) -> list[tuple[int, float, float]]:
    """Run `steps` training steps; returns (step, cost, training accuracy) at each report."""
    report_every = report_every or max(1, steps // 10)
    history = []
    for i in range(steps):
        w_before = model.w.get_value(borrow=True).copy()
        pred, err = model.train(data[0], data[1])
        if i % report_every == 0 or i == steps - 1:
            accuracy = float(np.mean(pred == data[1]))
            history.append((i, cost_value(err, w_before), accuracy))
            if verbose:
                print(f"step {i:6d}   cost {history[-1][1]:10.6f}   training accuracy {accuracy:6.1%}")
    return history


FRESH_PROCESS = """
import sys
sys.modules["aotgraph"] = None  # aotgraph is not importable: the module runs with numpy alone
sys.path.insert(0, {build_dir!r})
import numpy as np
import {module}
data = np.load({data!r})
x, y = data["x"], data["y"]
before = {module}.predict(x)
costs = []
for i in range({steps}):
    pred, xent = {module}.train(x, y)
    costs.append(float(xent.mean()))
after = {module}.predict(x)
pred, xent = {module}.train(x, y)  # its prediction uses the weights predict just used
print("fresh process: first cross-entropy %.6f, last %.6f" % (costs[0], costs[-1]))
print("fresh process: after %d updates by train, predict agrees with train's prediction: %s "
      "(%d predictions changed)" % ({steps}, bool(np.all(after == pred)), int(np.sum(before != after))))
"""


def build_and_continue(model: SimpleNamespace, data, build_dir: str, steps: int) -> str:
    """Build train and predict into one module and continue training in a fresh process; returns its output."""
    ag.build({"train": model.train, "predict": model.predict}, "logreg_tutorial", output_dir=build_dir)
    data_path = os.path.join(build_dir, "logreg_data.npz")
    np.savez(data_path, x=data[0], y=data[1].astype(np.float64))
    _, xent = model.train(data[0], data[1])  # from the weights the build saved: the fresh process starts here
    print(f"in-process cross-entropy from the weights saved by the build: {xent.mean():.6f}")
    script = FRESH_PROCESS.format(build_dir=build_dir, module="logreg_tutorial", data=data_path, steps=steps)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the fresh process failed:\n{done.stdout}\n{done.stderr}")
    print(done.stdout, end="")
    return done.stdout


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps (the tutorial uses 10000)")
    parser.add_argument("--mode", default=None, help="FAST_COMPILE (numpy reference) or FAST_RUN (Cython)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-scale", type=float, default=0.01, help="std of the initial weights (tutorial: 1)")
    parser.add_argument("--build-dir", default=None, help="where ag.build puts the module (default: a temp dir)")
    parser.add_argument("--no-build", action="store_true", help="skip the ag.build part")
    args = parser.parse_args(argv)

    rng = np.random.RandomState(args.seed)
    data = make_data(rng)
    model = build_model(rng, args.init_scale, args.mode)
    print(f"Initial model: |w| = {np.linalg.norm(model.w.get_value()):.4f}, b = {float(model.b.get_value()):.4f}")
    history = train_model(model, data, args.steps)
    accuracy = float(np.mean(model.predict(data[0]) == data[1]))
    print(f"Final model: |w| = {np.linalg.norm(model.w.get_value()):.4f}, b = {float(model.b.get_value()):.4f}")
    print(f"accuracy of predict on the training data: {accuracy:.1%}")
    result = {"history": history, "accuracy": accuracy, "model": model}
    if args.no_build:
        return result
    if not callable(getattr(ag, "build", None)):  # (ag.build may also name the subpackage aotgraph/build)
        print("ag.build is not available in this aotgraph: skipping the ahead-of-time part")
        return result
    if args.build_dir:
        os.makedirs(args.build_dir, exist_ok=True)
        result["fresh_output"] = build_and_continue(model, data, args.build_dir, max(1, args.steps // 10))
    else:
        with tempfile.TemporaryDirectory() as build_dir:
            result["fresh_output"] = build_and_continue(model, data, build_dir, max(1, args.steps // 10))
    return result


if __name__ == "__main__":
    main()

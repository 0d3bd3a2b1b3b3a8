"""examples/lenet.py, small: LeNet trains on synthetic digits and its built predict module classifies in a
process where aotgraph cannot be imported."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os

import numpy as np

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "lenet.py")


def load_lenet():
    spec = importlib.util.spec_from_file_location("example_lenet", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lenet = load_lenet()


def test_synthetic_digits_cover_every_class():
    images, labels = lenet.seven_segment_digits(np.random.default_rng(0), 300)
    assert images.shape == (300, lenet.SIZE * lenet.SIZE) and set(labels) == set(range(10))
    by_class = [images[labels == d].mean(axis=0) for d in range(10)]
    assert min(np.abs(a - b).sum() for i, a in enumerate(by_class) for b in by_class[i + 1:]) > 5


def test_lenet_trains_and_its_built_module_classifies_with_numpy_alone(tmp_path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = lenet.main(["--mode", "FAST_COMPILE", "--epochs", "4", "--train", "800", "--test", "200",
                             "--out", str(tmp_path)])
    history = result["history"]
    assert all(later < earlier for earlier, later in zip(history, history[1:])), history
    assert history[-1] < history[0] - 0.3
    assert result["accuracy"] > 0.35, out.getvalue()  # chance is 0.1
    # the built module (numpy alone, in another process) predicts exactly what the trained function predicts
    np.testing.assert_array_equal(result["predicted"], result["model"].predict(result["test_x"]))
    assert result["built_accuracy"] == result["accuracy"]
    assert "numpy alone" in out.getvalue()

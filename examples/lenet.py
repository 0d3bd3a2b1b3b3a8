"""LeNet, written as in the Deep Learning Tutorials' convolutional_mlp.py, trained on small digit images.

    python examples/lenet.py [--epochs 6] [--train 2000] [--mode FAST_RUN|FAST_COMPILE] [--out DIR]

Two convolution + max-pooling + tanh layers (`conv2d` from aotgraph.tensor.nnet, `pool_2d` from
aotgraph.tensor.signal.pool, exactly Theano's calls), then a tanh hidden layer and a softmax layer,
trained by minibatch SGD with the dataset in shared variables and minibatches picked by `givens`.
The images are 16x16: scikit-learn's 8x8 digits scaled up when scikit-learn is installed (it is not a
dependency), else synthetic seven-segment digits, shifted, thickened and noisy.

Then `ag.build` compiles the predict function into a module, and a fresh Python process in which
aotgraph cannot be imported (numpy alone) loads it and classifies the test images.
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
from aotgraph.tensor.nnet import conv2d
from aotgraph.tensor.signal.pool import pool_2d

SIZE = 16  # images are SIZE x SIZE

# which of the seven segments (a top, b top right, c bottom right, d bottom, e bottom left, f top left, g middle)
# each digit lights
SEGMENTS = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"]


def seven_segment_digits(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, SIZE * SIZE) of random digits drawn with random position, size, stroke and noise."""
    labels = rng.integers(0, 10, n)
    images = np.zeros((n, SIZE, SIZE))
    for image, label in zip(images, labels):
        width, height, stroke = rng.integers(5, 8), rng.integers(10, 13), rng.integers(1, 3)
        top, left = rng.integers(0, SIZE - height + 1), rng.integers(0, SIZE - width + 1)
        mid, bottom, right = top + height // 2, top + height - stroke, left + width - stroke
        bars = {"a": (top, top + stroke, left, left + width), "d": (bottom, bottom + stroke, left, left + width),
                "g": (mid, mid + stroke, left, left + width), "f": (top, mid + stroke, left, left + stroke),
                "b": (top, mid + stroke, right, right + stroke), "e": (mid, bottom + stroke, left, left + stroke),
                "c": (mid, bottom + stroke, right, right + stroke)}
        for segment in SEGMENTS[label]:
            r0, r1, c0, c1 = bars[segment]
            image[r0:r1, c0:c1] = rng.uniform(0.7, 1.0)
    images += rng.normal(0.0, 0.15, images.shape)
    return images.reshape(n, -1), labels


def load_digits(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(images (n, SIZE * SIZE) in [0, 1]-ish, labels, where they come from)."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        return (*seven_segment_digits(rng, n), "synthetic seven-segment digits")
    digits = sklearn_digits()
    order = rng.permutation(len(digits.images))[:n]
    images = np.kron(digits.images[order] / 16.0, np.ones((1, 2, 2)))  # 8x8 -> 16x16
    return images.reshape(len(order), -1), digits.target[order], "scikit-learn's digits, scaled to 16x16"


class LeNetConvPoolLayer:
    """Convolution, max-pooling, bias and tanh: the tutorial's layer."""

    def __init__(self, rng: np.random.Generator, input, filter_shape, image_shape, poolsize=(2, 2)):
        fan_in = np.prod(filter_shape[1:])
        fan_out = filter_shape[0] * np.prod(filter_shape[2:]) // np.prod(poolsize)
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        self.W = ag.shared(rng.uniform(-bound, bound, filter_shape), name="W")
        self.b = ag.shared(np.zeros(filter_shape[0]), name="b")
        conv_out = conv2d(input=input, filters=self.W, filter_shape=filter_shape, input_shape=image_shape)
        pooled_out = pool_2d(input=conv_out, ws=poolsize, ignore_border=True)
        self.output = at.tanh(pooled_out + self.b.dimshuffle("x", 0, "x", "x"))
        self.params = [self.W, self.b]


class HiddenLayer:
    def __init__(self, rng: np.random.Generator, input, n_in: int, n_out: int):
        bound = np.sqrt(6.0 / (n_in + n_out))
        self.W = ag.shared(rng.uniform(-bound, bound, (n_in, n_out)), name="W")
        self.b = ag.shared(np.zeros(n_out), name="b")
        self.output = at.tanh(at.dot(input, self.W) + self.b)
        self.params = [self.W, self.b]


class LogisticRegression:
    def __init__(self, input, n_in: int, n_out: int):
        self.W = ag.shared(np.zeros((n_in, n_out)), name="W")
        self.b = ag.shared(np.zeros(n_out), name="b")
        self.p_y_given_x = at.softmax(at.dot(input, self.W) + self.b)
        self.y_pred = at.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]

    def negative_log_likelihood(self, y):
        return -at.mean(at.log(self.p_y_given_x)[at.arange(y.shape[0]), y])


def build_lenet(rng: np.random.Generator, train_x: np.ndarray, train_y: np.ndarray, nkerns=(6, 16),
                batch_size: int = 20, learning_rate: float = 0.3, hidden: int = 64, mode=None) -> SimpleNamespace:
    """The model, `train_model(minibatch index) -> cost` (which updates the parameters) and `predict(x)`."""
    x, y, index = at.matrix("x"), at.lvector("y"), at.lscalar("index")
    layer0_input = x.reshape((x.shape[0], 1, SIZE, SIZE))
    # 16x16 -> conv 5x5 -> 12x12 -> pool -> 6x6; then conv 3x3 -> 4x4 -> pool -> 2x2
    layer0 = LeNetConvPoolLayer(rng, layer0_input, (nkerns[0], 1, 5, 5), (None, 1, SIZE, SIZE))
    layer1 = LeNetConvPoolLayer(rng, layer0.output, (nkerns[1], nkerns[0], 3, 3), (None, nkerns[0], 6, 6))
    layer2 = HiddenLayer(rng, layer1.output.flatten(2), nkerns[1] * 2 * 2, hidden)
    layer3 = LogisticRegression(layer2.output, hidden, 10)
    cost = layer3.negative_log_likelihood(y)
    params = layer3.params + layer2.params + layer1.params + layer0.params
    grads = ag.grad(cost, params)
    updates = [(p, p - learning_rate * g) for p, g in zip(params, grads)]
    data_x = ag.shared(np.asarray(train_x, dtype=ag.config.floatX), name="train_x")
    data_y = ag.shared(np.asarray(train_y, dtype="int64"), name="train_y")
    batch = slice(index * batch_size, (index + 1) * batch_size)
    train_model = ag.function([index], cost, updates=updates, givens={x: data_x[batch], y: data_y[batch]},
                              mode=mode, name="train_model")
    predict = ag.function([x], layer3.y_pred, mode=mode, name="predict")
    return SimpleNamespace(train_model=train_model, predict=predict, params=params,
                           n_batches=len(train_x) // batch_size)


def train(model: SimpleNamespace, epochs: int, verbose: bool = True) -> list[float]:
    """Mean training cost of each epoch."""
    history = []
    for epoch in range(epochs):
        costs = [float(model.train_model(i)) for i in range(model.n_batches)]
        history.append(float(np.mean(costs)))
        if verbose:
            print(f"epoch {epoch + 1:3d}   mean cost {history[-1]:.4f}")
    return history


CLASSIFY = """
import sys
sys.modules['aotgraph'] = None  # a built module needs numpy alone
sys.path.insert(0, sys.argv[1])
import numpy as np
import {module}
images = np.load(sys.argv[2])
np.save(sys.argv[3], {module}.predict(images))
"""


def classify_with_numpy_alone(build_dir: str, module: str, images: np.ndarray) -> np.ndarray:
    """Predictions of the built module, computed in a fresh process where aotgraph cannot be imported."""
    with tempfile.TemporaryDirectory() as tmp:
        source, result = os.path.join(tmp, "images.npy"), os.path.join(tmp, "predictions.npy")
        np.save(source, images)
        done = subprocess.run([sys.executable, "-c", CLASSIFY.format(module=module), build_dir, source, result],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"classifying in a fresh process failed:\n{done.stderr}")
        return np.load(result)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--train", type=int, default=2000, help="training images")
    parser.add_argument("--test", type=int, default=500, help="test images")
    parser.add_argument("--mode", default=None, help="FAST_RUN (compiled, the default) or FAST_COMPILE (numpy)")
    parser.add_argument("--out", default=None, help="directory for the built module (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    images, labels, origin = load_digits(rng, args.train + args.test)
    train_x, train_y = images[:args.train], labels[:args.train]
    test_x, test_y = images[args.train:], labels[args.train:]
    print(f"{origin}: {len(train_x)} for training, {len(test_x)} for testing")
    model = build_lenet(rng, train_x, train_y, mode=args.mode)
    history = train(model, args.epochs)
    accuracy = float(np.mean(model.predict(test_x) == test_y))
    print(f"test accuracy in this process: {accuracy:.1%}")

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        built = ag.build({"predict": model.predict}, "lenet_digits", out)
        predicted = classify_with_numpy_alone(os.path.dirname(os.fspath(built)), built.module, test_x)
    built_accuracy = float(np.mean(predicted == test_y))
    print(f"test accuracy of the built module, numpy alone: {built_accuracy:.1%}")
    return {"history": history, "accuracy": accuracy, "built_accuracy": built_accuracy, "model": model,
            "predicted": predicted, "test_x": test_x}


if __name__ == "__main__":
    main()

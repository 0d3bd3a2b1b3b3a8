"""The graphs of kernel_demo.kernels: read at build time only (the wheel does not contain this file).

A logistic-regression step and a predictor, sharing their weights `w` and bias `b`.
"""

import numpy as np

import aotgraph as ag
import aotgraph.tensor as at


def make_functions() -> dict:
    x, y = at.dmatrix("x"), at.dvector("y")
    lr = at.dscalar("lr")
    w = ag.shared(np.zeros(3), name="w")
    b = ag.shared(np.float64(0.0), name="b")
    p = at.sigmoid(at.dot(x, w) + b)
    cost = -(y * at.log(p) + (1 - y) * at.log(1 - p)).mean()
    gw, gb = ag.grad(cost, [w, b])
    train = ag.function([x, y, ag.In(lr, value=0.5)], cost, updates=[(w, w - lr * gw), (b, b - lr * gb)],
                        name="train")
    predict = ag.function([x], p > 0.5, name="predict")
    return {"train": train, "predict": predict}

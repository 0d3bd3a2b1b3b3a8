"""kernel_demo: a small classifier whose numerical kernels were compiled by aotgraph at build time."""

from kernel_demo import kernels


def fit(x, y, steps: int = 100, lr: float = 0.5) -> float:
    """Train the shared weights on (x, y) for `steps` gradient steps; return the last cost."""
    cost = float("nan")
    for _ in range(steps):
        cost = float(kernels.train(x, y, lr))
    return cost


def predict(x):
    """Class predictions (booleans) for the rows of `x`."""
    return kernels.predict(x)

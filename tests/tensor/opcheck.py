"""Checks for op tests: a strict reference evaluation and one-rule gradient checks against central differences.

`run` evaluates like `aotgraph.compile.reference.evaluate`, and for every node also checks that
- each output has the dtype and a shape allowed by its static type,
- no perform changed its inputs (they are handed over read-only, and compared after),
- an output shares memory with an input only where the op's view_map says it may.
"""

from __future__ import annotations

import numpy as np

import aotgraph.tensor as at
from aotgraph.graph.basic import Constant, toposort
from aotgraph.graph.evaluate import evaluate
from aotgraph.graph.rules import rule_of


def run(outputs, givens):
    """Values of `outputs` (a variable or a list) under `givens`, with the checks above on every node."""
    single = not isinstance(outputs, (list, tuple))
    outputs = [outputs] if single else list(outputs)
    originals = {id(k): np.array(v) for k, v in givens.items()}
    values = {}
    for k, v in givens.items():
        v = np.array(v, dtype=k.dtype)
        v.setflags(write=False)
        values[id(k)] = v
    for node in toposort(outputs):
        args = [v.data if isinstance(v, Constant) and id(v) not in values else values[id(v)] for v in node.inputs]
        before = [a.copy() for a in args]
        with np.errstate(all="ignore"):  # like the reference backend
            results = rule_of(node.op).perform(node.op, *args)
        for arg, old in zip(args, before):
            np.testing.assert_array_equal(arg, old, err_msg=f"{node.op!r} changed an input")
        view_map = rule_of(node.op).view_map
        for i, (var, value) in enumerate(zip(node.outputs, results)):
            check_value(var, value, node)
            for j, arg in enumerate(args):
                if np.shares_memory(value, arg) and view_map.get(i) != j:
                    raise AssertionError(f"{node.op!r}: output {i} aliases input {j} without view_map")
            values[id(var)] = value
    for k, v in originals.items():
        np.testing.assert_array_equal(values[k], v)
    result = [v.data if isinstance(v, Constant) and id(v) not in values else values[id(v)] for v in outputs]
    return result[0] if single else result


def check_value(var, value, node=None):
    assert isinstance(value, np.ndarray), (node, type(value))
    assert value.dtype == var.dtype, f"{node.op if node else var!r}: dtype {value.dtype}, type says {var.type}"
    assert value.ndim == var.ndim and all(s is None or s == v for s, v in zip(var.type.shape, value.shape)), (
        f"{node.op if node else var!r}: shape {value.shape}, type says {var.type}"
    )


def check_rule_grad(out, givens, wrt, eps=1e-6, rtol=1e-6, atol=1e-7, seed=1234):
    """The gradient rule of `out.owner` against central differences of sum(out * W), W random.

    `wrt`: float64 variables among the node's inputs with values in `givens`. Only this one rule is
    called (with the symbolic output gradient W); gradients must have their input's exact shape.
    """
    node = out.owner
    assert node is not None and out is node.outputs[0]
    (value,) = evaluate([out], givens)
    w = np.random.default_rng(seed).standard_normal(value.shape).astype(out.dtype)
    gz = at.tensor(out.dtype, shape=out.type.shape, name="gz")
    grads = rule_of(node.op).grad(node.op, node.inputs, node.outputs, [gz])
    assert len(grads) == len(node.inputs)
    chosen = [grads[next(i for i, v in enumerate(node.inputs) if v is x)] for x in wrt]
    assert all(g is not None for g in chosen), chosen
    computed = run(chosen, {**givens, gz: w})
    for x, got in zip(wrt, computed):
        numeric = numeric_grad(out, givens, x, w, eps)
        assert got.shape == numeric.shape, (got.shape, numeric.shape)
        np.testing.assert_allclose(got, numeric, rtol=rtol, atol=atol, err_msg=f"gradient wrt {x!r}")
    return grads


def check_graph_grad(out, givens, wrt, eps=1e-6, rtol=1e-6, atol=1e-7, seed=1234):
    """Like check_rule_grad, through every node between `wrt` and `out` (reverse mode over the rule table).

    The graph's rules must return gradients of their inputs' exact shapes (no implicit broadcasting).
    """
    (value,) = evaluate([out], givens)
    w = np.random.default_rng(seed).standard_normal(value.shape).astype(out.dtype)
    gz = at.tensor(out.dtype, shape=out.type.shape, name="gz")
    grads = {id(out): gz}
    for node in reversed(toposort([out])):
        gouts = [grads.get(id(o)) for o in node.outputs]
        if all(g is None for g in gouts):
            continue
        for inp, g in zip(node.inputs, rule_of(node.op).grad(node.op, node.inputs, node.outputs, gouts)):
            if g is not None and hasattr(g, "type"):  # skips None and DISCONNECTED
                grads[id(inp)] = g if id(inp) not in grads else grads[id(inp)] + g
    computed = run([grads[id(x)] for x in wrt], {**givens, gz: w})
    for x, got in zip(wrt, computed):
        np.testing.assert_allclose(got, numeric_grad(out, givens, x, w, eps), rtol=rtol, atol=atol,
                                   err_msg=f"gradient wrt {x!r}")


def numeric_grad(out, givens, x, w, eps=1e-6):
    base = np.array(givens[x], dtype="float64")
    grad = np.zeros_like(base)
    for j in np.ndindex(base.shape):
        costs = []
        for sign in (1, -1):
            moved = base.copy()
            moved[j] += sign * eps
            costs.append(float(np.sum(evaluate([out], {**givens, x: moved})[0] * w)))
        grad[j] = (costs[0] - costs[1]) / (2 * eps)
    return grad


def sample(shape, dtype, seed=0, low=-3, high=4):
    """Random values of `dtype`: normals for floats, integers in [low, high) otherwise, coin flips for bool."""
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(max(low, 0) if np.dtype(dtype).kind == "u" else low, high, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)

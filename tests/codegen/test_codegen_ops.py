"""Compiled reductions, products, shape, indexing and nnet ops against the reference backend (built in process, in
modules of <= ~2 MB of C: tests/buildbatches.py)."""

from __future__ import annotations

import numpy as np
import pytest
from buildbatches import in_process
from cgcases import assert_same

import aotgraph as ag
import aotgraph.tensor as at

rng = np.random.default_rng(0)
M = rng.standard_normal((4, 5))
V5 = rng.standard_normal(5)
V4 = rng.standard_normal(4)
IM = rng.integers(-5, 5, (4, 5)).astype("int32")
B = rng.integers(0, 2, (4, 5)).astype(bool)
T3 = rng.standard_normal((2, 4, 5))


def _cases():
    """name -> (inputs, outputs, argument values)."""
    x, y, v, w = at.dmatrix("x"), at.dmatrix("y"), at.dvector("v"), at.dvector("w")
    i, b, t = at.imatrix("i"), at.tensor("bool", (None, None), name="b"), at.dtensor3("t")
    k, idx = at.lscalar("k"), at.lvector("idx")
    return {
        "reductions": ([x, i, b], [at.sum(x), at.sum(x, axis=0), at.sum(i, axis=1, keepdims=True), at.prod(i, 0),
                                   at.max(x, 1), at.min(i), at.all(b, 0), at.any(b), at.argmax(x, 1),
                                   at.argmin(i), at.mean(x, 0), at.var(x, 1), at.std(x), at.mean(i),
                                   at.sum(i, dtype="float32")], [M, IM, B]),
        "products": ([x, y, v, w, t], [at.dot(x, y.T), at.matmul(x, v), at.dot(w, x), at.outer(v, w),
                                       at.dot(v, v), at.matmul(t, y.T), x.T @ x], [M, M * 2, V5, V4, T3]),
        "shapes": ([x, v, t, k], [at.reshape(x, (5, 4)), at.reshape(x, (-1,)), at.flatten(t, 2), x.T,
                                  at.dimshuffle(v, ("x", 0)), at.concatenate([x, x * 2], axis=1),
                                  at.stack([v, v + 1]), at.alloc(v, 3, 5), at.arange(k), at.zeros_like(x),
                                  at.ones_like(v), at.shape(t), at.shape(t)[1], at.reshape(t, (k, -1)),
                                  at.specify_shape(x, (4, None))], [M, V5, T3, np.int64(2)]),
        "indexing": ([x, v, k, idx, b], [x[1], x[:, 2], x[1:3, ::-1], x[k], x[-1, k:], x[idx], x[:, idx],
                                         x[idx, idx], x[b], v[None, :, None], x[..., 0],
                                         at.set_subtensor(x[1:3], 0.0), at.inc_subtensor(x[idx], 1.0),
                                         at.inc_subtensor(x[:, 0], v[:4]), at.set_subtensor(v[idx], 7.0)],
                     [M, V5, np.int64(1), np.array([0, 2, 2, 3]), B]),
        "nnet": ([x, t], [at.softmax(x), at.log_softmax(x), at.softmax(t, axis=1), at.log_softmax(t * 3, axis=-1)],
                 [M, T3]),
        "mixed": ([x, v], [at.sum(at.exp(x) * v, axis=1) + at.max(x), at.dot(at.tanh(x), v) / at.sum(v)], [M, V5]),
    }


CASES = _cases()


@pytest.fixture(scope="module")
def mod():
    functions = {name: ag.function(ins, outs, mode="FAST_COMPILE", name=name) for name, (ins, outs, _) in
                 CASES.items()}
    return in_process(functions, "cg_ops"), functions


@pytest.mark.parametrize("name", list(CASES))
def test_against_reference(mod, name):
    built, functions = mod
    args = CASES[name][2]
    expected = functions[name](*args)
    got = getattr(built, name)(*args)
    for j, (g, e) in enumerate(zip(got, expected)):
        assert_same(g, e, f"{name} output {j} ({CASES[name][1][j]!r})", rtol=1e-12 if g.dtype == np.float64 else None)


def test_errors_name_the_op(mod):
    built, functions = mod
    with pytest.raises(ValueError, match="reshape") as info:
        built.shapes(M[:3], V5, T3, np.int64(2))
    assert "while computing" in str(info.value) and __file__ in str(info.value)
    with pytest.raises(IndexError):
        built.indexing(M, V5, np.int64(9), np.array([0]), B)


def test_every_registered_op_has_a_rule():
    from aotgraph.codegen.lower import supported_ops
    from aotgraph.graph.rules import RULES

    assert sorted(set(RULES) - set(supported_ops())) == []

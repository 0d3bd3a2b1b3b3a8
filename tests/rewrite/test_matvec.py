"""matvec: X.T @ f(X @ w) becomes one fused_matvec node; where the products are not such a pair, nothing changes.
(The compiled loop is tested in tests/codegen/test_codegen_matvec.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from rewritecheck import check_rewrite, op_counts

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.graph.basic import Op, toposort
from aotgraph.graph.evaluate import evaluate
from aotgraph.rewrite import PIPELINES, rewrite_graph
from aotgraph.tensor.fused import ScalarProgram
from aotgraph.tensor.fused_matvec import fused_matvec_op

FAST_RUN = list(PIPELINES["fast_run"])
rng = np.random.default_rng(3)
XV, WV, YV = rng.standard_normal((9, 5)), rng.standard_normal(5), rng.integers(0, 2, 9).astype(float)


def logistic_step():
    """The tutorial's graph: prediction, cross-entropy, and the two gradients."""
    x, y = at.dmatrix("x"), at.dvector("y")
    w, b = at.dvector("w"), at.dscalar("b")
    p_1 = 1 / (1 + at.exp(-at.dot(x, w) - b))
    xent = -y * at.log(p_1) - (1 - y) * at.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = ag.grad(cost, [w, b])
    return [x, y, w, b], [p_1 > 0.5, xent, gw, gb]


def test_logistic_step_becomes_one_pass():
    (x, y, w, b), outputs = logistic_step()
    new = check_rewrite(outputs, FAST_RUN, {x: XV, y: YV, w: WV, b: np.float64(0.3)}, exact=False,
                        ops={"fused_matvec": 1, "matmul": 0})
    node = next(n for n in toposort(new) if n.op.name == "fused_matvec")
    assert node.inputs[0] is x and node.inputs[1] is w


@pytest.mark.parametrize("form", ["dot(X.T, v)", "dot(v, X)", "X.T @ v"])
def test_linear_regression_gradient_in_each_form(form):
    x, w, y = at.dmatrix("x"), at.dvector("w"), at.dvector("y")
    v = at.dot(x, w) - y
    g = {"dot(X.T, v)": lambda: at.dot(x.T, v), "dot(v, X)": lambda: at.dot(v, x), "X.T @ v": lambda: x.T @ v}[form]()
    check_rewrite([g, v], FAST_RUN, {x: XV, w: WV, y: YV}, exact=False, ops={"fused_matvec": 1, "matmul": 0})


def test_gram_product_of_z_itself():
    x, w = at.dmatrix("x"), at.dvector("w")
    check_rewrite([at.dot(x.T, at.dot(x, w))], FAST_RUN, {x: XV, w: WV}, exact=False,
                  ops={"fused_matvec": 1, "matmul": 0})


def test_float32_fires():
    x, w, y = at.fmatrix("x"), at.fvector("w"), at.fvector("y")
    new = rewrite_graph([at.dot(x.T, at.tanh(at.dot(x, w)) * y)], FAST_RUN, check=True)
    assert op_counts(new)["fused_matvec"] == 1 and new[0].dtype == "float32"


def _no_fusion(outputs, givens):
    check_rewrite(outputs, FAST_RUN, givens, exact=False, ops={"fused_matvec": 0})


def test_not_for_another_matrix():
    x, x2, w = at.dmatrix("x"), at.dmatrix("x2"), at.dvector("w")
    _no_fusion([at.dot(x2.T, at.dot(x, w) * 2)], {x: XV, x2: XV + 1, w: WV})


def test_not_for_matrix_products():
    x, w, v = at.dmatrix("x"), at.dmatrix("w"), at.dmatrix("v")
    _no_fusion([at.dot(x.T, at.exp(at.dot(x, w)))], {x: XV, w: rng.standard_normal((5, 2))})
    _no_fusion([at.dot(v.T, at.dot(x, w[:, 0]))], {x: XV, w: rng.standard_normal((5, 2)), v: XV})


def test_not_through_a_reduction_of_z():
    x, w = at.dmatrix("x"), at.dvector("w")
    z = at.dot(x, w)
    _no_fusion([at.dot(x.T, z - z.mean())], {x: XV, w: WV})


def test_not_for_mixed_dtypes():
    x, w, y = at.fmatrix("x"), at.fvector("w"), at.dvector("y")
    _no_fusion([at.dot(x.T, at.dot(x, w) - y)], {x: XV.astype("float32"), w: WV.astype("float32"), y: YV})


def test_not_for_a_vector_broadcast_along_the_rows():
    x, w = at.dmatrix("x"), at.dvector("w")
    c = at.tensor("float64", (1,), name="c")
    _no_fusion([at.dot(x.T, at.dot(x, w) * c)], {x: XV, w: WV, c: np.array([2.0])})


def test_op_reference_and_type_errors():
    x, w, y = at.dmatrix("x"), at.dvector("w"), at.dvector("y")
    program = ScalarProgram(((Op("sub"), ("i0", "i1")),), ("t0",),
                            (at.TensorType("float64", (None,)), y.type))
    op = fused_matvec_op(program)
    z, v, g = at.basic.apply(op, x, w, y)
    got = evaluate([z, v, g], {x: XV, w: WV, y: YV})
    np.testing.assert_allclose(got[0], XV @ WV)
    np.testing.assert_allclose(got[1], XV @ WV - YV)
    np.testing.assert_allclose(got[2], XV.T @ (XV @ WV - YV))
    with pytest.raises(TypeError, match="fused_matvec: needs a float matrix and a vector of its dtype"):
        at.basic.apply(op, x, at.fvector("w32"), y)
    with pytest.raises(TypeError, match="the matrix has 5 columns but the vector 4 elements"):
        at.basic.apply(op, at.tensor("float64", (None, 5)), at.tensor("float64", (4,)), y)
    with pytest.raises(TypeError, match="the program takes 1 inputs besides z, got 0"):
        at.basic.apply(op, x, w)

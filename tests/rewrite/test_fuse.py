"""fuse: elementwise regions (with broadcasting) become one node each, a region feeding a reduction one node with
the reduction; values checked against the graph as written (numpy reference), graphs by their op counts."""

from __future__ import annotations

import numpy as np
import pytest
from rewritecheck import check_rewrite, op_counts, statement_counts

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.graph.basic import Op, toposort
from aotgraph.rewrite import rewrite_graph
from aotgraph.tensor.basic import apply
from aotgraph.tensor.fused import ScalarProgram, fused_op

rng = np.random.default_rng(0)
V = rng.standard_normal(5)
R = rng.standard_normal((1, 5))
M = rng.standard_normal((4, 5))
COL = rng.standard_normal((4, 1))
FUSE = ["merge", "fuse"]


def test_a_region_with_broadcasting_is_one_node():
    """The issue's expression with a vector, a row and a matrix: one loop; exp(-a) of the small vector stays its
    own (small) loop rather than being recomputed for every element of the matrix."""
    a, b, c = at.dvector("a"), at.tensor("float64", (1, None), name="b"), at.dmatrix("c")
    out = a * b + c * at.exp(-a) - a / (1 + b * b)
    (new,) = check_rewrite(out, FUSE, {a: V, b: R, c: M}, ops={"fused": 2}, n_nodes=2, exact=False, rtol=1e-15)
    assert statement_counts([new]) == {"mul": 3, "add": 2, "true_div": 1, "sub": 1, "neg": 1, "exp": 1}
    assert [v.name for v in new.owner.inputs[:3]] == ["a", "b", "c"]


def test_all_operands_the_same_shape_is_one_node():
    a, b, c = at.dvectors("a", "b", "c")
    out = a * b + c * at.exp(-a) - a / (1 + b * b)
    (new,) = check_rewrite(out, FUSE, {a: V, b: V[::-1], c: V * 2}, ops={"fused": 1}, n_nodes=1, exact=False,
                           rtol=1e-15)
    assert "exp(-i0)" in repr(new.owner.op.expr)


def test_expensive_ops_on_a_column_are_hoisted_not_split():
    """exp of a column does not vary along the loop's rows: the loop computes it once per row, so it fuses."""
    c, col = at.dmatrix("c"), at.tensor("float64", (None, 1), name="col")
    check_rewrite(c * at.exp(col) + 1, FUSE, {c: M, col: COL}, ops={"fused": 1}, n_nodes=1, exact=False, rtol=1e-15)


def test_a_value_two_regions_read_is_computed_once():
    x, y = at.dvectors("x", "y")
    shared = x * y  # read by both outputs' regions, from two arrays: stored once, not recomputed
    new = check_rewrite([shared + 1, shared * shared], FUSE, {x: V, y: V + 1}, ops={"mul": 1, "fused": 1})
    assert new[0].owner is new[1].owner  # the two readers read the same operands: one loop, two outputs
    assert len(new[0].owner.outputs) == 2


def test_a_result_is_never_fused_away():
    x = at.dvector("x")
    t = at.exp(x)
    new = check_rewrite([t, t + 1], FUSE, {x: V})
    assert new[0].owner.op.name == "exp" and new[1].owner.inputs[0] is new[0]


def test_siblings_over_the_same_operands_share_one_loop():
    x, y = at.dvectors("x", "y")
    new = check_rewrite([x + y, x * y, at.maximum(x, y) - x], FUSE, {x: V, y: V * 3}, ops={"fused": 1})
    assert len({id(v.owner) for v in new}) == 1 and len(new[0].owner.outputs) == 3


def test_a_region_reading_a_subset_joins_a_sibling():
    x, y = at.dvectors("x", "y")
    new = check_rewrite([x * y + 1, at.exp(x)], FUSE, {x: V, y: V * 3}, ops={"fused": 1}, exact=False, rtol=1e-15)
    assert new[0].owner is new[1].owner


def test_siblings_of_different_shapes_stay_apart():
    x, m = at.dvector("x"), at.dmatrix("m")
    check_rewrite([x + 1, m * x], FUSE, {x: V, m: M}, ops={"add": 1, "mul": 1})


@pytest.mark.parametrize("make, ops", [
    (lambda a, b: at.sum((a - b) ** 2), {"fused_reduce": 1}),
    (lambda a, b: at.mean(a * b, axis=0), {"fused_reduce": 1, "true_div": 1}),
    (lambda a, b: at.max(abs(a), axis=(0, 1), keepdims=True), {"fused_reduce": 1}),
    (lambda a, b: at.all(a > b, axis=1), {"fused_reduce": 1}),
    (lambda a, b: at.prod(a + 1, axis=-1, keepdims=True), {"fused_reduce": 1}),
    (lambda a, b: at.sum(a * b, axis=1, dtype="float32"), {"fused_reduce": 1}),
], ids=["sum-sq", "mean-axis0", "max-abs", "all-gt", "prod-keepdims", "sum-dtype"])
def test_a_region_feeding_a_reduction_is_one_node(make, ops):
    """The reduced value is never an array; mean's count reads the operand's shape, not the product."""
    a, b = at.dmatrices("a", "b")
    (new,) = check_rewrite(make(a, b), FUSE, {a: M, b: M[::-1]}, ops=ops, exact=False, rtol=1e-14)
    reduce_node = next(n for n in toposort([new]) if n.op.name == "fused_reduce")
    assert {v.name for v in reduce_node.inputs if v.owner is None} <= {"a", "b", None}


def test_a_reduction_of_a_value_also_used_elsewhere_is_not_fused():
    x, y = at.dvectors("x", "y")
    t = x * y
    new = check_rewrite([at.sum(t), t + 1], FUSE, {x: V, y: V * 2})
    assert op_counts(new)["reduce"] == 1 and op_counts(new)["fused_reduce"] == 0


def test_gradient_of_a_sum_fuses_into_its_consumer():
    """grad of sum is unreduce (broadcast_to + copy); as second(like, g) it joins the elementwise region. sqr(t),
    read by the cost's sum and by the gradient, is cheap: both loops compute it (tanh, costly, is stored once)."""
    x = at.dvector("x")
    cost = at.sum(at.tanh(x) ** 2)
    g = ag.grad(cost, x)
    new = check_rewrite([cost, g], ["merge", "fold", "canonicalize", "stabilize", "fuse"], {x: V}, exact=False,
                        rtol=1e-14)
    assert op_counts(new) == {"tanh": 1, "fused_reduce": 1, "fused": 1}  # the rank-0 gradient broadcasts as it is
    assert new[0].owner.op.expr.ops == ["sqr"] and "sqr" in new[1].owner.op.expr.ops


def test_a_cheap_value_read_by_several_loops_is_recomputed_in_each():
    x, y = at.dvectors("x", "y")
    z = x * 2  # cheap, one array: each loop computes it instead of storing it
    new = check_rewrite([at.exp(z) + y, at.sum(at.log(abs(z) + 1))], FUSE, {x: V, y: V * 2}, exact=False, rtol=1e-14)
    assert op_counts(new) == {"fused": 1, "fused_reduce": 1}
    two = x * y  # reads two arrays: stored once
    new = check_rewrite([at.exp(two) + y, at.sum(at.log(abs(two) + 1))], FUSE, {x: V, y: V * 2}, exact=False,
                        rtol=1e-14)
    assert op_counts(new) == {"mul": 1, "fused": 1, "fused_reduce": 1}


def test_debugprint_shows_the_fused_nodes():
    x, y = at.dvectors("x", "y")
    f = ag.function([x, y], at.sum((x - y) ** 2) + at.exp(x), mode=ag.Mode("reference", "fast_run"))
    text = ag.printing.debugprint(f, file="str")
    assert "fused_reduce{expr=sqr((i0 - i1)), reduce=reduce{" in text and "fused" in text.splitlines()[0]
    np.testing.assert_allclose(f(V, V * 2), np.sum(V ** 2) + np.exp(V))


def test_the_fused_reference_refuses_undeclared_broadcasting_like_the_reference():
    x, y = at.dmatrices("x", "y")
    f = ag.function([x, y], x * y + 1, mode=ag.Mode("reference", "fast_run"))
    assert op_counts(f._spec.outputs) == {"fused": 1}
    with pytest.raises(ValueError, match="broadcastable"):
        f(np.ones((3, 1)), np.ones((3, 4)))


def test_fused_op_type_inference_is_the_checker():
    x = at.dvector("x")
    good = ScalarProgram(((Op("exp"), ("i0",)),), ("t0",), (x.type,))
    assert apply(fused_op(good), x).type == x.type
    bad = ScalarProgram(((Op("exp"), ("t3",)),), ("t0",), (x.type,))
    with pytest.raises(TypeError, match="reads 't3'"):
        apply(fused_op(bad), x)
    with pytest.raises(TypeError, match="made for inputs"):
        apply(fused_op(good), at.fvector())
    not_elemwise = ScalarProgram(((Op("shape"), ("i0",)),), ("t0",), (x.type,))
    with pytest.raises(TypeError, match="not an elementwise op"):
        apply(fused_op(not_elemwise), x)


def test_fuse_leaves_graphs_with_in_place_ops_alone():
    x = at.dvector("x")
    program = ScalarProgram(((Op("add"), ("i0", "i0")),), ("t0",), (x.type,))
    outs = [apply(fused_op(program, inplace=True), x * 2) + 1]
    new = rewrite_graph(outs, "fast_run")
    assert op_counts(new) == {"fused_inplace": 1, "mul": 1, "add": 1}


def test_fusion_keeps_large_graphs_linear():
    """A chain of 6,000 elementwise ops is fused in well under a second, into loops of at most MAX_STATEMENTS."""
    import time

    from aotgraph.rewrite.fuse import MAX_STATEMENTS

    x = at.dvector("x")
    out = x
    for i in range(2000):
        out = at.tanh(out) * 0.5 + (i % 7)
    start = time.perf_counter()
    new = rewrite_graph([out], FUSE)
    assert time.perf_counter() - start < 2.0
    nodes = toposort(new)
    assert op_counts(new) == {"fused": len(nodes)} and len(nodes) == -(-6000 // MAX_STATEMENTS)
    assert sum(len(n.op.expr.stmts) for n in nodes) == 6000

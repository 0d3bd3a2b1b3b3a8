"""inplace: elementwise and fused nodes overwrite an input nobody needs afterwards (an intermediate, or an input
declared mutable), never user data, constants, results or values read later; graphs checked by their ops,
values against the graph as written (numpy reference)."""

from __future__ import annotations

import numpy as np
import pytest
from rewritecheck import check_rewrite, op_counts

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.graph.basic import toposort
from aotgraph.graph.rules import rule_of
from aotgraph.rewrite import rewrite_graph

rng = np.random.default_rng(1)
X = rng.standard_normal((4, 3))
W = rng.standard_normal(3)
PASSES = ["merge", "fuse", "inplace"]
REFERENCE_FAST_RUN = ag.Mode("reference", "fast_run")


def destroyed(outputs) -> list:
    """(node, the variable it may overwrite) for every in-place node of the graph."""
    return [(n, n.inputs[i]) for n in toposort(outputs) for i in rule_of(n.op).destroy_map.values()]


def test_an_intermediate_is_overwritten():
    """dot(x, w) + b: the loop adding b writes into the product's buffer, which nobody reads afterwards."""
    x, w, b = at.dmatrix("x"), at.dvector("w"), at.dscalar("b")
    (new,) = check_rewrite(at.sigmoid(at.dot(x, w) + b), PASSES, {x: X, w: W, b: np.float64(0.5)},
                           ops={"fused_inplace": 1, "matmul": 1}, exact=False, rtol=1e-15)
    ((node, victim),) = destroyed([new])
    assert victim.owner.op.name == "matmul" and node.inputs[0] is victim


def test_inputs_constants_and_shared_values_are_never_overwritten():
    x = at.dvector("x")
    s = ag.shared(np.ones(3), name="s")
    outs = [x + 1, s * 2, at.constant(np.arange(3.0)) * x]
    new = check_rewrite(outs, PASSES, {x: W, s: np.ones(3)})
    assert destroyed(new) == []


def test_a_mutable_input_is_overwritten():
    x, y = at.dvectors("x", "y")
    new = rewrite_graph([at.exp(x) * y], PASSES, mutable=[x])
    ((node, victim),) = destroyed(new)
    assert victim is x and node.op.name == "fused_inplace"
    f = ag.function([ag.In(x, mutable=True), y], at.exp(x) * y, mode=REFERENCE_FAST_RUN)
    assert destroyed(f._spec.outputs) and destroyed(f._spec.outputs)[0][1] is x
    np.testing.assert_allclose(f(W, W * 2), np.exp(W) * W * 2)


def test_a_result_is_never_overwritten():
    x, w = at.dmatrix("x"), at.dvector("w")
    t = at.dot(x, w)
    new = check_rewrite([t, t + 1, at.dot(x, w) * 2], PASSES, {x: X, w: W})
    assert destroyed(new) == []


def test_a_value_read_later_is_not_overwritten():
    """t is read by two loops that do not depend on each other: neither may overwrite it."""
    x, w = at.dmatrix("x"), at.dvector("w")
    t = at.dot(x, w)
    new = check_rewrite([at.exp(t) + 1, at.dot(x.T, at.tanh(t) * 3)], PASSES, {x: X, w: W}, exact=False,
                        rtol=1e-15)
    assert destroyed(new) == []


def test_a_value_whose_other_readers_ran_before_is_overwritten():
    """u = sum(t) is computed before t * u (which reads u), so the last loop may overwrite t."""
    x, w = at.dmatrix("x"), at.dvector("w")
    t = at.dot(x, w)
    u = at.dot(t, t)
    (new,) = check_rewrite(at.exp(t) * u, PASSES, {x: X, w: W}, exact=False, rtol=1e-15)
    ((node, victim),) = destroyed([new])
    assert victim.owner.op.name == "matmul" and victim.owner.inputs[0].name == "x"


def test_a_value_read_through_a_view_is_not_overwritten():
    """v = t.T views t: a loop overwriting t would change v for its readers."""
    x = at.dmatrix("x")
    t = at.dot(x, x.T)
    new = check_rewrite([at.exp(t) + t.T], PASSES, {x: X}, exact=False, rtol=1e-15)
    assert destroyed(new) == []
    new = check_rewrite([at.exp(t) + 1, at.dot(t.T, x)], PASSES, {x: X}, exact=False, rtol=1e-15)
    assert destroyed(new) == []


def test_only_outputs_of_the_same_type_take_a_buffer():
    x, w = at.dmatrix("x"), at.dvector("w")
    t = at.dot(x, w)
    new = check_rewrite([at.cast(t, "float32") + 1, t > 0], PASSES, {x: X, w: W})
    assert destroyed(new) == []
    y = at.dvector("y")
    new = check_rewrite([at.dot(x, w).dimshuffle(0, "x") + y], PASSES, {x: X, w: W, y: W})  # a column into a matrix
    assert destroyed(new) == []


def test_the_pipeline_passes_mutable_inputs_from_the_spec():
    x = at.dvector("x")
    f = ag.function([ag.In(x, mutable=True)], at.exp(x) + 1, mode=REFERENCE_FAST_RUN)
    g = ag.function([x], at.exp(x) + 1, mode=REFERENCE_FAST_RUN)
    assert op_counts(f._spec.outputs) == {"fused_inplace": 1} and op_counts(g._spec.outputs) == {"fused": 1}
    np.testing.assert_allclose(f(W), np.exp(W) + 1)


def test_a_user_graph_with_in_place_ops_needs_accept_inplace():
    """The in-place ops of the optimized graph are ours; a graph the user built with one still needs
    accept_inplace=True, and then no pass rewrites it (they cannot tell what it overwrites)."""
    x = at.dvector("x")
    f = ag.function([ag.In(x, mutable=True)], at.exp(x) + 1, mode=REFERENCE_FAST_RUN)
    user_graph = f._spec.outputs[0] * 2
    with pytest.raises(TypeError, match="accept_inplace"):
        ag.function([x], user_graph, mode=REFERENCE_FAST_RUN)
    g = ag.function([x], user_graph, mode=REFERENCE_FAST_RUN, accept_inplace=True)
    assert op_counts(g._spec.outputs) == {"fused_inplace": 1, "mul": 1}
    np.testing.assert_allclose(g(W.copy()), (np.exp(W) + 1) * 2)


def test_an_update_never_lives_in_a_mutable_input():
    """A shared variable's next value is not written into the caller's buffer (it would then change whenever the
    caller reuses the array), even through a chain of in-place loops; an output may be."""
    x, w = at.dvector("x"), at.dmatrix("w")
    s = ag.shared(np.zeros(3), name="s")
    t = at.exp(x) + 1
    f = ag.function([ag.In(x, mutable=True)], [], updates=[(s, t * 2)], mode=REFERENCE_FAST_RUN)
    assert destroyed([f._spec.updates[0][1]]) == []
    chain = at.dot(w, at.exp(x) + 1)  # x -> exp(x) + 1 in place, then a matmul: the update is a fresh array
    g = ag.function([ag.In(x, mutable=True), w], at.sum(x), updates=[(s, at.tanh(at.exp(x) * 3) + chain)],
                    mode=REFERENCE_FAST_RUN)
    update = g._spec.updates[0][1]
    assert all(victim is not x or all(o is not update for o in node.outputs)
               for node, victim in destroyed([update]))
    h = ag.function([ag.In(x, mutable=True)], t * 2, mode=REFERENCE_FAST_RUN)
    assert destroyed(h._spec.outputs)[0][1] is x
    value = W.copy()
    f(value)
    np.testing.assert_allclose(s.get_value(), (np.exp(W) + 1) * 2)

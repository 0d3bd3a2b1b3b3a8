"""merge: identical sub-expressions and equal constants become one; nothing else does."""

from __future__ import annotations

import numpy as np
from rewritecheck import check_rewrite, constants, op_counts

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.graph.basic import graph_inputs
from aotgraph.rewrite import rewrite_graph
from aotgraph.rewrite.merge import merge

X = np.array([0.5, -1.5, 2.0])


def test_identical_subexpressions_become_one_node():
    x = at.dvector("x")
    out = at.exp(x + 1) * at.exp(x + 1)
    assert op_counts([out]) == {"add": 2, "exp": 2, "mul": 1}
    check_rewrite(out, ["merge"], {x: X}, ops={"add": 1, "exp": 1, "mul": 1})


def test_equal_constants_become_one_constant():
    x = at.dvector("x")
    out = (x + at.constant(2.0)) * at.constant(2.0) - at.constant(np.array([2.0, 2.0, 2.0]))
    assert len(constants([out])) == 3
    new = check_rewrite(out, ["merge"], {x: X})
    assert len(constants(new)) == 2  # the two float64 scalars 2.0 are one; the vector stays


def test_constants_of_other_types_stay_apart():
    x = at.dvector("x")
    out = x + at.constant(np.float64(2)) + at.constant(np.int64(2)) + at.constant(np.float32(2))
    new = check_rewrite(out, ["merge"], {x: X})
    assert len(constants(new)) == 3


def test_merging_makes_equal_outputs_one_variable():
    x = at.dvector("x")
    a, b = merge([at.sqrt(x * 2), at.sqrt(x * 2)])
    assert a is b


def test_other_params_or_other_inputs_are_not_merged():
    m = at.dmatrix("m")
    y = at.dmatrix("y")
    out = m.sum(axis=0) + m.sum(axis=1) + at.exp(m).sum() + at.exp(y).sum()
    check_rewrite(out, ["merge"], {m: np.ones((3, 3)), y: np.zeros((3, 3))}, ops={"reduce": 4, "exp": 2})


def test_shared_variables_are_never_merged():
    a, b = ag.shared(np.ones(3), name="a"), ag.shared(np.ones(3), name="b")
    new = merge([a * 2 + b * 2])
    assert op_counts(new)["mul"] == 2
    assert {id(v) for v in graph_inputs(new)} >= {id(a), id(b)}


def test_merge_reaches_fixpoint_up_the_graph():
    """Merging two inputs of a node makes the nodes above identical too: one pass merges them all."""
    x = at.dvector("x")
    left = at.tanh(at.exp(x + 1) - 3) * 2
    right = at.tanh(at.exp(x + 1) - 3) * 2
    check_rewrite(left + right, ["merge"], {x: X}, n_nodes=6)


def test_fast_compile_pipeline_is_merge_only():
    x = at.dvector("x")
    out = (x * 1 + x * 1) ** 2
    new = check_rewrite(out, "fast_compile", {x: X}, ops={"mul": 1, "add": 1, "pow": 1})
    assert rewrite_graph([out], "fast_run") != new

"""fold: constant sub-graphs computed at compile time, except across shared variables, errors and huge results."""

from __future__ import annotations

import numpy as np
import pytest
from rewritecheck import check_rewrite, op_counts

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.graph.basic import Constant, Op
from aotgraph.rewrite import rewrite_graph
from aotgraph.rewrite.fold import MAX_FOLDED_ELEMENTS
from aotgraph.tensor.basic import apply

X = np.array([0.5, -1.5, 2.0])


def test_constant_arithmetic_folds():
    x = at.dvector("x")
    out = x * (at.constant(2.0) * at.exp(at.constant(0.0)) + 1)
    new = check_rewrite(out, ["fold"], {x: X}, ops={"mul": 1, "exp": 0, "add": 0})
    (c,) = [v for v in new[0].owner.inputs if isinstance(v, Constant)]
    assert c.data == 3.0 and c.dtype == "float64" and not c.data.flags.writeable


def test_whole_constant_graph_becomes_a_constant():
    out = (at.arange(10) * 2).sum() + at.zeros((3, 4)).sum()
    (new,) = check_rewrite(out, ["fold"], {}, n_nodes=0)
    assert isinstance(new, Constant) and new.data == 90 and new.dtype == out.dtype


def test_folded_constant_keeps_dtype_and_gets_exact_shape():
    out = at.cast(at.arange(6).reshape((2, 3)), "float32").T
    (new,) = check_rewrite(out, ["fold"], {})
    assert isinstance(new, Constant) and new.type == at.TensorType("float32", (3, 2))


def test_shared_variables_are_not_folded():
    s = ag.shared(np.float64(2.0), name="s")
    out = s * at.constant(3.0) + at.constant(1.0) * at.constant(4.0)
    new = rewrite_graph([out], ["fold"])
    assert op_counts(new) == {"mul": 1, "add": 1}
    f = ag.function([], out, mode=ag.Mode("reference", "fast_run"))
    assert f() == 10.0
    s.set_value(np.float64(5.0))
    assert f() == 19.0


def test_huge_results_are_not_folded():
    x = at.dscalar("x")
    big = MAX_FOLDED_ELEMENTS + 1
    out = [at.zeros((big,)) + x, at.arange(big) * x, at.alloc(at.constant(1.0), 1001, 1000).sum()]
    new = rewrite_graph(out, ["fold"])
    assert op_counts(new)["alloc"] == 2 and op_counts(new)["arange"] == 1


def test_size_given_as_a_constant_input_is_checked_before_computing():
    """alloc whose size is an input (a constant here) is sized from that constant, not evaluated blindly."""
    huge = apply(Op("alloc", shape=(None,)), at.constant(0.0), at.constant(np.int64(10**10)))
    small = apply(Op("alloc", shape=(None,)), at.constant(7.0), at.constant(np.int64(3)))
    new = rewrite_graph([huge, small], ["fold"])
    assert new[0].owner.op.name == "alloc"
    assert isinstance(new[1], Constant) and new[1].data.tolist() == [7.0, 7.0, 7.0]


def test_nodes_that_raise_are_left_to_raise_at_call_time():
    out = at.max(at.constant(np.zeros(0))) + 1
    new = rewrite_graph([out], ["fold"])
    assert op_counts(new) == {"reduce": 1, "add": 1}
    f = ag.function([], out, mode=ag.Mode("reference", "fast_run"))
    with pytest.raises(ValueError, match="zero-size array"):
        f()


def test_folded_output_is_a_fresh_array_each_call():
    f = ag.function([], at.arange(4) * 2, mode=ag.Mode("reference", "fast_run"))
    assert isinstance(f._spec.outputs[0], Constant)
    first = f()
    first[0] = 100
    np.testing.assert_array_equal(f(), [0, 2, 4, 6])
    assert f().flags.writeable

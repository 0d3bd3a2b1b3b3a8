"""rewrite_graph and optimize_spec: the pipelines, the checker and the tracer, the user's graph left as it
was, and compiled functions running the optimized graph with correct aliasing."""

from __future__ import annotations

import numpy as np
import pytest
from rewritecheck import op_counts, statement_counts

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.compile.mode import get_mode
from aotgraph.graph.basic import graph_inputs, toposort
from aotgraph.rewrite import PASSES, RewriteCheckError, RewriteLoopError, optimize_spec, rewrite_graph
from aotgraph.rewrite.engine import run_pass

FAST_RUN_REFERENCE = ag.Mode("reference", "fast_run")


def snapshot(outputs):
    """Everything a pass could change in a graph: each node, its op, its inputs and output types."""
    return [(id(n), n.op, [id(v) for v in n.inputs], [id(v) for v in n.outputs], [v.type for v in n.outputs])
            for n in toposort(outputs)]


def test_pipelines_run_their_passes_and_unknown_names_are_refused():
    x = at.dvector("x")
    seen = []
    (out,) = rewrite_graph([x * 1], "fast_compile", trace=lambda name, outs: seen.append(name))
    assert seen == ["merge"] and out.owner.op.name == "mul"  # FAST_COMPILE only merges: x * 1 stays
    with pytest.raises(ValueError, match="unknown rewrite pipeline"):
        rewrite_graph([at.dscalar()], "o3")
    with pytest.raises(ValueError, match="unknown rewrite pass"):
        rewrite_graph([at.dscalar()], ["merge", "fuse_everything"])
    f = ag.function([x], x * 1, mode=ag.Mode("reference", None))  # Theano's optimizer=None: as written
    assert f._spec.outputs[0].owner.op.name == "mul"


def test_the_users_graph_is_never_changed():
    x, y = at.dvector("x"), at.dvector("y")
    s = ag.shared(np.ones(3), name="s")
    outs = [(x * 1 + 0) ** 2 + at.log(1 + y) * s, at.exp(x * 1) - 1, 1 / (1 + at.exp(-x))]
    before = snapshot(outs)
    new = rewrite_graph(outs, "fast_run", check=True)
    assert snapshot(outs) == before
    assert not {id(n) for n in toposort(new)} & {id(n) for n in toposort(outs)}  # all nodes are new
    assert {id(v) for v in graph_inputs(new)} >= {id(x), id(y), id(s)}  # graph inputs are the same objects
    again = rewrite_graph(outs, "fast_run")
    assert [op_counts([v]) for v in again] == [op_counts([v]) for v in new]


def test_trace_sees_every_pass_in_order():
    x = at.dvector("x")
    seen = []
    rewrite_graph([x * 1], "fast_run", trace=lambda name, outs: seen.append((name, len(toposort(outs)))))
    assert seen == [("merge", 1), ("fold", 1), ("scan", 1), ("canonicalize", 0), ("stabilize", 0), ("fuse", 0),
                    ("matvec", 0), ("window_fuse", 0), ("inplace", 0)]


def test_print_passes_switch(monkeypatch, capsys):
    monkeypatch.setenv("AOTGRAPH_PRINT_PASSES", "1")
    x = at.dvector("x")
    rewrite_graph([at.log(1 + x)], "fast_run")
    err = capsys.readouterr().err
    assert "=== after pass 'merge': 2 nodes ===" in err
    assert "=== after pass 'stabilize': 1 nodes ===" in err and "log1p [id" in err


def _retyping_pass(outputs):
    """A broken pass: returns an output of another dtype."""
    return [at.cast(v, "float32") for v in outputs]


def _size_one_pass(outputs):
    """A broken pass: a size-1 value where the output may be larger (it would broadcast, not be the output)."""
    return [at.tensor(v.dtype, (1,) * v.ndim, name="one") for v in outputs]


def _stale_type_pass(outputs):
    """A broken pass: a node whose recorded type contradicts type inference."""
    from aotgraph.graph.basic import Apply

    v = outputs[0]
    node = Apply(v.owner.op, [at.cast(i, "float32") for i in v.owner.inputs], [o.type for o in v.owner.outputs])
    return [node.outputs[0]]


def test_check_catches_a_pass_that_changes_types(monkeypatch):
    monkeypatch.delenv("AOTGRAPH_CHECK_REWRITES", raising=False)
    x = at.dvector("x")
    monkeypatch.setitem(PASSES, "retype", _retyping_pass)
    monkeypatch.setitem(PASSES, "size one", _size_one_pass)
    with pytest.raises(RewriteCheckError, match="pass 'size one' changed the type"):  # the engine's rule too
        rewrite_graph([x + 1], ["size one"], check=True)
    monkeypatch.setitem(PASSES, "stale", _stale_type_pass)
    assert rewrite_graph([x + 1], ["retype"])[0].dtype == "float32"  # unchecked
    with pytest.raises(RewriteCheckError, match="pass 'retype' changed the type of output 0"):
        rewrite_graph([x + 1], ["merge", "retype"], check=True)
    with pytest.raises(RewriteCheckError, match="after pass 'stale', add .* records output type Tensor{f64"):
        rewrite_graph([x + 1], ["stale"], check=True)
    monkeypatch.setenv("AOTGRAPH_CHECK_REWRITES", "1")
    with pytest.raises(RewriteCheckError):
        rewrite_graph([x + 1], ["retype"])


def test_rules_that_undo_each_other_are_stopped():
    x = at.dvector("x")

    def grow(node):  # exp(x) -> exp(neg(neg(x))) -> ...: never settles
        return [at.exp(at.neg(at.neg(node.inputs[0])))] if node.op.name == "exp" else None

    with pytest.raises(RewriteLoopError, match="two rules probably undo each other"):
        run_pass([at.exp(x)], grow)


# ---- compiled functions -----------------------------------------------------------------------------


def test_function_runs_the_optimized_spec():
    x = at.dvector("x")
    s = ag.shared(np.zeros(3), name="s")
    f = ag.function([ag.In(x, name="x")], [x ** 2, ag.Out(x * 1, borrow=True)], updates=[(s, s + at.log(1 + x))],
                    mode=FAST_RUN_REFERENCE)
    spec = f._spec
    assert op_counts(spec.outputs) == {"sqr": 1} and spec.outputs[1] is x
    assert op_counts([spec.updates[0][1]]) == {"fused": 1}
    assert statement_counts([spec.updates[0][1]]) == {"log1p": 1, "add": 1}
    assert spec.inputs[0].variable is x and spec.shared == [s] and spec.borrow == [False, True]
    assert spec.updates[0][0] == ("shared", 0)
    out = f(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(out[0], [1.0, 4.0, 9.0])
    np.testing.assert_allclose(s.get_value(), np.log1p([1.0, 2.0, 3.0]))


def test_optimize_spec_keeps_everything_but_the_expressions():
    x = at.dvector("x")
    s = ag.shared(np.zeros(3), name="s")
    from aotgraph.compile.spec import build_spec

    spec = build_spec([x], [x * 1, x + 1], [(s, s * 1)], None, False, True, "f", None, "raise", False)
    new = optimize_spec(spec, "fast_run")
    assert new.outputs[0] is x and new.updates == [(("shared", 0), s)]
    assert (new.inputs, new.shared, new.borrow, new.name) == (spec.inputs, spec.shared, spec.borrow, spec.name)
    assert spec.outputs[0].owner.op.name == "mul"  # the spec it was given is unchanged


@pytest.mark.parametrize("mode", ["FAST_COMPILE", FAST_RUN_REFERENCE], ids=["fast_compile", "fast_run"])
def test_outputs_that_become_inputs_are_copies(mode):
    """x * 1 -> x: the function must still return its own array, not the caller's."""
    x = at.dvector("x")
    f = ag.function([x], [x * 1, (x * 1).T], mode=mode)
    value = np.array([1.0, 2.0])
    a, b = f(value)
    assert not np.shares_memory(a, value) and not np.shares_memory(b, value)
    a[0] = 99.0
    assert value[0] == 1.0


def test_merged_duplicate_outputs_are_separate_arrays():
    x = at.dvector("x")
    f = ag.function([x], [x + 1, x + 1, ag.Out(x + 1, borrow=True)])
    assert f._spec.outputs[0] is f._spec.outputs[1]  # merged (both pipelines merge)
    a, b, c = f(np.zeros(2))
    assert not np.shares_memory(a, b) and not np.shares_memory(a, c)
    a[0] = 5.0
    assert b[0] == 1.0


def test_updates_that_become_another_shared_value_are_copies():
    a = ag.shared(np.zeros(2), name="a")
    b = ag.shared(np.ones(2), name="b")
    f = ag.function([], [], updates=[(a, b * 1)], mode=FAST_RUN_REFERENCE)
    assert f._spec.updates[0][1] is b
    f()
    assert not np.shares_memory(a.get_value(borrow=True), b.get_value(borrow=True))


def test_compiling_one_graph_twice():
    x = at.dvector("x")
    out = at.log(1 + x * 1)
    f, g = ag.function([x], out, mode=FAST_RUN_REFERENCE), ag.function([x], out, mode=FAST_RUN_REFERENCE)
    np.testing.assert_array_equal(f(np.ones(2)), g(np.ones(2)))
    assert out.owner.op.name == "log"


def _fast_run_available() -> bool:
    try:
        get_mode("FAST_RUN")
        return True
    except (NotImplementedError, ValueError):
        return False


@pytest.mark.skipif(not _fast_run_available(), reason="the Cython backend is not available")
def test_fast_run_compiles_the_stabilized_graph():
    """The rewritten ops render in the Cython backend; the cost stays finite there too."""
    z, y = at.dvector("z"), at.dvector("y")
    p = 1 / (1 + at.exp(-z))
    xent = -y * at.log(p) - (1 - y) * at.log(1 - p)
    f = ag.function([z, y], [xent, z * 1], mode="FAST_RUN")
    zs = np.array([-800.0, 0.0, 800.0])
    cost, same = f(zs, np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(cost, [800.0, np.log(2), 800.0])
    np.testing.assert_array_equal(same, zs)
    assert not np.shares_memory(same, zs)


def test_graphs_with_in_place_ops_are_left_alone(monkeypatch):
    """An op that overwrites its input: merging or x*1 -> x around it could destroy a value still needed."""
    from aotgraph.graph.basic import Op
    from aotgraph.graph.rules import RULES, OpRule, rule_of
    from aotgraph.tensor.basic import apply

    add = rule_of(Op("add"))
    monkeypatch.setitem(RULES, "add_inplace", OpRule(add.infer, add.perform, elemwise=add.elemwise, destroy_map={0: 0}))
    x = at.dvector("x")
    outs = [apply(Op("add_inplace"), x * 1, 1.0), x * 1]
    new = rewrite_graph(outs, "fast_run", check=True)
    assert op_counts(new) == {"add_inplace": 1, "mul": 2}

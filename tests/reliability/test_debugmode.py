"""DebugMode: the compiled function checked against the numpy reference, node by node, on every call.

Deliberately broken ops are registered here: `reltest_wrong_sub`, an elementwise op whose numpy
reference subtracts but whose Cython rule adds, `reltest_fused_wrong_sub`, whose rule adds only inside
a fused loop, and `reltest_scribble`, whose compiled code doubles its
input in place without a destroy_map saying it may (and `reltest_scribble_ok`, which says so). Their
compiled rules are put into the codegen's tables for the test only (monkeypatch).
"""

from __future__ import annotations

import numpy as np
import pytest

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.graph.basic import Op
from aotgraph.graph.rules import RULES, OpRule, make_node, register

pytestmark = pytest.mark.usefixtures("needs_fast_run")


def _op(name: str, **rule):
    if name not in RULES:
        register(name, OpRule(**rule))
    return lambda *inputs: make_node(Op(name), list(inputs)).outputs[0]


def _register_sub(name: str) -> Op:
    from aotgraph.tensor.elemwise_rule import elemwise

    if name not in RULES:
        elemwise(name, np.subtract, 2)
    return Op(name)


@pytest.fixture
def broken_rules(monkeypatch):
    """The compiled rules of the broken ops (scalar.ELEMWISE and ops.OPS are the codegen's rule tables); the
    ops themselves are unregistered afterwards (tests elsewhere check that every registered op has a rule)."""
    from aotgraph.codegen import ops, scalar

    monkeypatch.setitem(scalar.ELEMWISE, "reltest_wrong_sub", lambda c: f"({c.args[0]} + {c.args[1]})")

    def wrong_when_fused(c):  # right on loop operands (a0, a1), wrong on a temporary of a fused loop (t0)
        a, b = c.args
        return f"({a} - {b})" if a.startswith("a") else f"({a} + {b})"

    monkeypatch.setitem(scalar.ELEMWISE, "reltest_fused_wrong_sub", wrong_when_fused)

    def scribble(node, ins, outs):
        (x,), (z,) = ins, outs
        return ops.call(ins, outs, f"np.multiply({x.name}, 2, out={x.name})", f"{z.name} = {x.name}.copy()")

    monkeypatch.setitem(ops.OPS, "reltest_scribble", scribble)
    monkeypatch.setitem(ops.OPS, "reltest_scribble_ok", scribble)
    yield
    for name in [n for n in RULES if n.startswith("reltest_")]:
        del RULES[name]


def _doubling(**extra):
    return dict(infer=lambda op, types: [types[0]], perform=lambda op, x: (x * 2,), **extra)


def test_debugmode_agrees_with_the_reference_and_commits_updates():
    x, y = at.dvectors("x", "y")
    m = at.dmatrix("m")
    s = ag.shared(np.float64(0), name="s")
    outputs = [x * y + at.exp(x), at.sum(x), at.dot(m, y), at.softmax(m), m.T[::-1], at.cast(x > 1, "int8") * 3]
    f = ag.function([x, y, m], outputs, mode="DebugMode", updates=[(s, s + at.sum(x))])
    reference = ag.function([x, y, m], outputs, mode="FAST_COMPILE")
    args = (np.array([0.5, 1.5, np.nan]), np.array([2.0, -1.0, 3.0]), np.arange(6.0).reshape(2, 3))
    for got, want in zip(f(*args), reference(*args)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    f(*args)
    assert np.isnan(s.get_value())
    s.set_value(1.0)
    f(np.ones(3), *args[1:])
    assert s.get_value() == 4.0
    with pytest.raises(ValueError, match="broadcast") as err:  # an error of the user's input, in both backends
        f(np.ones(4), *args[1:])
    assert not isinstance(err.value, ag.DebugModeError)
    assert s.get_value() == 4.0


def test_debugmode_names_the_first_node_that_differs(broken_rules):
    wrong_sub = _register_sub("reltest_wrong_sub")
    x, y = at.dvectors("x", "y")
    s = ag.shared(np.float64(0), name="s")
    e = at.exp(x)
    wrong = make_node(wrong_sub, [e, y]).outputs[0]  # the node DebugMode must name
    line = f"test_debugmode.py:{test_debugmode_names_the_first_node_that_differs.__code__.co_firstlineno + 5}"
    f = ag.function([x, y], [wrong, e, wrong * 2], mode=ag.DebugMode(), updates=[(s, s + 1)])
    a, b = np.array([0.0, 1.0]), np.array([1.0, 1.0])
    with pytest.raises(ag.DebugModeError) as err:
        f(a, b)
    error = err.value
    assert error.node.op.name == "reltest_wrong_sub" and error.output == 0  # not the mul that reads it
    np.testing.assert_allclose(error.compiled, np.exp(a) + b)
    np.testing.assert_allclose(error.reference, np.exp(a) - b)
    message = str(error)
    assert "reltest_wrong_sub" in message and line in message and "compiled:" in message and "reference:" in message
    assert s.get_value() == 0.0  # the failed call committed nothing


def test_debugmode_names_the_statement_of_a_fused_loop_that_differs(broken_rules):
    op = _register_sub("reltest_wrong_sub")
    x, y = at.dvectors("x", "y")
    f = ag.function([x, y], at.sqrt(make_node(op, [at.exp(x), y]).outputs[0] * 2), mode="DebugMode")
    with pytest.raises(ag.DebugModeError, match=r"statement t1 = reltest_wrong_sub\(exp\(i0\), i1\) of node fused") \
            as err:
        f(np.zeros(2), np.ones(2))
    assert err.value.node.op.name == "reltest_wrong_sub"
    np.testing.assert_array_equal(err.value.compiled, [2.0, 2.0])
    np.testing.assert_array_equal(err.value.reference, [0.0, 0.0])


def test_debugmode_names_the_loop_when_only_the_fused_code_differs(broken_rules):
    op = _register_sub("reltest_fused_wrong_sub")
    x, y = at.dvectors("x", "y")
    f = ag.function([x, y], make_node(op, [at.exp(x), y]).outputs[0] * 2, mode="DebugMode")
    with pytest.raises(ag.DebugModeError, match="reltest_fused_wrong_sub.*each of its statements alone agrees") as err:
        f(np.zeros(2), np.ones(2))
    assert err.value.output == 0 and err.value.node.op.name.startswith("fused")
    np.testing.assert_array_equal(err.value.compiled, [4.0, 4.0])
    np.testing.assert_array_equal(err.value.reference, [0.0, 0.0])


def test_debugmode_catches_an_undeclared_overwrite(broken_rules):
    scribble = _op("reltest_scribble", **_doubling())
    x = at.dvector("x")
    f = ag.function([x], scribble(at.exp(x)) + 1, mode="DebugMode")
    with pytest.raises(ag.DebugModeError, match="reltest_scribble.*overwrote its input 0") as err:
        f(np.zeros(3))
    assert err.value.node.op.name == "reltest_scribble"


def test_debugmode_allows_what_destroy_map_allows(broken_rules):
    scribble_ok = _op("reltest_scribble_ok", **_doubling(destroy_map={0: 0}))
    x = at.dvector("x")
    f = ag.function([x], scribble_ok(at.exp(x)) + 1, mode="DebugMode", accept_inplace=True)
    a = np.zeros(3)
    np.testing.assert_array_equal(f(a), np.full(3, 3.0))
    np.testing.assert_array_equal(a, np.zeros(3))  # the intermediate was destroyed, not the input


def test_debugmode_is_registered():
    from aotgraph.compile.mode import get_mode

    assert get_mode("DebugMode") == ag.DebugMode() and repr(ag.DebugMode()) == "DebugMode"
    assert issubclass(ag.DebugModeError, AssertionError)

"""The pattern matcher and the rule engine: captures, commuted inputs, constants, refused replacements."""

from __future__ import annotations

import numpy as np
import pytest

import aotgraph.tensor as at
from aotgraph.rewrite.engine import run_pass
from aotgraph.rewrite.pattern import ONE, C, P, Rule, apply_rules, local_rewriter


def test_captures_nested_patterns_and_names():
    x, y = at.dvector("x"), at.dvector("y")
    out = at.log(x + at.exp(y))
    captures = P("log", P("add", "a", P("exp", "b"), name="s"), name="out").match(out)
    assert captures["a"] is x and captures["b"] is y and captures["out"] is out
    assert captures["s"] is out.owner.inputs[0]
    assert P("log", P("mul", "a", "b")).match(out) is None
    assert P("exp", "a").match(x) is None  # a graph input is computed by no node


def test_commuted_inputs_and_repeated_names():
    x, y = at.dvector("x"), at.dvector("y")
    assert P("add", "x", ONE, commute=True).match(1 + x)["x"] is x
    assert P("add", "x", ONE, commute=True).match(x + 1)["x"] is x
    assert P("add", "x", ONE).match(1 + x) is None
    assert P("mul", "v", "v").match(x * x)["v"] is x
    assert P("mul", "v", "v").match(x * y) is None
    with pytest.raises(ValueError, match="two inputs"):
        P("exp", "x", commute=True)


def test_constant_patterns_match_every_element():
    x = at.dvector("x")
    assert C(1).match(at.constant(np.ones((2, 3))), {}) == {}
    assert C(1).match(at.constant(np.array([1.0, 2.0])), {}) is None
    assert C(1).match(at.constant(np.zeros(0)), {}) is None
    assert C(0.5).match(at.constant(np.int64(0)), {}) is None
    assert C(1).match(x, {}) is None


def test_refused_replacements_fall_through_to_the_next_rule():
    x = at.dvector("x")
    rules = [
        Rule("declines", P("exp", "x"), lambda x: None),
        Rule("other_shape", P("exp", "x"), lambda x: at.dot(x, x)),  # dot of two vectors: 0-d
        Rule("raises", P("exp", "x"), lambda x: at.and_(x, x)),  # bitwise and of floats: TypeError
        Rule("other_dtype", P("exp", "x"), lambda x: at.cast(x, "float32")),
        Rule("works", P("exp", "x"), lambda x: at.tanh(x)),
    ]
    rule, new = apply_rules(rules, at.exp(x))
    assert rule.name == "works" and new.owner.op.name == "tanh"
    with pytest.raises(ValueError, match="unique"):
        local_rewriter(rules + rules[:1])


def test_rules_rewrite_to_a_fixpoint_and_keep_names():
    """A replacement's own nodes are offered to the rules again; a new node keeps the name of the value."""
    x = at.dvector("x")
    rules = local_rewriter([
        Rule("exp_to_tanh", P("exp", "x"), lambda x: at.tanh(x)),
        Rule("tanh_to_sin", P("tanh", "x"), lambda x: at.sin(x)),
    ])
    out = at.exp(at.exp(x))
    out.name = "out"
    (new,) = run_pass([out], rules)
    assert new.owner.op.name == "sin" and new.owner.inputs[0].owner.op.name == "sin"
    assert new.name == "out" and x.name == "x"


def _examples():
    """One expression per rule of canonicalize and stabilize, as the rule's own pattern sees it."""
    x, m = at.dvector("x"), at.dmatrix("m")
    t = at.tensor("float64", (None, 1), name="t")
    x34 = at.tensor("float64", (3, 4), name="x34")
    from aotgraph.tensor import grad_markers
    from aotgraph.tensor.math import _cast

    return {
        "mul_by_one": x * 1, "mul_self": x * x, "add_zero": 0 + x, "sub_zero": x - 0, "zero_sub": 0 - x,
        "div_by_one": x / 1, "pow_one": x ** 1, "pow_two": x ** 2, "pow_half": x ** 0.5,
        "neg_neg": at.neg(at.neg(x)), "abs_neg": abs(at.neg(x)), "switch_same": at.switch(x, m, m),
        "inv_1_plus_exp": 1 / (1 + at.exp(-x)), "dimshuffle_identity": m.transpose(0, 1),
        "dimshuffle_dimshuffle": m.T.T, "reshape_same_shape": x34.reshape((3, 4)),
        "cast_same_dtype": _cast(x, dtype="float64"), "reduce_size_one_axes": t.sum(axis=1),
        "one_minus_sigmoid": 1 - at.sigmoid(x), "log_sigmoid": at.log(at.sigmoid(x)),
        "log_softmax": at.log(at.softmax(m)), "log_1_plus_exp": at.log(1 + at.exp(x)),
        "log1p_exp": at.log1p(at.exp(x)), "log_1_plus": at.log(x + 1), "log_1_minus": at.log(1 - x),
        "exp_minus_1": at.exp(x) - 1, "exp_plus_minus_1": at.exp(x) + (-1),
        "drop_zero_grad": grad_markers.zero_grad(x), "drop_disconnected_grad": grad_markers.disconnected_grad(x),
        "drop_grad_clip": grad_markers.grad_clip(x, -1, 1), "drop_grad_scale": grad_markers.grad_scale(x, 2),
    }


def test_every_rule_has_an_example_it_rewrites():
    """The table above covers every rule, and no rule is shadowed by an earlier one of its op."""
    from aotgraph.rewrite import canonicalize, stabilize

    examples = _examples()
    for rules in (canonicalize.RULES, stabilize.RULES):
        for rule in rules:
            found = apply_rules(rules, examples[rule.name])
            assert found is not None and found[0].name == rule.name, (rule.name, found)
    assert set(examples) == {r.name for r in canonicalize.RULES + stabilize.RULES}

"""canonicalize: each rule fires where it keeps numpy's values, dtype and broadcast shape, and only there."""

from __future__ import annotations

import numpy as np
import pytest
from rewritecheck import check_rewrite, op_counts

import aotgraph.tensor as at
from aotgraph.rewrite.canonicalize import RULES
from aotgraph.tensor.math import _cast

RNG = np.random.default_rng(1)
X = np.array([0.5, -1.5, 2.0, -0.0, 0.0, 3e300, -7e-310])
M = RNG.standard_normal((3, 4))


@pytest.fixture
def x():
    return at.dvector("x")


# ---- arithmetic identities ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda x: x * 1, lambda x: 1 * x, lambda x: x / 1, lambda x: x ** 1, lambda x: x - 0, lambda x: at.neg(at.neg(x)),
], ids=["x*1", "1*x", "x/1", "x**1", "x-0", "--x"])
def test_identities_become_x(x, make):
    (new,) = check_rewrite(make(x), ["canonicalize"], {x: X}, n_nodes=0)
    assert new is x


@pytest.mark.parametrize("make", [lambda x: x + 0, lambda x: 0 + x], ids=["x+0", "0+x"])
def test_adding_zero_becomes_x(x, make):
    (new,) = check_rewrite(make(x), ["canonicalize"], {x: X}, n_nodes=0)
    assert new is x  # x + 0 turns -0.0 into 0.0: equal values, the only difference this rule allows


def test_zero_minus_x_is_neg(x):
    check_rewrite(0 - x, ["canonicalize"], {x: X}, ops={"neg": 1, "sub": 0}, exact=False)


def test_integer_identities_keep_the_integer_dtype():
    i = at.tensor("int8", (None,), name="i")
    v = np.array([-128, -1, 0, 5, 127], dtype="int8")
    (new,) = check_rewrite(at.neg(at.neg(i * 1)) + 0, ["canonicalize"], {i: v}, n_nodes=0)
    assert new is i


@pytest.mark.parametrize("make", [
    lambda i: i * 1.0,  # int8 * float: float64, not x
    lambda i: i / 1,  # true division gives float64
    lambda i: i + np.float32(0),  # int8 + float32 scalar: float32
], ids=["i*1.0", "i/1", "i+float32(0)"])
def test_identities_that_would_change_the_dtype_do_not_fire(make):
    i = at.tensor("int8", (None,), name="i")
    out = make(i)
    assert out.dtype != "int8"
    new = check_rewrite(out, ["canonicalize"], {i: np.array([1, -2, 3], dtype="int8")}, n_nodes=1)
    assert new[0].dtype == out.dtype


def test_identities_that_would_change_the_broadcast_shape_do_not_fire():
    x4 = at.tensor("float64", (4,), name="x4")
    xs = at.dvector("xs")
    outs = [x4 + at.zeros((3, 4)), x4 * np.ones((3, 4)), xs * np.ones(4), x4 - np.zeros((2, 1, 4))]
    new = check_rewrite(outs, "fast_run", {x4: M[0], xs: M[1]})
    assert [v.ndim for v in new] == [2, 2, 1, 3] and new[1].type.shape == (3, 4)
    assert all(v.owner is not None for v in new)


def test_identities_with_a_constant_of_the_same_shape_fire():
    x34 = at.tensor("float64", (3, 4), name="x34")
    (new,) = check_rewrite(x34 * np.ones((3, 4)) + at.zeros((3, 4)), "fast_run", {x34: M}, n_nodes=0)
    assert new is x34


def test_x_times_x_is_sqr(x):
    check_rewrite(x * x, ["canonicalize"], {x: X}, ops={"sqr": 1, "mul": 0})


def test_abs_of_neg_and_switch_of_one_value(x):
    c = at.bvector("c")
    check_rewrite(abs(-x) + at.switch(c, x, x), ["canonicalize"], {x: X, c: np.ones(7, "int8")},
                  ops={"abs": 1, "neg": 0, "switch": 0})


# ---- powers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32", "int8", "int64", "uint8"])
def test_pow_two_is_sqr(dtype):
    x = at.tensor(dtype, (None,), name="x")
    values = np.array([0, 1, 3, 11, 100], dtype=dtype)
    new = check_rewrite(x ** 2, ["canonicalize"], {x: values}, ops={"sqr": 1, "pow": 0})
    assert new[0].dtype == dtype


def test_pow_two_with_a_float_exponent_on_ints_keeps_pow():
    i = at.tensor("int8", (None,), name="i")
    check_rewrite(i ** 2.0, ["canonicalize"], {i: np.array([1, 2, 3], "int8")}, ops={"pow": 1, "sqr": 0})


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pow_half_is_sqrt(dtype):
    x = at.tensor(dtype, (None,), name="x")
    values = np.abs(RNG.standard_normal(50) * 1e3).astype(dtype)
    # numpy < 2's power is not correctly rounded (numpy 2 computes x ** 0.5 as sqrt): one ulp apart at most
    check_rewrite(x ** 0.5, ["canonicalize"], {x: values}, ops={"sqrt": 1, "pow": 0}, exact=False,
                  rtol=np.finfo(dtype).eps)


def test_pow_half_of_int8_keeps_pow():
    """int8 ** 0.5 is float64 but sqrt(int8) is float32: the dtype guard refuses."""
    i = at.tensor("int8", (None,), name="i")
    check_rewrite(i ** 0.5, ["canonicalize"], {i: np.array([1, 4, 9], "int8")}, ops={"pow": 1, "sqrt": 0})


# ---- the logistic function written out ------------------------------------------------------------------


def test_literal_logistic_is_sigmoid(x):
    check_rewrite(1 / (1 + at.exp(-x)), ["canonicalize"], {x: X[:5]}, ops={"sigmoid": 1, "exp": 0, "true_div": 0},
                  exact=False)


def test_tutorial_logistic_with_bias_is_sigmoid():
    """The tutorial's p_1 = 1 / (1 + exp(-dot(x, w) - b)) is sigmoid(dot(x, w) + b)."""
    m, w, b = at.dmatrix("m"), at.dvector("w"), at.dscalar("b")
    out = 1 / (at.exp(-at.dot(m, w) - b) + 1)
    check_rewrite(out, ["canonicalize"], {m: M, w: M[0], b: np.float64(0.3)},
                  ops={"sigmoid": 1, "exp": 0, "neg": 0, "add": 1}, exact=False)


def test_exp_of_a_difference_is_sigmoid_of_the_other_difference(x):
    y = at.dvector("y")
    check_rewrite(1 / (1 + at.exp(y - x)), ["canonicalize"], {x: X[:5], y: X[:5] * 3},
                  ops={"sigmoid": 1, "exp": 0}, exact=False)


def test_logistic_of_a_plain_exp_stays(x):
    check_rewrite(1 / (1 + at.exp(x)), ["canonicalize"], {x: X[:5]}, ops={"sigmoid": 0, "exp": 1})


# ---- shapes ---------------------------------------------------------------------------------------------


def test_identity_dimshuffle_is_x():
    m = at.dmatrix("m")
    (new,) = check_rewrite(m.transpose(0, 1), ["canonicalize"], {m: M}, n_nodes=0)
    assert new is m


def test_double_transpose_is_x():
    m = at.dmatrix("m")
    (new,) = check_rewrite(m.T.T, ["canonicalize"], {m: M}, n_nodes=0)
    assert new is m


def test_dimshuffles_compose_into_one():
    t = at.dtensor3("t")
    out = t.transpose(2, 0, 1).dimshuffle("x", 2, 1, 0)
    check_rewrite(out, ["canonicalize"], {t: RNG.standard_normal((2, 3, 4))}, ops={"dimshuffle": 1})


def test_broadcast_then_drop_is_x(x):
    (new,) = check_rewrite(x.dimshuffle("x", 0).dimshuffle(1), ["canonicalize"], {x: X}, n_nodes=0)
    assert new is x


def test_reshape_to_the_same_static_shape_is_x():
    x34 = at.tensor("float64", (3, 4), name="x34")
    m = at.dmatrix("m")
    outs = [x34.reshape((3, 4)), x34.reshape((3, -1)), m.reshape((3, 4)), x34.reshape((4, 3))]
    new = check_rewrite(outs, ["canonicalize"], {x34: M, m: M})
    assert new[0] is x34 and new[1] is x34
    assert new[2].owner.op.name == "reshape" and new[3].owner.op.name == "reshape"


def test_cast_to_the_same_dtype_is_x(x):
    same, other = _cast(x, dtype="float64"), _cast(x, dtype="float32")
    new = check_rewrite([same, other], ["canonicalize"], {x: X})
    assert new[0] is x and new[1].owner.op.name == "cast"


@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min", "all", "any"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_over_size_one_axes_keep_each_element(kind, keepdims):
    for dtype in ["float64", "int8", "bool"]:
        t = at.tensor(dtype, (None, 1, 1), name="t")
        out = getattr(at, kind)(t, axis=(1, 2), keepdims=keepdims)
        values = (RNG.standard_normal((5, 1, 1)) * 4).astype(dtype)
        check_rewrite(out, ["canonicalize"], {t: values}, ops={"reduce": 0})


def test_mean_over_a_size_one_axis_needs_no_node():
    t = at.tensor("float64", (None, 1), name="t")
    check_rewrite(t.mean(axis=1), "fast_run", {t: M[:, :1]}, ops={"dimshuffle": 1}, n_nodes=1)


def test_reductions_over_other_axes_stay():
    t = at.tensor("float64", (None, 1, None), name="t")
    out = [t.sum(axis=(1, 2)), t.max(axis=0)]
    check_rewrite(out, ["canonicalize"], {t: RNG.standard_normal((2, 1, 3))}, ops={"reduce": 2})


def test_rule_names_are_unique():
    assert len({r.name for r in RULES}) == len(RULES)
    assert op_counts([]) == {}

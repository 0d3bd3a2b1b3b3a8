"""stabilize: the stable form replaces the written one, agrees with it where that is finite, and stays finite
(and accurate) where the written form gives inf or nan."""

from __future__ import annotations

import numpy as np
import pytest
from rewritecheck import check_rewrite, statement_counts

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.graph.evaluate import evaluate
from aotgraph.rewrite import rewrite_graph

MODERATE = np.linspace(-20, 20, 41)
EXTREME = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])


def stable(outputs, givens):
    """Values of `outputs` after the fast_run pipeline (type-checked), by the numpy reference."""
    new = rewrite_graph(list(outputs), "fast_run", check=True)
    with np.errstate(all="ignore"):
        return evaluate(new, givens)


def naive(outputs, givens):
    with np.errstate(all="ignore"):
        return evaluate(list(outputs), givens)


@pytest.fixture
def x():
    return at.dvector("x")


def test_log_1_plus_x_is_log1p(x):
    check_rewrite(at.log(1 + x), ["stabilize"], {x: MODERATE[21:]}, ops={"log1p": 1, "log": 0}, exact=False)
    (tiny,) = stable([at.log(x + 1)], {x: np.array([1e-20])})
    assert tiny[0] == 1e-20  # log(1 + 1e-20) is 0


def test_log_1_minus_x_is_log1p_of_minus_x(x):
    check_rewrite(at.log(1 - x), ["stabilize"], {x: MODERATE[:20]}, ops={"log1p": 1, "log": 0}, exact=False)


def test_exp_minus_1_is_expm1(x):
    check_rewrite([at.exp(x) - 1, at.exp(x) + (-1)], ["stabilize"], {x: MODERATE}, ops={"expm1": 1, "exp": 0},
                  exact=False)
    (tiny,) = stable([at.exp(x) - 1], {x: np.array([1e-20])})
    assert tiny[0] == 1e-20


def test_float32_stays_float32():
    f = at.fvector("f")
    new = check_rewrite(at.log(1 + f), ["stabilize"], {f: np.float32([0.5, 2.0])}, ops={"log1p": 1},
                        exact=False, rtol=1e-6)
    assert new[0].dtype == "float32"


def test_integer_inputs_are_left_alone():
    """int8: 1 + 127 wraps to -128 before the log sees it; log1p(127) would not."""
    i = at.bvector("i")
    check_rewrite([at.log(1 + i), at.exp(i) - 1], ["stabilize"], {i: np.array([1, 127], "int8")},
                  ops={"log": 1, "log1p": 0, "exp": 1, "expm1": 0})


def test_mixed_precision_is_left_alone():
    """float32 x with a float64 one: log(1 + x) is float64, log1p(x) would be float32."""
    f = at.fvector("f")
    check_rewrite(at.log(at.constant(np.float64(1)) + f), ["stabilize"], {f: np.float32([0.5])}, ops={"log": 1})


def softplus(v):
    """log(1 + exp(v)), accurately."""
    return np.logaddexp(0.0, v)


def test_log_sigmoid_is_minus_softplus_of_minus_x(x):
    # the written form loses about 8 digits where sigmoid(x) is near 1; the stable one is exact to rounding
    (new,) = check_rewrite(at.log(at.sigmoid(x)), ["stabilize"], {x: MODERATE}, ops={"softplus": 1, "log": 0},
                           exact=False, rtol=1e-7)
    np.testing.assert_allclose(evaluate([new], {x: MODERATE})[0], -softplus(-MODERATE), rtol=1e-15)
    (got,) = stable([at.log(at.sigmoid(x))], {x: EXTREME})
    (bad,) = naive([at.log(at.sigmoid(x))], {x: EXTREME})
    assert np.isneginf(bad[0])
    assert got[0] == -800.0 and np.all(np.isfinite(got))


def test_1_minus_sigmoid_is_sigmoid_of_minus_x(x):
    (new,) = check_rewrite(1 - at.sigmoid(x), ["stabilize"], {x: MODERATE}, ops={"sigmoid": 1, "sub": 0},
                           exact=False, rtol=1e-7)
    (got,) = stable([1 - at.sigmoid(x)], {x: EXTREME})
    (bad,) = naive([1 - at.sigmoid(x)], {x: EXTREME})
    assert bad[3] == 0.0 and got[3] == pytest.approx(4.248354255291589e-18, rel=1e-15)


def test_log_1_minus_sigmoid_is_minus_softplus(x):
    (new,) = check_rewrite(at.log(1 - at.sigmoid(x)), ["stabilize"], {x: MODERATE}, ops={"softplus": 1, "log": 0},
                           exact=False, rtol=1e-7)
    np.testing.assert_allclose(evaluate([new], {x: MODERATE})[0], -softplus(MODERATE), rtol=1e-15)
    (got,) = stable([at.log(1 - at.sigmoid(x))], {x: EXTREME})
    assert got[-1] == -800.0 and np.all(np.isfinite(got))


def test_log_1_plus_exp_is_softplus(x):
    new = check_rewrite([at.log(1 + at.exp(x)), at.log1p(at.exp(x))], ["stabilize"], {x: MODERATE},
                        ops={"softplus": 1, "log": 0, "log1p": 0, "exp": 0}, exact=False, rtol=1e-7)
    np.testing.assert_allclose(evaluate(new, {x: MODERATE})[0], softplus(MODERATE), rtol=1e-15)
    (got,) = stable([at.log(1 + at.exp(x))], {x: EXTREME})
    assert got[-1] == 800.0


def test_log_softmax(x):
    m = at.dmatrix("m")
    values = np.array([[1.0, 2.0, 3.0], [-1000.0, 0.0, 1000.0]])
    new = check_rewrite(at.log(at.softmax(m, axis=0)), ["stabilize"], {m: values[:1]},
                        ops={"log_softmax": 1, "softmax": 0, "log": 0}, exact=False)
    assert new[0].owner.op.axis == (0,)
    (got,) = stable([at.log(at.softmax(m))], {m: values})
    assert np.all(np.isfinite(got)) and got[1, 0] == -2000.0


def tutorial_xent(z, y):
    """The Theano tutorial's cross-entropy, with the logistic function written out."""
    p = 1 / (1 + at.exp(-z))
    return -y * at.log(p) - (1 - y) * at.log(1 - p)


def test_tutorial_cross_entropy_is_stable():
    z, y = at.dvector("z"), at.dvector("y")
    xent = tutorial_xent(z, y)
    new = rewrite_graph([xent], "fast_run", check=True)
    ops = set(statement_counts(new))
    assert "softplus" in ops and not ops & {"log", "exp", "true_div", "sigmoid"}, ops

    labels = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    (bad,) = naive([xent], {z: EXTREME, y: labels})
    (good,) = stable([xent], {z: EXTREME, y: labels})
    assert not np.all(np.isfinite(bad))
    np.testing.assert_allclose(good, [800.0, 4.248354255291589e-18, np.log(2), 40.0, 0.0], atol=1e-15)

    moderate = {z: MODERATE, y: (MODERATE > 0).astype(float)}
    np.testing.assert_allclose(stable([xent], moderate)[0], naive([xent], moderate)[0], rtol=1e-7)


def test_tutorial_cost_in_a_function():
    """Compiled with the fast_run rewrites, the tutorial's cost is finite at logits of +-800."""
    x, y = at.dmatrix("x"), at.dvector("y")
    w = ag.shared(np.array([400.0, 400.0]), name="w")
    b = ag.shared(0.0, name="b")
    p_1 = 1 / (1 + at.exp(-at.dot(x, w) - b))
    xent = -y * at.log(p_1) - (1 - y) * at.log(1 - p_1)
    data = (np.array([[1.0, 1.0], [-1.0, -1.0]]), np.array([0.0, 1.0]))
    naive_f = ag.function([x, y], xent.mean(), mode="FAST_COMPILE")
    stable_f = ag.function([x, y], xent.mean(), mode=ag.Mode("reference", "fast_run"))
    with np.errstate(all="ignore"):
        assert np.isinf(naive_f(*data))
    assert stable_f(*data) == 800.0


def test_tutorial_gradient_is_finite_at_the_tutorials_start():
    """Logits of +-100 (w ~ N(0, 1) with 784 features): 1 - p rounds to 0, so the cost as written is inf and
    its gradient infinite; with 1 - sigmoid(z) -> sigmoid(-z) both are finite and right (d xent / dz = p - y)."""
    x, y = at.dmatrix("x"), at.dvector("y")
    w = ag.shared(np.array([50.0, 50.0]), name="w")
    b = ag.shared(0.0, name="b")
    p_1 = 1 / (1 + at.exp(-at.dot(x, w) - b))
    xent = -y * at.log(p_1) - (1 - y) * at.log(1 - p_1)
    cost = xent.mean()
    gw, gb = ag.grad(cost, [w, b])
    data = (np.array([[1.0, 1.0], [-1.0, -1.0]]), np.array([0.0, 1.0]))  # logits 100 and -100, both wrong
    naive_f = ag.function([x, y], [cost, gw, gb], mode="FAST_COMPILE")
    stable_f = ag.function([x, y], [cost, gw, gb], mode=ag.Mode("reference", "fast_run"))
    with np.errstate(all="ignore"):
        naive_cost, naive_gw, _ = naive_f(*data)
    assert np.isinf(naive_cost) and not np.isfinite(naive_gw).any()
    stable_cost, stable_gw, stable_gb = stable_f(*data)
    assert stable_cost == 100.0
    np.testing.assert_allclose(stable_gw, [1.0, 1.0])
    assert abs(stable_gb) < 1e-15

"""theano.tensor's names (basic, nnet, extra_ops) against numpy, in both modes and in a built module; the
gradients of the new ops are checked by tests/test_gradient.py's verify_grad cases."""

from __future__ import annotations

import numpy as np
import pytest
from compatfunctions import EXACT, NAMES, I, M, P, X, all_names

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.tensor import extra_ops, nnet


def _expected(label):
    build, reference = next((b, r) for name, b, r in NAMES if name == label)
    with np.errstate(all="ignore"):
        return np.asarray(reference(X, M, I, P))


def _check(label, out):
    expected = _expected(label)
    assert out.shape == expected.shape and out.dtype == expected.dtype, (label, out, expected)
    if label in EXACT:
        np.testing.assert_array_equal(out, expected, err_msg=label)
    else:
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15, err_msg=label)


@pytest.fixture
def results(functions):
    return dict(zip([label for label, _, _ in NAMES], all_names(functions, X, M, I, P), strict=True))


@pytest.mark.parametrize("label", [label for label, _, _ in NAMES])
def test_name_matches_numpy(results, label):
    _check(label, results[label])


def test_names_in_a_built_module(built):
    module, _ = built
    for (label, _, _), out in zip(NAMES, all_names(module, X, M, I, P), strict=True):
        _check(label, out)


def test_theano_names_are_there():
    """The names every ported program uses, under the modules Theano has them in."""
    for name in ("grad", "Rop", "Lop", "jacobian", "hessian", "arange", "argmax", "cast", "neq", "sort", "cumsum",
                 "switch", "concatenate", "stack", "dot", "tensordot", "eye", "zeros_like", "shape_padleft",
                 "addbroadcast", "fill_diagonal", "repeat", "bincount", "squeeze", "diff", "nnet", "extra_ops"):
        assert hasattr(at, name), name
    for name in ("sigmoid", "softmax", "relu", "softplus", "categorical_crossentropy", "binary_crossentropy"):
        assert hasattr(nnet, name), name
    for name in extra_ops.__all__:
        assert callable(getattr(extra_ops, name)), name
    assert at.grad is ag.grad


def test_theano_constructors_and_constants():
    r, c = at.drow("r"), at.icol("c")
    assert (r.type.shape, r.dtype, c.type.shape, c.dtype) == ((1, None), "float64", (None, 1), "int32")
    assert at.tensor5().ndim == 5 and at.ltensor7("t").dtype == "int64"
    assert [v.broadcastable for v in at.frows("ab")] == [(True, False)] * 2
    assert at.get_scalar_constant_value(at.constant(3.5)) == 3.5 and at.get_scalar_constant_value(2) == 2
    with pytest.raises(at.NotScalarConstantError):
        at.get_scalar_constant_value(r)


def test_addbroadcast_declares_and_checks_size_one():
    m = at.dmatrix("m")
    b = at.addbroadcast(m, 0)
    assert b.broadcastable == (True, False)
    f = ag.function([m], b * 2)
    np.testing.assert_array_equal(f(np.ones((1, 3))), 2 * np.ones((1, 3)))
    with pytest.raises(ValueError, match="specify_shape"):
        f(np.ones((2, 3)))


def test_unbroadcast_and_patternbroadcast_change_the_type_only():
    r = at.drow("r")
    u = at.unbroadcast(r, 0)
    assert u.broadcastable == (False, False) and at.unbroadcast(u, 0) is u
    p = at.patternbroadcast(u, (True, False))
    assert p.broadcastable == (True, False)
    s = ag.shared(np.zeros((1, 2)), name="s", shape=(1, None))
    with pytest.raises(TypeError, match="the update of s must have its type"):
        ag.function([], updates=[(s, at.unbroadcast(s, 0) + 1)])
    g = ag.grad((at.unbroadcast(r, 0) * at.dmatrix("m")).sum(), r)
    assert g.broadcastable == (True, False)
    with pytest.raises(TypeError, match="pattern"):
        at.patternbroadcast(r, (True,))


def test_bad_arguments_are_refused_with_their_names():
    x, m = at.dvector("x"), at.dmatrix("m")
    cases = [
        (lambda: nnet.categorical_crossentropy(m, x), TypeError, "class indices must be integers"),
        (lambda: nnet.categorical_crossentropy(m, at.ltensor3()), TypeError, "rank of coding_dist or one less"),
        (lambda: extra_ops.bincount(x), TypeError, "x must be a vector of integers"),
        (lambda: extra_ops.to_one_hot(x, 3), TypeError, "integer class indices"),
        (lambda: extra_ops.diff(x, -1), TypeError, "non-negative int"),
        (lambda: extra_ops.cumsum(m, axis=2), ValueError, "axis"),
        (lambda: extra_ops.searchsorted(x, x, side="middle"), ValueError, "side must be"),
        (lambda: extra_ops.unravel_index(at.lscalar(), at.lvector()), ValueError, "number of dims must be known"),
        (lambda: at.sort(x, kind="bogo"), ValueError, "kind must be one of"),
        (lambda: at.tile(x, (1.5,)), TypeError, "reps must be an int"),
        (lambda: at.grad_clip(x, 1.0, -1.0), ValueError, "greater than upper_bound"),
        (lambda: at.grad_scale(x, x), TypeError, "multiplier must be a real number"),
    ]
    for make, error, message in cases:
        with pytest.raises(error, match=message):
            make()


def test_repeat_with_counts_has_no_gradient_as_in_theano():
    x, r = at.dvector("x"), at.lvector("r")
    with pytest.raises(NotImplementedError, match="vector of counts"):
        ag.grad(extra_ops.repeat(x, r).sum(), x)

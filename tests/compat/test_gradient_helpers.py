"""theano.gradient's helpers (zero_grad, disconnected_grad, grad_clip, grad_scale, consider_constant,
known_grads, subgraph_grad) and gradients of integer inputs, in both modes and in a built module."""

from __future__ import annotations

import numpy as np
import pytest
from compatfunctions import X

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph import gradient


def _expected_helpers(w):
    e = np.exp(w)
    return [w, w, np.clip(2 * w, -0.5, 0.5), 0.25 * 2 * w, e, e, 2 * e, e * (1 + w)]


def test_helpers(functions):
    for out, expected in zip(functions["helpers"](X), _expected_helpers(X)):
        np.testing.assert_allclose(out, expected, rtol=1e-15)


def test_helpers_in_a_built_module(built):
    module, _ = built
    for out, expected in zip(module.helpers(X), _expected_helpers(X)):
        np.testing.assert_allclose(out, expected, rtol=1e-15)


def test_subgraph_grad_equals_one_grad_of_the_total(functions, state):
    x, target = state["subgraph"]["values"]
    w2_piece, w1_piece, w2_whole, w1_whole = functions["subgraph_grad"](x, target)
    np.testing.assert_allclose(w2_piece, w2_whole, rtol=1e-12)
    np.testing.assert_allclose(w1_piece, w1_whole, rtol=1e-12)


def test_disconnected_grad_disconnects():
    w = at.dvector("w")
    with pytest.raises(gradient.DisconnectedInputError, match="does not depend on wrt"):
        ag.grad(gradient.disconnected_grad(w).sum(), w)
    g = ag.grad(at.zero_grad(w).sum(), w)  # zero_grad keeps w connected: zeros, no error
    np.testing.assert_array_equal(ag.function([w], g)(X), np.zeros_like(X))


def test_markers_are_identities_forward():
    w = at.dvector("w")
    outs = [at.zero_grad(w), gradient.disconnected_grad(w), at.grad_clip(w, -1, 1), at.grad_scale(w, 3),
            gradient.consider_constant(w)]
    f = ag.function([w], [o * 1.5 for o in outs], mode="FAST_COMPILE")
    for out in f(X):
        np.testing.assert_array_equal(out, X * 1.5)


def test_subgraph_grad_arguments():
    x = at.dvector("x")
    with pytest.raises(TypeError, match="give cost, start, or both"):
        gradient.subgraph_grad([x], [x])
    with pytest.raises(TypeError, match="lists of variables"):
        gradient.subgraph_grad(x, [x], cost=x.sum())
    wrt, ends, from_start, from_cost = gradient.subgraph_grad([x], [], cost=(x ** 2).sum(), details=True)
    assert ends == [] and from_start is None and len(from_cost) == 1


def test_gradient_of_integer_inputs():
    i, x = at.ivector("i"), at.dvector("x")
    g_i, g_x = ag.grad((i * x).sum(), [i, x])
    assert g_i.dtype == ag.config.floatX and g_x.dtype == "float64"
    values = ag.function([i, x], [g_i, g_x])(np.array([1, 2], np.int32), np.array([0.5, 1.5]))
    np.testing.assert_array_equal(values[0], [0.0, 0.0])
    np.testing.assert_array_equal(values[1], [1.0, 2.0])

"""The functions the compat tests call, compiled in FAST_COMPILE (compatsupport.py compiles them all for FAST_RUN
in one module, and builds the ones in BUILT with `ag.build`).

Each group is one item of issue 14 (Theano compatibility); the tests in this folder check their values against
numpy and their state after calls, in both modes and in the built module.
"""

from __future__ import annotations

import numpy as np

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph import gradient
from aotgraph.tensor import extra_ops, nnet

# argument values of the `names` function
X = np.array([0.3, -0.7, 0.1, 0.9, -0.2])
M = np.arange(12.0).reshape(3, 4) / 7.0 - 0.6
I = np.array([1, 0, 3, 3, 2])  # noqa: E741
P = np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]])

# (label, symbolic builder of (x, m, i, p), numpy reference of (X, M, I, P)): theano.tensor's names against numpy
NAMES = [
    ("log2", lambda x, m, i, p: at.log2(abs(x) + 0.5), lambda x, m, i, p: np.log2(abs(x) + 0.5)),
    ("log10", lambda x, m, i, p: at.log10(abs(x) + 0.5), lambda x, m, i, p: np.log10(abs(x) + 0.5)),
    ("exp2", lambda x, m, i, p: at.exp2(x), lambda x, m, i, p: np.exp2(x)),
    ("cosh", lambda x, m, i, p: at.cosh(x), lambda x, m, i, p: np.cosh(x)),
    ("sinh", lambda x, m, i, p: at.sinh(x), lambda x, m, i, p: np.sinh(x)),
    ("arcsin", lambda x, m, i, p: at.arcsin(x), lambda x, m, i, p: np.arcsin(x)),
    ("arccos", lambda x, m, i, p: at.arccos(x), lambda x, m, i, p: np.arccos(x)),
    ("arcsinh", lambda x, m, i, p: at.arcsinh(x), lambda x, m, i, p: np.arcsinh(x)),
    ("arccosh", lambda x, m, i, p: at.arccosh(x + 2), lambda x, m, i, p: np.arccosh(x + 2)),
    ("arctanh", lambda x, m, i, p: at.arctanh(x), lambda x, m, i, p: np.arctanh(x)),
    ("arctan2", lambda x, m, i, p: at.arctan2(x, x[::-1]), lambda x, m, i, p: np.arctan2(x, x[::-1])),
    ("erfc", lambda x, m, i, p: at.erfc(x), lambda x, m, i, p: np.array([__import__("math").erfc(v) for v in x])),
    ("trunc", lambda x, m, i, p: at.trunc(x * 3), lambda x, m, i, p: np.trunc(x * 3)),
    ("isnan", lambda x, m, i, p: at.isnan(at.log(x)), lambda x, m, i, p: np.isnan(np.log(x))),
    ("isinf", lambda x, m, i, p: at.isinf(1 / (x * 0)), lambda x, m, i, p: np.isinf(1 / (x * 0))),
    ("add_many", lambda x, m, i, p: at.add(x, 1.0, x, i), lambda x, m, i, p: x + 1.0 + x + i),
    ("mul_many", lambda x, m, i, p: at.mul(x, 3, x), lambda x, m, i, p: x * 3 * x),
    ("deg2rad", lambda x, m, i, p: at.deg2rad(x), lambda x, m, i, p: np.deg2rad(x)),
    ("rad2deg", lambda x, m, i, p: at.rad2deg(x), lambda x, m, i, p: np.rad2deg(x)),
    ("inv", lambda x, m, i, p: at.inv(x), lambda x, m, i, p: 1 / x),
    ("sgn", lambda x, m, i, p: at.sgn(x), lambda x, m, i, p: np.sign(x)),
    ("abs_", lambda x, m, i, p: at.abs_(x), lambda x, m, i, p: np.abs(x)),
    ("iround", lambda x, m, i, p: at.iround(x * 5), lambda x, m, i, p: np.round(x * 5).astype(np.int64)),
    ("isclose", lambda x, m, i, p: at.isclose(x, x + 1e-9), lambda x, m, i, p: np.isclose(x, x + 1e-9)),
    ("allclose", lambda x, m, i, p: at.allclose(x, x * 1.1), lambda x, m, i, p: np.array(np.allclose(x, x * 1.1))),
    ("sort", lambda x, m, i, p: at.sort(m, axis=0), lambda x, m, i, p: np.sort(m, axis=0)),
    ("sort_flat", lambda x, m, i, p: at.sort(m, axis=None), lambda x, m, i, p: np.sort(m, axis=None)),
    ("argsort", lambda x, m, i, p: at.argsort(x), lambda x, m, i, p: np.argsort(x)),
    ("nonzero", lambda x, m, i, p: at.nonzero(at.gt(m, 0))[1], lambda x, m, i, p: np.nonzero(m > 0)[1]),
    ("nonzero_matrix", lambda x, m, i, p: at.nonzero(at.gt(m, 0), return_matrix=True),
     lambda x, m, i, p: np.array(np.nonzero(m > 0))),
    ("flatnonzero", lambda x, m, i, p: at.flatnonzero(at.gt(m, 0)), lambda x, m, i, p: np.flatnonzero(m > 0)),
    ("nonzero_values", lambda x, m, i, p: at.nonzero_values(at.gt(m, 0) * m), lambda x, m, i, p: m[m > 0]),
    ("take", lambda x, m, i, p: at.take(m, i[:2], axis=1), lambda x, m, i, p: np.take(m, i[:2], axis=1)),
    ("take_flat", lambda x, m, i, p: at.take(m, i), lambda x, m, i, p: np.take(m, i)),
    ("cumsum", lambda x, m, i, p: at.cumsum(m, axis=1), lambda x, m, i, p: np.cumsum(m, axis=1)),
    ("cumprod_flat", lambda x, m, i, p: extra_ops.cumprod(m), lambda x, m, i, p: np.cumprod(m)),
    ("cumsum_int", lambda x, m, i, p: extra_ops.cumsum(i), lambda x, m, i, p: np.cumsum(i)),
    ("diff", lambda x, m, i, p: extra_ops.diff(m, 2, axis=1), lambda x, m, i, p: np.diff(m, 2, axis=1)),
    ("bincount", lambda x, m, i, p: extra_ops.bincount(i), lambda x, m, i, p: np.bincount(i)),
    ("bincount_weights", lambda x, m, i, p: extra_ops.bincount(i, x, minlength=7),
     lambda x, m, i, p: np.bincount(i, x, minlength=7)),
    ("squeeze", lambda x, m, i, p: extra_ops.squeeze(at.shape_padleft(x)), lambda x, m, i, p: x),
    ("compress", lambda x, m, i, p: extra_ops.compress(at.gt(x, 0), x), lambda x, m, i, p: np.compress(x > 0, x)),
    ("repeat", lambda x, m, i, p: extra_ops.repeat(m, 2, axis=0), lambda x, m, i, p: np.repeat(m, 2, axis=0)),
    ("repeat_counts", lambda x, m, i, p: extra_ops.repeat(x, i), lambda x, m, i, p: np.repeat(x, i)),
    ("bartlett", lambda x, m, i, p: extra_ops.bartlett(5), lambda x, m, i, p: np.bartlett(5)),
    ("fill_diagonal", lambda x, m, i, p: extra_ops.fill_diagonal(m, 5.0),
     lambda x, m, i, p: np.where(np.eye(3, 4) > 0, 5.0, m)),
    ("fill_diagonal_offset", lambda x, m, i, p: extra_ops.fill_diagonal_offset(m, 5.0, -1),
     lambda x, m, i, p: np.where(np.eye(3, 4, -1) > 0, 5.0, m)),
    ("to_one_hot", lambda x, m, i, p: extra_ops.to_one_hot(i, 4), lambda x, m, i, p: np.eye(4)[i]),
    ("unique", lambda x, m, i, p: extra_ops.unique(i), lambda x, m, i, p: np.unique(i)),
    ("unique_counts", lambda x, m, i, p: extra_ops.unique(i, return_counts=True)[1],
     lambda x, m, i, p: np.unique(i, return_counts=True)[1]),
    ("searchsorted", lambda x, m, i, p: extra_ops.searchsorted(at.sort(x), x, side="right"),
     lambda x, m, i, p: np.searchsorted(np.sort(x), x, side="right")),
    ("ravel_multi_index", lambda x, m, i, p: extra_ops.ravel_multi_index([i, i], (4, 5)),
     lambda x, m, i, p: np.ravel_multi_index((i, i), (4, 5))),
    ("unravel_index", lambda x, m, i, p: extra_ops.unravel_index(i, (2, 2))[1],
     lambda x, m, i, p: np.unravel_index(i, (2, 2))[1]),
    ("cpu_contiguous", lambda x, m, i, p: extra_ops.cpu_contiguous(m.T), lambda x, m, i, p: m.T),
    ("eye", lambda x, m, i, p: at.eye(3, 4, 1), lambda x, m, i, p: np.eye(3, 4, 1)),
    ("identity_like", lambda x, m, i, p: at.identity_like(m), lambda x, m, i, p: np.eye(3, 4)),
    ("tri", lambda x, m, i, p: at.tri(3, 4, -1), lambda x, m, i, p: np.tri(3, 4, -1)),
    ("tril", lambda x, m, i, p: at.tril(m, 1), lambda x, m, i, p: np.tril(m, 1)),
    ("triu", lambda x, m, i, p: at.triu(m, -1), lambda x, m, i, p: np.triu(m, -1)),
    ("diag_of_vector", lambda x, m, i, p: at.diag(x, 1), lambda x, m, i, p: np.diag(x, 1)),
    ("diag_of_matrix", lambda x, m, i, p: at.diag(m, -1), lambda x, m, i, p: np.diag(m, -1)),
    ("diagonal", lambda x, m, i, p: at.diagonal(m, 2), lambda x, m, i, p: np.diagonal(m, 2)),
    ("tensordot", lambda x, m, i, p: at.tensordot(m, m, [[0], [0]]), lambda x, m, i, p: np.tensordot(m, m, [[0], [0]])),
    ("tensordot_all", lambda x, m, i, p: at.tensordot(m, m, 2), lambda x, m, i, p: np.tensordot(m, m, 2)),
    ("batched_dot", lambda x, m, i, p: at.batched_dot(at.stack([m, m]), at.stack([m.T, m.T])),
     lambda x, m, i, p: np.matmul(np.stack([m, m]), np.stack([m.T, m.T]))),
    ("batched_tensordot", lambda x, m, i, p: at.batched_tensordot(at.stack([m, m * 2]), at.stack([m, m]), [[1], [1]]),
     lambda x, m, i, p: np.stack([np.tensordot(m, m, [[0], [0]]), np.tensordot(m * 2, m, [[0], [0]])])),
    ("tile", lambda x, m, i, p: at.tile(x, (2, 3)), lambda x, m, i, p: np.tile(x, (2, 3))),
    ("roll", lambda x, m, i, p: at.roll(m, -1, axis=1), lambda x, m, i, p: np.roll(m, -1, axis=1)),
    ("roll_flat", lambda x, m, i, p: at.roll(m, 7), lambda x, m, i, p: np.roll(m, 7)),
    ("swapaxes", lambda x, m, i, p: at.swapaxes(m, 0, 1), lambda x, m, i, p: np.swapaxes(m, 0, 1)),
    ("horizontal_stack", lambda x, m, i, p: at.horizontal_stack(m, m), lambda x, m, i, p: np.hstack([m, m])),
    ("vertical_stack", lambda x, m, i, p: at.vertical_stack(m, m), lambda x, m, i, p: np.vstack([m, m])),
    ("join", lambda x, m, i, p: at.join(1, m, m), lambda x, m, i, p: np.concatenate([m, m], axis=1)),
    ("stacklists", lambda x, m, i, p: at.stacklists([[x[0], x[1]], [x[2], x[3]]]),
     lambda x, m, i, p: np.array([[x[0], x[1]], [x[2], x[3]]])),
    ("patternbroadcast", lambda x, m, i, p: at.patternbroadcast(at.shape_padleft(x), (False, False)) * 2,
     lambda x, m, i, p: x[None, :] * 2),
    ("patternbroadcast_true", lambda x, m, i, p: at.patternbroadcast(m[:1], (True, False)) + m,
     lambda x, m, i, p: m[:1] + m),
    ("shape_padright", lambda x, m, i, p: at.shape_padright(x, 2), lambda x, m, i, p: x[:, None, None]),
    ("shape_padaxis", lambda x, m, i, p: at.shape_padaxis(m, 1), lambda x, m, i, p: m[:, None, :]),
    ("max_and_argmax", lambda x, m, i, p: at.max_and_argmax(m, axis=1)[1], lambda x, m, i, p: np.argmax(m, axis=1)),
    ("largest", lambda x, m, i, p: at.largest(x, -x, 0.5), lambda x, m, i, p: np.maximum(np.maximum(x, -x), 0.5)),
    ("smallest", lambda x, m, i, p: at.smallest(x, -x), lambda x, m, i, p: np.minimum(x, -x)),
    ("ptp", lambda x, m, i, p: at.ptp(m, axis=0), lambda x, m, i, p: np.ptp(m, axis=0)),
    ("softmax", lambda x, m, i, p: nnet.softmax(m), lambda x, m, i, p: _softmax(m)),
    ("logsoftmax", lambda x, m, i, p: nnet.logsoftmax(m), lambda x, m, i, p: np.log(_softmax(m))),
    ("softmax_with_bias", lambda x, m, i, p: nnet.softmax_with_bias(m, x[:4]),
     lambda x, m, i, p: _softmax(m + x[:4])),
    ("categorical_crossentropy_indices", lambda x, m, i, p: nnet.categorical_crossentropy(p, i[:2]),
     lambda x, m, i, p: -np.log(p[[0, 1], i[:2]])),
    ("categorical_crossentropy_dist", lambda x, m, i, p: nnet.categorical_crossentropy(p, p[::-1]),
     lambda x, m, i, p: -(p[::-1] * np.log(p)).sum(axis=1)),
    ("crossentropy_softmax_1hot", lambda x, m, i, p: nnet.crossentropy_softmax_1hot(m, i[:3] % 4)[0],
     lambda x, m, i, p: -np.log(_softmax(m))[[0, 1, 2], i[:3] % 4]),
    ("binary_crossentropy", lambda x, m, i, p: nnet.binary_crossentropy(p, p[::-1]),
     lambda x, m, i, p: -(p[::-1] * np.log(p) + (1 - p[::-1]) * np.log(1 - p))),
    ("sigmoid_binary_crossentropy", lambda x, m, i, p: nnet.sigmoid_binary_crossentropy(m, at.gt(m, 0.1)),
     lambda x, m, i, p: -((m > 0.1) * np.log(_sigmoid(m)) + (1 - (m > 0.1)) * np.log(1 - _sigmoid(m)))),
    ("hard_sigmoid", lambda x, m, i, p: nnet.hard_sigmoid(m * 5), lambda x, m, i, p: np.clip(m * 5 * 0.2 + 0.5, 0, 1)),
    ("ultra_fast_sigmoid", lambda x, m, i, p: nnet.ultra_fast_sigmoid(m), lambda x, m, i, p: _sigmoid(m)),
    ("softsign", lambda x, m, i, p: nnet.softsign(m), lambda x, m, i, p: m / (1 + abs(m))),
    ("elu", lambda x, m, i, p: nnet.elu(m, 0.5), lambda x, m, i, p: np.where(m > 0, m, 0.5 * np.expm1(m))),
    ("selu", lambda x, m, i, p: nnet.selu(m),
     lambda x, m, i, p: 1.0507009873554805 * np.where(m > 0, m, 1.6732632423543772 * np.expm1(m))),
    ("relu_alpha", lambda x, m, i, p: nnet.relu(m, 0.1), lambda x, m, i, p: np.where(m > 0, m, 0.1 * m)),
    ("relu", lambda x, m, i, p: nnet.relu(m), lambda x, m, i, p: np.maximum(m, 0)),
]

# compiled and compared exactly; the others within a few ulps (libm and numpy may round differently)
EXACT = {"trunc", "isnan", "isinf", "sgn", "abs_", "iround", "isclose", "allclose", "sort", "sort_flat", "argsort",
         "nonzero", "nonzero_matrix", "flatnonzero", "nonzero_values", "take", "take_flat", "cumsum_int", "bincount",
         "bincount_weights", "squeeze", "compress", "repeat", "repeat_counts", "fill_diagonal", "fill_diagonal_offset",
         "to_one_hot", "unique", "unique_counts", "searchsorted", "ravel_multi_index", "unravel_index",
         "cpu_contiguous", "eye", "identity_like", "tri", "tril", "triu", "diag_of_vector", "diag_of_matrix",
         "diagonal", "tile", "roll", "roll_flat", "swapaxes", "horizontal_stack", "vertical_stack", "join",
         "stacklists", "shape_padright", "shape_padaxis", "max_and_argmax", "largest", "smallest", "ptp", "relu",
         "relu_alpha"}

# the functions a module built with ag.build can hold (not those sharing another function's container)
# NAMES split between functions of 25 outputs each (one function of all 97 was a kernel of 189 steps and ~4 MB of
# C; of 35 outputs, names_1 alone was 2.09 MB: tests/buildbatches.py); names_0 shares a module with the small ones
NAME_GROUPS = {f"names_{k // 25}": NAMES[k:k + 25] for k in range(0, len(NAMES), 25)}
BUILT = ["view_out", "self_out", "view_out_borrowed", "self_out_borrowed", "two_outputs", "int_counter", "cut",
         "grad_const", "grad_of_int", "implicit_const", *NAME_GROUPS, "helpers"]


def all_names(functions, *args) -> list:
    """The outputs of every NAMES entry, in order, from the NAME_GROUPS functions of `functions` (a dict or a
    module) called with `args`."""
    get = functions.__getitem__ if isinstance(functions, dict) else lambda name: getattr(functions, name)
    return [out for name in NAME_GROUPS for out in get(name)(*args)]


def _softmax(m):
    e = np.exp(m - m.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(m):
    return 1 / (1 + np.exp(-m))


def all_functions() -> tuple[dict, dict]:
    """({name: Function}, {name: shared variable or other object the tests need}), compiled in FAST_COMPILE."""
    functions, state = {}, {}

    def fn(name, inputs, outputs, **kwargs):
        functions[name] = ag.function(inputs, outputs, mode="FAST_COMPILE", name=name, **kwargs)

    # In(borrow=) and Out(borrow=): no output aliases an argument unless both allow it
    a = at.dmatrix("a")
    fn("view_out", [a], ag.Out(a[0, :], borrow=True))
    fn("self_out", [a], ag.Out(a, borrow=True))
    fn("view_out_borrowed", [ag.In(a, borrow=True)], ag.Out(a[0, :], borrow=True))
    fn("self_out_borrowed", [ag.In(a, borrow=True)], ag.Out(a, borrow=True))
    fn("borrowed_in_only", [ag.In(a, borrow=True)], a[:, 1])
    fn("two_outputs", [a], [ag.Out(a.T, borrow=True), ag.Out(a * 2, borrow=True)])

    # an integer state updated with an integer expression keeps its dtype
    s = at.iscalar("s")
    fn("int_counter", [ag.In(s, value=0, update=s + 1)], s * 2)

    # inputs computed from other variables cut the graph
    x = at.dvector("x")
    h = at.sigmoid(x)
    fn("cut", [h], (2 * h).sum())
    t = a.T
    fn("cut_unused_ignored", [a, t], t * 2, on_unused_input="ignore")

    # a gradient folded to a constant still uses the cost's inputs
    xs = at.dscalar("xs")
    fn("grad_const", [xs], ag.grad(2 * xs, xs))
    iv = at.ivector("iv")
    fn("grad_of_int", [iv], ag.grad((iv * 2.0).sum(), iv))

    # one state, two functions; implicit inputs; f.value / f.container / f.finder by position
    x1, acc = at.dscalars("x1", "acc")
    fn("accumulate", [x1, ag.In(acc, value=0.0, update=acc + x1)], acc + x1)
    shared_state = functions["accumulate"].container[acc]
    fn("read_acc", [ag.In(acc, value=shared_state)], acc * 2)
    fn("read_acc_explicit", [ag.In(acc, value=shared_state, implicit=False)], acc * 3)
    y, k = at.dscalars("y", "k")
    fn("implicit_const", [y, ag.In(k, value=1.5, implicit=True)], y * k)

    # default updates: kept, deleted
    kept = ag.shared(0.0, name="kept")
    kept.default_update = kept + 1
    deleted = ag.shared(0.0, name="deleted")
    deleted.default_update = deleted + 1
    del deleted.default_update
    fn("default_update_kept", [], kept * 2)
    fn("default_update_deleted", [], deleted * 2)
    state.update(kept=kept, deleted=deleted)

    # theano.tensor's names against numpy: a few functions with every output between them
    xv, m, i, p = at.dvector("x"), at.dmatrix("m"), at.lvector("i"), at.dmatrix("p")
    for name, group in NAME_GROUPS.items():
        fn(name, [xv, m, i, p], [build(xv, m, i, p) for _, build, _ in group], on_unused_input="ignore")

    # theano.gradient's helpers
    w = at.dvector("w")
    e = at.exp(w)
    full = [
        ag.grad((at.zero_grad(w) * w).sum(), w),  # w: no gradient through the first factor
        ag.grad((gradient.disconnected_grad(w) * w).sum(), w),  # w
        ag.grad((at.grad_clip(w, -0.5, 0.5) ** 2).sum(), w),  # clip(2w, -0.5, 0.5)
        ag.grad((at.grad_scale(w, 0.25) ** 2).sum(), w),  # 0.25 * 2w
        ag.grad((gradient.consider_constant(e) * w).sum(), w),  # exp(w)
        ag.grad((e * w).sum(), w, consider_constant=[e]),  # exp(w)
        ag.grad(None, w, known_grads={e: 2 * at.ones_like(e)}),  # 2 exp(w)
        ag.grad((e * w).sum(), w),  # exp(w) (1 + w)
    ]
    fn("helpers", [w], full)
    state["subgraph"] = _subgraph_grad_functions(fn)
    return functions, state


def _subgraph_grad_functions(fn) -> dict:
    """Theano's subgraph_grad example (two layers, backpropagated one at a time) next to one grad of the total."""
    rng = np.random.default_rng(3)
    x, target = at.dvectors("sx", "st")
    w1 = ag.shared(rng.normal(size=(3, 4)), name="w1")
    w2 = ag.shared(rng.normal(size=(4, 2)), name="w2")
    a1 = at.tanh(at.dot(x, w1))
    a2 = at.tanh(at.dot(a1, w2))
    cost2 = at.sqr(a2 - target).sum() + at.sqr(w2.sum())
    cost1 = at.sqr(w1.sum())
    params, ends, costs = [[w2], [w1]], [[a1], [x]], [cost2, cost1]
    next_grad, by_piece = None, []
    for k in range(2):
        param_grads, end_grads = gradient.subgraph_grad(wrt=params[k], end=ends[k], start=next_grad, cost=costs[k])
        next_grad = dict(zip(ends[k], end_grads))
        by_piece.extend(param_grads)
    whole = ag.grad(cost1 + cost2, [w2, w1])
    fn("subgraph_grad", [x, target], by_piece + whole)
    return {"values": (rng.normal(size=3), rng.normal(size=2))}

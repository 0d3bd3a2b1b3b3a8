"""scan against numpy loops: in FAST_COMPILE, in modules built with ag.build, and in-process FAST_RUN."""

from __future__ import annotations

import numpy as np
import pytest
from buildbatches import build_by_size

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.gradient import verify_grad
from aotgraph.graph.basic import toposort
from aotgraph.rewrite import rewrite_graph
from tests.scan.scancases import CASES, RNG, Case, gibbs_chain, lstm_step

TOL = dict(rtol=1e-10, atol=1e-12)


def check(case: Case, got) -> None:
    for k, (g, e) in enumerate(zip(got, case.expected)):
        np.testing.assert_allclose(g, e, **TOL, err_msg=f"output {k}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_matches_numpy_loop(name):
    case = CASES[name]()
    f = ag.function(case.inputs, case.outputs, mode="FAST_COMPILE")
    check(case, f(*case.args))


# rnn_bptt's and rnn_truncated's functions were 2.05 and 2.07 MB of C each (a forward and a backward scan): each is
# built as two functions, the gradients of W and U, then the rest (1.90 and 1.88 MB), each from its own case, since
# build_by_size keeps functions that share a shared variable (here the weights) in one module
PARTS = {"rnn_bptt": ([2, 3], [0, 1, 4, 5, 6]), "rnn_truncated": ([2, 3], [0, 1, 4, 5, 6])}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every case (and the Gibbs chain) built with ag.build, in modules of <= ~2 MB of C (tests/buildbatches.py;
    one module of all of them was 6.4 MB: gcc's time grows faster than the source): ({name: [(built function,
    case, the indices of case.outputs it returns)]}, cases)."""
    cases = {name: make() for name, make in CASES.items()}
    cases["gibbs"] = gibbs_chain()
    plan = {name: [(name, case, list(range(len(case.outputs))))] for name, case in cases.items()}
    for name, parts in PARTS.items():
        plan[name] = [(f"{name}_{k}", CASES[name](), picked) for k, picked in enumerate(parts)]
    functions = {public: ag.function(case.inputs, [case.outputs[i] for i in picked], updates=case.updates,
                                     mode="FAST_COMPILE", name=public)
                 for parts in plan.values() for public, case, picked in parts}
    modules = build_by_size(functions, "scan", tmp_path_factory.mktemp("scan-modules"))
    return {name: [(modules.functions[public], case, picked) for public, case, picked in parts]
            for name, parts in plan.items()}, cases


@pytest.mark.parametrize("name", sorted(CASES))
def test_built_module_matches_numpy_loop(built, name):
    functions, cases = built
    for function, case, picked in functions[name]:
        got = function(*case.args)
        assert len(got) == len(picked)
        for k, (g, i) in enumerate(zip(got, picked)):
            np.testing.assert_allclose(g, case.expected[i], **TOL, err_msg=f"output {i} ({k} of {function})")
    assert sorted(i for _, _, picked in functions[name] for i in picked) == list(range(len(cases[name].outputs)))


def test_gibbs_chain_updates_commit_and_continue():
    """The generator state updated inside the step comes back as scan's update; the next call continues."""
    case = gibbs_chain()
    f = ag.function(case.inputs, case.outputs, updates=case.updates, mode="FAST_COMPILE")
    check(case, f(*case.args))
    assert case.state.get_value() == pytest.approx(case.final_state)
    more, final = case.numpy_chain(case.args[0], case.final_state, 4)
    np.testing.assert_allclose(f(case.args[0], 4)[0], more)
    assert case.state.get_value() == pytest.approx(final)


def test_gibbs_chain_in_built_module(built):
    functions, cases = built
    case = cases["gibbs"]
    [(gibbs, _, _)] = functions["gibbs"]
    check(case, gibbs(*case.args))
    more, _ = case.numpy_chain(case.args[0], case.final_state, 3)
    np.testing.assert_allclose(gibbs(case.args[0], 3)[0], more)


def test_fast_run_in_process_updates_and_failed_call():
    """Compiled in-process: the step's update reaches the live shared variable; a failing call changes nothing."""
    count = ag.shared(np.int64(0), "count")
    scale = ag.shared(2.0, "scale")
    x, n = at.dvector("x"), at.lscalar("n")
    out, updates = ag.scan(lambda x_t, h: (h * scale + x_t, {count: count + 1}), sequences=x,
                           outputs_info=at.constant(0.0), n_steps=n)
    f = ag.function([x, n], out, updates=updates, mode="FAST_RUN")
    xs = RNG.normal(size=6)
    expected, h = [], 0.0
    for x_t in xs[:5]:
        h = h * 2.0 + x_t
        expected.append(h)
    np.testing.assert_allclose(f(xs, 5), expected, **TOL)
    assert count.get_value() == 5
    with pytest.raises(ValueError, match="n_steps is 9, but sequence 0"):
        f(xs, 9)
    assert count.get_value() == 5
    scale.set_value(1.0)
    np.testing.assert_allclose(f(xs, 6), np.cumsum(xs), **TOL)
    assert count.get_value() == 11


@pytest.mark.parametrize("name", ["rnn", "taps", "backwards", "lstm", "reduce"])
def test_verify_grad(name):
    def rnn(X, W, U, h0):
        out, _ = ag.scan(lambda x_t, h, W_, U_: at.tanh(at.dot(x_t, W_) + at.dot(h, U_)), sequences=X,
                         outputs_info=h0, non_sequences=[W, U])
        return out

    def taps(s0, x):
        out, _ = ag.scan(lambda a, b, s2, s1: s2 * a + s1 * b, sequences=dict(input=x, taps=[-1, 1]),
                         outputs_info=dict(initial=s0, taps=[-2, -1]))
        return out

    def backwards(x, h0):
        out, _ = ag.scan(lambda x_t, h: h * x_t + at.sin(h), sequences=x, outputs_info=h0, go_backwards=True)
        return out

    def lstm(X, h0, c0, Wx, Wh):
        (hs, cs), _ = ag.scan(lambda x_t, h, c: lstm_step(x_t, h, c, Wx, Wh, 0.0, 2), sequences=X,
                              outputs_info=[h0, c0])
        return [hs, cs[-1]]

    def reduce(x):
        out, _ = ag.reduce(lambda v, acc: acc * v + v, sequences=x, outputs_info=at.constant(0.5))
        return out

    points = {
        "rnn": [RNG.normal(size=(4, 2, 3)), RNG.normal(size=(3, 4)) * 0.5, RNG.normal(size=(4, 4)) * 0.5,
                RNG.normal(size=(2, 4))],
        "taps": [RNG.normal(size=(2, 3)), RNG.normal(size=8)],
        "backwards": [RNG.normal(size=6) * 0.5, np.array(0.3)],
        "lstm": [RNG.normal(size=(3, 2, 2)), RNG.normal(size=(2, 2)), RNG.normal(size=(2, 2)),
                 RNG.normal(size=(2, 8)) * 0.5, RNG.normal(size=(2, 8)) * 0.5],
        "reduce": [RNG.normal(size=7)],
    }
    fn = {"rnn": rnn, "taps": taps, "backwards": backwards, "lstm": lstm, "reduce": reduce}[name]
    verify_grad(fn, points[name], mode="FAST_COMPILE")


def test_state_dtype_must_not_change():
    x = at.dvector("x")
    with pytest.raises(TypeError, match="initial state of output 0 .* has dtype float32, while the step returns "
                                        "dtype float64"):
        ag.scan(lambda x_t, h: h + x_t, sequences=x, outputs_info=at.fscalar("h0"))


def test_errors_name_the_problem():
    x, h0, v = at.dvector("x"), at.dscalar("h0"), at.dvector("v")
    out, _ = ag.scan(lambda x_t, h: h + x_t, sequences=x, outputs_info=h0, n_steps=5)
    f = ag.function([x, h0], out, mode="FAST_COMPILE")
    with pytest.raises(ValueError, match="n_steps is 5, but sequence 0 .* has only 3 elements"):
        f(np.ones(3), 0.0)
    grow, _ = ag.scan(lambda h: at.concatenate([h, h]), outputs_info=v, n_steps=2)
    g = ag.function([v], grow, mode="FAST_COMPILE")
    with pytest.raises(ValueError, match="step 0 made output 0 of shape \\(4,\\).*shape \\(2,\\)"):
        g(np.ones(2))
    with pytest.raises(ValueError, match="taps of outputs_info\\[0\\] must be negative"):
        ag.scan(lambda h: h, outputs_info=dict(initial=at.dvector("s"), taps=[0]), n_steps=2)
    w = ag.shared(1.0, "w")
    with pytest.raises(ValueError, match="strict=True.*uses w"):
        ag.scan(lambda x_t: x_t * w, sequences=x, strict=True)
    with pytest.raises(ValueError, match="outputs_info has 2 entries but the step returns 1"):
        ag.scan(lambda x_t: x_t, sequences=x, outputs_info=[None, None])


def test_identical_scans_merge_and_rewrites_run_inside():
    x = at.dvector("x")
    a, _ = ag.scan(lambda x_t, h: h + x_t * 1.0, sequences=x, outputs_info=at.constant(0.0))
    b, _ = ag.scan(lambda x_t, h: h + x_t * 1.0, sequences=x, outputs_info=at.constant(0.0))
    merged = rewrite_graph([a + b], "fast_run")
    assert sum(node.op.name == "scan" for node in toposort(merged)) == 1


def test_unused_outputs_and_constant_non_sequences_leave_the_loop():
    """The gradient of W alone: the backward scan keeps no per-step gradient of X; a constant moves inside."""
    X, h0 = at.tensor3("X"), at.dmatrix("h0")
    W = ag.shared(RNG.normal(size=(3, 3)), "W")
    scale = at.constant(np.full(3, 0.5))
    hs, _ = ag.scan(lambda x_t, h, s: at.tanh(at.dot(x_t + h, W) * s), sequences=X, outputs_info=h0,
                    non_sequences=scale)
    g = ag.grad(hs.sum(), W)
    optimized = rewrite_graph([g], "fast_run")
    scans = [node for node in toposort(optimized) if node.op.name == "scan"]
    backward = [node for node in scans if all(node.op.last_only)]
    assert len(backward) == 1  # outputs: the carry of h and the sum for W; no per-step gradient of X
    assert len(backward[0].outputs) == 2 and backward[0].op.n_nit == 0
    assert not any(isinstance(v, type(scale)) and v.data.shape == (3,) for node in scans for v in node.inputs)
    xs, init = RNG.normal(size=(5, 2, 3)), RNG.normal(size=(2, 3))
    reference = ag.function([X, h0], g, mode="FAST_COMPILE")(xs, init)
    rewritten = ag.function([X, h0], g, mode=ag.Mode("reference", "fast_run"))(xs, init)
    np.testing.assert_allclose(rewritten, reference, **TOL)


def test_scalar_steps_become_one_c_loop_and_others_call_the_step_kernel():
    """Lowering: an elementwise step on scalars is one C loop (ScalarScanStep); a step with products runs its
    own kernel from a typed loop (ScanStep). Both are checked against numpy by the built-module tests."""
    from aotgraph.codegen.ir import ScalarScanStep, ScanStep
    from aotgraph.codegen.lower import lower
    from aotgraph.rewrite import optimize_spec

    def kinds(case):
        f = ag.function(case.inputs, case.outputs, updates=case.updates, mode="FAST_COMPILE")
        return {type(step.body) for step in lower(optimize_spec(f._spec, "fast_run")).steps}

    cases = {name: make() for name, make in CASES.items()}
    for name in ("cumsum", "polynomial", "taps", "backwards", "until", "shorthands"):
        assert ScalarScanStep in kinds(cases[name]) and ScanStep not in kinds(cases[name]), name
    for name in ("several_outputs", "rnn_bptt", "lstm"):
        assert ScanStep in kinds(cases[name]), name
    assert ScanStep in kinds(gibbs_chain())


def test_work_that_needs_no_loop_leaves_it():
    """RNN forward + BPTT: x_t @ W is one product before the loop, the sums of the weights' gradients one
    product after it; each loop keeps one product per step (h @ U forward, da @ U.T backward)."""
    X, h0, T = at.tensor3("X"), at.dmatrix("h0"), at.tensor3("T")
    W, U = ag.shared(RNG.normal(size=(3, 4)), "W"), ag.shared(RNG.normal(size=(4, 4)), "U")
    b = ag.shared(RNG.normal(size=4), "b")
    hs, _ = ag.scan(lambda x_t, h: at.tanh(at.dot(x_t, W) + at.dot(h, U) + b), sequences=X, outputs_info=h0)
    cost = 0.5 * ((hs - T) ** 2).sum()
    grads = ag.grad(cost, [W, U, b])
    optimized = rewrite_graph([cost, *grads], "fast_run")
    scans = [node for node in toposort(optimized) if node.op.name == "scan"]
    assert len(scans) == 2
    for node in scans:
        assert sum(n.op.name == "matmul" for n in node.op.inner.nodes) == 1
    assert sum(node.op.name == "matmul" for node in toposort(optimized)) >= 3  # x @ W, the two sums
    args = [RNG.normal(size=(6, 2, 3)), RNG.normal(size=(2, 4)), RNG.normal(size=(6, 2, 4))]
    expected = ag.function([X, h0, T], [cost, *grads], mode="FAST_COMPILE")(*args)
    got = ag.function([X, h0, T], [cost, *grads], mode=ag.Mode("reference", "fast_run"))(*args)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, **TOL)


def test_zero_steps():
    """No step: recurrent outputs are empty, reduce gives the initial state, BPTT gives zero weight gradients."""
    X, h0 = at.tensor3("X"), at.dmatrix("h0")
    W, U = ag.shared(RNG.normal(size=(3, 4)), "W"), ag.shared(RNG.normal(size=(4, 4)) * 0.1, "U")
    hs, _ = ag.scan(lambda x_t, h: at.tanh(at.dot(x_t, W) + at.dot(h, U)), sequences=X, outputs_info=h0)
    last, _ = ag.reduce(lambda x_t, h: h + x_t.sum(), sequences=X, outputs_info=at.constant(1.5))
    grads = ag.grad(hs.sum() + h0.sum(), [W, U])
    empty, init = np.zeros((0, 2, 3)), RNG.normal(size=(2, 4))
    for mode in ("FAST_COMPILE", ag.Mode("reference", "fast_run")):
        out, reduced, g_w, g_u = ag.function([X, h0], [hs, last, *grads], mode=mode)(empty, init)
        assert out.shape == (0, 2, 4) and reduced == 1.5
        np.testing.assert_array_equal(g_w, np.zeros((3, 4)))
        np.testing.assert_array_equal(g_u, np.zeros((4, 4)))


def test_gradient_reads_the_forward_buffer_and_sums_leave_the_loop():
    """BPTT after the rewrites: the states the gradient replays (initial states joined to the later ones) are
    the forward loop's own buffer (`with_init`, no join); the bias's gradient is one sum after the loop, so the
    backward loop keeps one product per step and no reduction. Values: the numpy reference on the rewritten
    graph against FAST_COMPILE, with taps [-2, -1], truncated, and with no step."""
    from aotgraph.scan_module.op import with_init

    X, s0, T = at.tensor3("X"), at.tensor3("s0"), at.tensor3("T")
    W, U = ag.shared(RNG.normal(size=(3, 4)), "W"), ag.shared(RNG.normal(size=(4, 4)) * 0.3, "U")
    b = ag.shared(RNG.normal(size=4), "b")
    for taps, truncate in (([-1], -1), ([-2, -1], -1), ([-1], 2)):
        def step(x_t, *states):
            return at.tanh(at.dot(x_t, W) + at.dot(states[-1], U) + sum(states[:-1], at.constant(0.0)) * 0.5 + b)

        initial = s0 if len(taps) > 1 else s0[0]  # (taps [-1]: the initial value is the state itself)
        hs, _ = ag.scan(step, sequences=X, outputs_info=dict(initial=initial, taps=taps),
                        truncate_gradient=truncate)
        cost = 0.5 * ((hs - T) ** 2).sum()
        grads = ag.grad(cost, [W, U, b, s0])
        optimized = rewrite_graph([cost, *grads], "fast_run")
        nodes = toposort(optimized)
        assert not any(node.op.name == "join" and any(v.owner is not None and v.owner.op.name == "scan"
                                                      for v in node.inputs) for node in nodes), taps
        forward, backward = sorted((n for n in nodes if n.op.name == "scan"), key=lambda n: n.op.label or "")
        assert with_init(forward.op) == (True,) and not any(with_init(backward.op))
        assert [n.op.name for n in backward.op.inner.nodes].count("matmul") == 1
        assert not any(n.op.name == "reduce" for n in backward.op.inner.nodes)
        for n in (6, 1, 0):
            args = [RNG.normal(size=(n, 2, 3)), RNG.normal(size=(len(taps), 2, 4)), RNG.normal(size=(n, 2, 4))]
            expected = ag.function([X, s0, T], [cost, *grads], mode="FAST_COMPILE")(*args)
            got = ag.function([X, s0, T], [cost, *grads], mode=ag.Mode("reference", "fast_run"))(*args)
            for k, (g, e) in enumerate(zip(got, expected)):
                np.testing.assert_allclose(g, e, **TOL, err_msg=f"taps {taps}, truncate {truncate}, {n} steps: "
                                                                 f"output {k}")

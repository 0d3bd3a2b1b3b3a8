"""Compiled random streams: the same seed gives the same bits in FAST_COMPILE, FAST_RUN (any number of
threads) and a module built with `ag.build`, whose saved stream states restore like any shared value.

Three builds in all: one in-process FAST_RUN function drawing every distribution (and the dropout and
corruption graphs), and two built modules that draw the same outputs between them (PARTS: one module of all of
them was 2.22 MB of C, over the test budget of tests/buildbatches.py). A module with any random draw holds every
distribution's transforms (~0.6 MB of C: one uniform draw alone made 1.64 MB), so each half is 1.9-2.0 MB.
"""

from __future__ import annotations

import numpy as np
import pytest

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.tensor import philox
from aotgraph.tensor.shared_randomstreams import RandomStreams

BIG = 300_007  # above the size from which draws split over threads, and not a multiple of a block group


def draws(seed: int):
    """(inputs, outputs, streams) of one graph drawing from every distribution."""
    s = RandomStreams(seed)
    x = at.dmatrix("x")
    p = at.dvector("p")
    n = at.lscalar("n")
    corruption = s.binomial(size=x.shape, n=1, p=0.7, dtype="float64") * x
    dropout = at.tanh(x * s.binomial(size=x.shape, p=0.5, dtype="float64") / 0.5).sum(axis=1)
    outputs = [
        s.uniform((3, 5)), s.uniform((n,), low=-1.0, high=2.0), s.uniform((BIG,)), s.uniform((BIG,), dtype="float32"),
        s.uniform((7,), dtype="float32"), s.normal((n, 3), avg=1.0, std=3.0), s.normal((5,), dtype="float32"),
        s.normal((n, 5), avg=-1.0, std=0.5, truncate=True), s.truncated_normal((BIG,)),
        s.binomial((4, 6), p=p.dimshuffle("x", 0)), s.binomial((9,), n=4, p=0.25),
        s.random_integers((11,), low=-5, high=5), s.multinomial(pvals=np.full((6, 4), 0.25), n=3),
        s.multinomial(size=(5,), pvals=[0.1, 0.9]), s.choice((8,), a=10), s.choice((3,), a=p, replace=False),
        s.choice((6,), a=3, p=[0.2, 0.3, 0.5]), s.permutation((2,), n=7), corruption, dropout,
    ]
    return [x, p, n], outputs, s


# the outputs of `draws` in each built module: uniform and normal draws with the corruption and dropout graphs;
# two more uniform draws, binomial, integers, multinomial, choice and permutation (1.9-2.0 MB of C each)
PARTS = {"draws_a": [0, 1, 2, 5, 6, 7, 8, 18, 19], "draws_b": [3, 4, *range(9, 18)]}
ARGS = (np.arange(1.0, 13.0).reshape(3, 4), np.array([0.1, 0.5, 0.9, 0.3, 0.7, 0.2]), 4)


@pytest.fixture(scope="module")
def compiled():
    inputs, outputs, streams = draws(seed=42)
    return ag.function(inputs, outputs, mode="FAST_RUN", name="draws"), streams, outputs


def reference_calls(calls: int):
    inputs, outputs, _ = draws(seed=42)
    f = ag.function(inputs, outputs, mode="FAST_COMPILE")
    return [f(*ARGS) for _ in range(calls)]


def assert_same(got, want):
    assert len(got) == len(want)
    for index, (a, b) in enumerate(zip(got, want)):
        assert a.dtype == b.dtype and a.shape == b.shape, (index, a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b, err_msg=f"output {index}")


def test_fast_run_equals_fast_compile_bit_for_bit_call_after_call(compiled):
    f, streams, outputs = compiled
    streams.seed(42)  # every stream back to its start, whatever other tests drew
    start = [state.get_value() for state, _ in streams.state_updates]
    want = reference_calls(3)
    for call in range(3):
        assert_same(f(*ARGS), want[call])
    for (state, _), before in zip(streams.state_updates, start):  # every stream moved on
        assert state.get_value()[0] == before[0] and state.get_value()[1] > before[1]
    for (state, _), before in zip(streams.state_updates, start):
        state.set_value(before)


def test_the_number_of_threads_does_not_change_the_numbers(compiled):
    f, streams, outputs = compiled
    streams.seed(42)  # every stream back to its start, whatever other tests drew
    start = [state.get_value() for state, _ in streams.state_updates]
    want = reference_calls(1)[0]
    threads = ag.config.num_threads
    try:
        for count in (1, 2, 3):
            ag.config.num_threads = count
            for (state, _), before in zip(streams.state_updates, start):
                state.set_value(before)
            assert_same(f(*ARGS), want)
    finally:
        ag.config.num_threads = threads
        for (state, _), before in zip(streams.state_updates, start):
            state.set_value(before)


def test_a_big_draw_matches_the_philox_reference(compiled):
    f, streams, outputs = compiled
    streams.seed(42)  # every stream back to its start, whatever other tests drew
    state = outputs[2].rng
    before = state.get_value()
    big = f(*ARGS)[2]
    np.testing.assert_array_equal(big, philox.uniforms(before, BIG, "float64")[0])
    np.testing.assert_array_equal(state.get_value(), philox.advanced(before, 2 * BIG))
    state.set_value(before)


def test_built_modules_save_restore_and_repeat_the_streams(build_modules):
    inputs, outputs, streams = draws(seed=42)
    parts = {name: ag.function(inputs, [outputs[k] for k in picked], on_unused_input="ignore")
             for name, picked in PARTS.items()}
    built = build_modules({f"random_{name}_module": {name: fn} for name, fn in parts.items()})
    modules = {name: built[f"random_{name}_module"] for name in PARTS}
    assert sorted(k for picked in PARTS.values() for k in picked) == list(range(len(outputs)))
    names = {name: module.shared_names() for name, module in modules.items()}
    start = {state.name: state.get_value() for state, _ in streams.state_updates}
    assert sorted(n for part in names.values() for n in part) == sorted(start)  # each stream in one module
    wanted = reference_calls(2)
    want = [{name: [calls[k] for k in picked] for name, picked in PARTS.items()} for calls in wanted]
    for name, module in modules.items():
        for key in names[name]:  # the state was saved with the module
            np.testing.assert_array_equal(module.get_value(key), start[key])
        assert_same(getattr(module, name)(*ARGS), want[0][name])
        saved = [module.get_value(key) for key in names[name]]
        assert_same(getattr(module, name)(*ARGS), want[1][name])
        for key, value in zip(names[name], saved):
            module.set_value(key, value)
        assert_same(getattr(module, name)(*ARGS), want[1][name])
        before_failure = [module.get_value(key) for key in names[name]]
        bad_state = np.array([1, 2, 3], dtype=np.uint64)
        module.set_value(names[name][0], bad_state)
        with pytest.raises(ValueError, match="state must be a uint64 array"):
            getattr(module, name)(*ARGS)
        np.testing.assert_array_equal(module.get_value(names[name][0]), bad_state)
        for key, value in zip(names[name][1:], before_failure[1:]):  # a failed call commits no update
            np.testing.assert_array_equal(module.get_value(key), value)


def test_a_negative_size_raises_and_moves_no_stream(compiled):
    f, streams, outputs = compiled
    streams.seed(42)
    start = [state.get_value() for state, _ in streams.state_updates]
    with pytest.raises(ValueError, match="negative size"):
        f(ARGS[0], ARGS[1], -1)
    for (state, _), before in zip(streams.state_updates, start):
        np.testing.assert_array_equal(state.get_value(), before)


def test_uniform_draws_alone_compile_without_the_transforms():
    """A uniform draw's step calls _rng_uniforms only: its module holds none of the other distributions'
    transforms (~0.6 MB of C), and it draws what FAST_COMPILE draws."""
    from aotgraph.codegen.lower import lower
    from aotgraph.rewrite import optimize_spec

    def uniforms(mode):
        s = RandomStreams(7)
        n = at.lscalar("n")
        return ag.function([n], [s.uniform((n,), low=-1.0, high=2.0), s.uniform((2, 3), dtype="float32")], mode=mode)

    f = uniforms("FAST_RUN")
    assert set(lower(optimize_spec(f._spec, "fast_run"), "f0").helpers) == {"_rng_uniforms", "_np_fill"}
    normal = ag.function([], RandomStreams(7).normal((3,)), mode="FAST_COMPILE")
    assert "_rng_sample" in lower(optimize_spec(normal._spec, "fast_run"), "f0").helpers
    want = uniforms("FAST_COMPILE")
    for _ in range(2):
        assert_same(f(5), want(5))

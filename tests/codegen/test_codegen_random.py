"""Compiled random streams: the same seed gives the same bits in FAST_COMPILE, FAST_RUN (any number of
threads) and a module built with `ag.build`, whose saved stream states restore like any shared value.

Two builds in all: one in-process FAST_RUN function drawing every distribution (and the dropout and
corruption graphs), and one built module made from it.
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


def test_built_module_saves_restores_and_repeats_the_streams(compiled, build_module):
    f, streams, outputs = compiled
    streams.seed(42)  # every stream back to its start, whatever other tests drew
    start = [state.get_value() for state, _ in streams.state_updates]
    module = build_module({"draws": f}, "random_draws_module")
    want = reference_calls(2)
    names = [state.name for state, _ in streams.state_updates]
    np.testing.assert_array_equal(module.get_value(names[0]), start[0])  # the state was saved with the module
    first = module.draws(*ARGS)
    assert_same(first, want[0])
    saved = [module.get_value(name) for name in names]
    assert_same(module.draws(*ARGS), want[1])
    for name, value in zip(names, saved):
        module.set_value(name, value)
    assert_same(module.draws(*ARGS), want[1])
    before_failure = [module.get_value(name) for name in names]
    bad_state = np.array([1, 2, 3], dtype=np.uint64)
    module.set_value(names[0], bad_state)
    with pytest.raises(ValueError, match="state must be a uint64 array"):
        module.draws(*ARGS)
    np.testing.assert_array_equal(module.get_value(names[0]), bad_state)
    for name, value in zip(names[1:], before_failure[1:]):  # a failed call commits no update
        np.testing.assert_array_equal(module.get_value(name), value)


def test_a_negative_size_raises_and_moves_no_stream(compiled):
    f, streams, outputs = compiled
    streams.seed(42)
    start = [state.get_value() for state, _ in streams.state_updates]
    with pytest.raises(ValueError, match="negative size"):
        f(ARGS[0], ARGS[1], -1)
    for (state, _), before in zip(streams.state_updates, start):
        np.testing.assert_array_equal(state.get_value(), before)

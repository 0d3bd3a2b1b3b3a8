"""An RBM Gibbs chain, as the tutorials' rbm.py writes it: scan over a step that samples with RandomStreams.

The stream states are updates the step returns; scan hands them back for `function(updates=)`, so each call
continues the streams, and one seed gives the same chain in FAST_COMPILE and FAST_RUN.
"""

from __future__ import annotations

import numpy as np
import pytest

import aotgraph as ag
import aotgraph.tensor as T
from aotgraph.tensor.shared_randomstreams import RandomStreams

N_VISIBLE, N_HIDDEN, STEPS = 6, 4, 5


def gibbs_chain(mode: str):
    rng = np.random.default_rng(0)
    W = ag.shared(rng.normal(0, 1.0, (N_VISIBLE, N_HIDDEN)), name="W")
    vbias, hbias = ag.shared(np.zeros(N_VISIBLE), name="vbias"), ag.shared(np.zeros(N_HIDDEN), name="hbias")
    srng = RandomStreams(seed=1234)

    def gibbs_vhv(v):
        h_mean = T.nnet.sigmoid(T.dot(v, W) + hbias)
        h = srng.binomial(size=h_mean.shape, n=1, p=h_mean, dtype="float64")
        v_mean = T.nnet.sigmoid(T.dot(h, W.T) + vbias)
        return [v_mean, srng.binomial(size=v_mean.shape, n=1, p=v_mean, dtype="float64")]

    v0 = T.dmatrix("v0")
    (means, samples), updates = ag.scan(gibbs_vhv, outputs_info=[None, v0], n_steps=STEPS)
    return ag.function([v0], [means, samples], updates=updates, mode=mode), updates


@pytest.fixture(scope="module")
def chains():
    return {mode: gibbs_chain(mode) for mode in ("FAST_COMPILE", "FAST_RUN")}


def test_the_step_s_stream_updates_come_back_from_scan(chains):
    _, updates = chains["FAST_COMPILE"]
    assert len(updates) == 2  # one stream per binomial draw of the step


def test_chain_is_the_same_in_both_modes_and_moves_on_each_call(chains):
    v0 = (np.arange(3 * N_VISIBLE).reshape(3, N_VISIBLE) % 2).astype(float)
    runs = {mode: [f(v0) for _ in range(3)] for mode, (f, _) in chains.items()}
    for (means_a, samples_a), (means_b, samples_b) in zip(runs["FAST_COMPILE"], runs["FAST_RUN"]):
        np.testing.assert_array_equal(samples_a, samples_b)
        np.testing.assert_allclose(means_a, means_b, rtol=1e-12)
    means, samples = runs["FAST_RUN"][0]
    assert samples.shape == (STEPS, 3, N_VISIBLE) and set(np.unique(samples)) <= {0.0, 1.0}
    assert ((means > 0) & (means < 1)).all()
    assert any((runs["FAST_RUN"][0][1] != later[1]).any() for later in runs["FAST_RUN"][1:])


def test_samples_are_bernoulli_draws_of_the_means(chains):
    """Each visible unit is 1 with the probability its mean gives: over 400 chains, the fraction of ones
    matches the average mean (binomial standard error ~0.01 per step)."""
    f, _ = chains["FAST_RUN"]
    means, samples = f(np.ones((400, N_VISIBLE)))
    for t in range(STEPS):
        assert abs(samples[t].mean() - means[t].mean()) < 0.05

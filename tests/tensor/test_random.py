"""Random streams in FAST_COMPILE: the Philox generator, each distribution's moments and goodness of fit,
stream state (seed, save/restore, default updates), gradients, and the tutorial uses (dropout, corruption).

Every draw uses a fixed seed, so each bound below is checked against one fixed sample: the bounds are those
a correct sampler passes with overwhelming probability (about 5 standard deviations), yet a wrong
distribution, scale or shape fails them by far.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.sandbox.rng_mrg import MRG_RandomStreams
from aotgraph.tensor import philox
from aotgraph.tensor.shared_randomstreams import RandomStreams

MODE = "FAST_COMPILE"
N = 200_000


def draw(expr, inputs=(), args=(), **kw):
    return ag.function(list(inputs), expr, mode=MODE, **kw)(*args)


def chi_square(observed, expected) -> float:
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    return float(((observed - expected) ** 2 / expected).sum())


def assert_fits(observed, probabilities):
    """Pearson's chi-square of the counts against the probabilities stays within 5 sd of its mean (df)."""
    probabilities = np.asarray(probabilities, float)
    expected = probabilities * np.sum(observed)
    df = len(probabilities) - 1
    statistic = chi_square(observed, expected)
    assert statistic < df + 5 * math.sqrt(2 * df), (statistic, df)


def assert_ks(sample, cdf):
    """Kolmogorov-Smirnov distance to `cdf` below 2.0 / sqrt(n) (the 0.1% critical value is 1.95 / sqrt(n))."""
    x = np.sort(np.asarray(sample, float).reshape(-1))
    n = len(x)
    f = cdf(x)
    distance = max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))
    assert distance < 2.0 / math.sqrt(n), distance


def normal_cdf(x):
    return 0.5 * (1 + np.vectorize(math.erf)(np.asarray(x) / math.sqrt(2)))


# ---- the generator ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("counter, key, expected", [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
])
def test_philox_known_answers(counter, key, expected):
    """Random123's known-answer vectors for Philox4x32-10."""
    assert tuple(int(w) for w in philox.philox_rounds(counter, key)) == expected


def test_a_draw_advances_the_counter_by_the_blocks_it_takes():
    state = philox.stream_state(7, 0)
    u, after = philox.uniforms(state, 6, "float64")  # 12 words: 3 blocks
    assert after[0] == state[0] and after[1] == 3
    v, _ = philox.uniforms(after, 2, "float64")
    both, _ = philox.uniforms(state, 8, "float64")
    np.testing.assert_array_equal(np.concatenate([u, v]), both)
    w, after32 = philox.uniforms(state, 5, "float32")  # 5 words: 2 blocks
    assert w.dtype == np.float32 and after32[1] == 2
    assert np.all((w > 0) & (w < 1)) and np.all((u > 0) & (u < 1))


def test_uniform_extremes_stay_inside_the_open_interval():
    words = np.array([0, 0, 0xFFFFFFFF, 0xFFFFFFFF], dtype=np.uint64)
    lo, hi = philox.uniform_from_words(words, "float64")
    assert lo == 2.0**-53 and hi == 1 - 2.0**-53
    lo32, hi32 = philox.uniform_from_words(words[1:3], "float32")
    assert lo32 == np.float32(2.0**-24) and hi32 == np.float32(1 - 2.0**-24)


def test_streams_of_one_seed_differ_and_seeds_differ():
    keys = {int(philox.stream_state(seed, index)[0]) for seed in (0, 1, 2**64 - 1) for index in range(50)}
    assert len(keys) == 150


# ---- distributions: moments and goodness of fit ---------------------------------------------------------
def test_uniform_moments_and_fit():
    s = RandomStreams(seed=1)
    x = draw(s.uniform((N,), low=-2.0, high=3.0))
    assert x.dtype == np.float64 and x.shape == (N,)
    assert np.all((x > -2) & (x < 3))
    assert abs(x.mean() - 0.5) < 5 * 5 / math.sqrt(12 * N)
    assert abs(x.var() - 25 / 12) < 0.05
    assert_ks(x, lambda v: (v + 2) / 5)


def test_uniform_float32_and_floatx_dtype():
    s = RandomStreams(seed=2)
    x = draw(s.uniform((400, 500), dtype="float32"))
    assert x.dtype == np.float32 and x.shape == (400, 500)
    assert_ks(x, lambda v: v)
    with _floatx("float32"):
        assert s.uniform((3,)).dtype == "float32"
    assert s.uniform((3,), low=np.float64(0.5)).dtype == "float64"


class _floatx:
    def __init__(self, value):
        self.value = value

    def __enter__(self):
        self.old, ag.config.floatX = ag.config.floatX, self.value

    def __exit__(self, *exc):
        ag.config.floatX = self.old


def test_normal_moments_and_fit():
    s = RandomStreams(seed=3)
    x = draw(s.normal((N - 1,), avg=1.5, std=2.0))  # an odd count: Box-Muller's last pair is cut
    assert x.shape == (N - 1,)
    assert abs(x.mean() - 1.5) < 5 * 2 / math.sqrt(N)
    assert abs(x.std() - 2.0) < 0.02
    assert abs(((x - 1.5) ** 3).mean() / 8) < 0.05 and abs(((x - 1.5) ** 4).mean() / 16 - 3) < 0.1
    edges = np.array([-np.inf, -2, -1, -0.5, 0, 0.5, 1, 2, np.inf])
    counts = np.histogram((x - 1.5) / 2, edges)[0]
    assert_fits(counts, np.diff(normal_cdf(edges)))


def theano_truncated_normal(n: int) -> np.ndarray:
    """Theano's MRG `normal(truncate=True)` as its source describes it: Box-Muller; a value beyond 2 keeps its
    angle and takes the radius sqrt(-2 log u) with u uniform in (e^-2, 1)."""
    g = np.random.default_rng(0)
    radius, angle = np.sqrt(-2 * np.log(1 - g.random(n))), 2 * np.pi * g.random(n)
    z = radius * np.cos(angle)
    redrawn = np.sqrt(-2 * np.log(g.uniform(np.exp(-2), 1, n))) * np.cos(angle)
    return np.where(np.abs(z) > 2, redrawn, z)


def test_truncated_normal_stays_within_two_standard_deviations():
    """Theano's MRG `normal(truncate=True)`: values beyond 2 sd get a new radius; `truncated_normal` rescales
    so that the spread is `std` again."""
    s = MRG_RandomStreams(seed=5)
    cut = draw(s.normal((N,), avg=1.0, std=3.0, truncate=True))
    assert cut.shape == (N,) and cut.min() >= 1.0 - 6.0 and cut.max() <= 1.0 + 6.0
    assert abs(cut.mean() - 1.0) < 5 * 3 / math.sqrt(N)
    assert 0.8 * 3 < cut.std() < 0.92 * 3  # below std: the tails beyond 2 sd are pulled in
    # the shape is that of Theano's scheme, simulated here with numpy's own generator as the oracle
    edges = np.array([-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2])
    counts = np.histogram((cut - 1.0) / 3.0, edges)[0]
    assert_fits(counts, np.histogram(theano_truncated_normal(4_000_000), edges)[0] / 4_000_000)
    spread = draw(s.truncated_normal((N - 1,), avg=-2.0, std=0.5))
    assert spread.shape == (N - 1,) and abs(spread.std() - 0.5) < 0.02
    assert np.all(np.abs(spread + 2.0) <= 2 * 0.5 / 0.8796256610342398 + 1e-12)
    f32 = draw(s.normal((5, 3), truncate=True, dtype="float32"))
    assert f32.dtype == np.float32 and f32.shape == (5, 3) and np.all(np.abs(f32) <= 2)


def test_binomial_n1_with_symbolic_p():
    s = RandomStreams(seed=4)
    p = at.dvector("p")
    b = s.binomial(size=(50_000, 3), p=p)
    x = draw(b, [p], [np.array([0.1, 0.5, 0.9])])
    assert x.dtype == np.int64 and set(np.unique(x)) <= {0, 1}
    np.testing.assert_allclose(x.mean(axis=0), [0.1, 0.5, 0.9], atol=5 * 0.5 / math.sqrt(50_000))


def test_binomial_n_trials_fits_the_pmf():
    s = RandomStreams(seed=5)
    x = draw(s.binomial((N,), n=6, p=0.3, dtype="int32"))
    assert x.dtype == np.int32 and x.min() >= 0 and x.max() <= 6
    pmf = [math.comb(6, k) * 0.3**k * 0.7 ** (6 - k) for k in range(7)]
    assert_fits(np.bincount(x, minlength=7), pmf)


def test_random_integers_inclusive_bounds_fit():
    s = RandomStreams(seed=6)
    x = draw(s.random_integers((N,), low=-3, high=4))
    assert x.dtype == np.int64 and x.min() == -3 and x.max() == 4
    assert_fits(np.bincount(x + 3), np.full(8, 1 / 8))


def test_multinomial_matrix_rows_and_vector_form():
    s = MRG_RandomStreams(seed=7)
    pvals = np.array([[0.2, 0.3, 0.5]] * 20_000 + [[0.0, 1.0, 0.0]] * 10)
    x = draw(s.multinomial(pvals=pvals, n=5))
    assert x.shape == pvals.shape and x.dtype == np.int64
    np.testing.assert_array_equal(x.sum(axis=1), 5)
    np.testing.assert_array_equal(x[-10:], [[0, 5, 0]] * 10)
    assert_fits(x[:-10].sum(axis=0), [0.2, 0.3, 0.5])
    v = draw(RandomStreams(8).multinomial(size=(4, 5000), n=1, pvals=[0.25, 0.75]))
    assert v.shape == (4, 5000, 2)
    np.testing.assert_array_equal(v.sum(axis=-1), 1)
    assert_fits(v.reshape(-1, 2).sum(axis=0), [0.25, 0.75])


def test_choice_with_and_without_replacement():
    s = RandomStreams(seed=9)
    with_p = draw(s.choice((N,), a=4, p=[0.1, 0.2, 0.3, 0.4]))
    assert_fits(np.bincount(with_p, minlength=4), [0.1, 0.2, 0.3, 0.4])
    flat = draw(s.choice((N,), a=np.array([10.0, 20.0, 30.0])))
    assert flat.dtype == np.float64
    assert_fits([np.sum(flat == v) for v in (10, 20, 30)], [1 / 3] * 3)
    f = ag.function([], s.choice((2, 3), a=6, replace=False), mode=MODE)
    firsts = []
    for _ in range(3000):
        picked = f()
        assert picked.shape == (2, 3) and len(set(picked.ravel())) == 6
        firsts.append(picked[0, 0])
    assert_fits(np.bincount(firsts, minlength=6), [1 / 6] * 6)


def test_permutation_rows_are_uniform_permutations():
    s = RandomStreams(seed=10)
    x = draw(s.permutation((30_000,), n=5))
    assert x.shape == (30_000, 5) and x.dtype == np.int64
    np.testing.assert_array_equal(np.sort(x, axis=1), np.tile(np.arange(5), (30_000, 1)))
    for position in range(5):
        assert_fits(np.bincount(x[:, position], minlength=5), [0.2] * 5)
    assert draw(s.permutation(n=4)).shape == (4,)


# ---- sizes --------------------------------------------------------------------------------------------------
def test_sizes_symbolic_from_shape_and_from_parameters():
    s = RandomStreams(seed=11)
    x = at.dmatrix("x")
    n = at.lscalar("n")
    f = ag.function([x, n], [s.uniform(x.shape), s.normal((n, 2)), s.uniform(low=at.zeros((3, 4)), high=1.0),
                             s.uniform(size=(), ndim=0)], mode=MODE)
    a, b, c, d = f(np.zeros((2, 5)), 4)
    assert a.shape == (2, 5) and b.shape == (4, 2) and c.shape == (3, 4) and d.shape == ()
    with pytest.raises(ValueError, match="negative size"):
        f(np.zeros((2, 5)), -1)


# ---- stream state ------------------------------------------------------------------------------------------
def test_each_call_draws_anew_and_the_same_seed_repeats_the_sequence():
    first, second = RandomStreams(seed=12), RandomStreams(seed=12)
    f = ag.function([], first.normal((4,)), mode=MODE)
    g = ag.function([], second.normal((4,)), mode=MODE)
    a1, a2 = f(), f()
    assert not np.array_equal(a1, a2)
    np.testing.assert_array_equal(g(), a1)
    np.testing.assert_array_equal(g(), a2)
    other_seed = RandomStreams(seed=13).normal((4,)).rng.get_value()
    assert not np.array_equal(other_seed, first.state_updates[0][0].get_value())


def test_seed_restarts_every_stream():
    s = RandomStreams(seed=14)
    u, z = s.uniform((3,)), s.normal((3,))
    f = ag.function([], [u, z], mode=MODE)
    start = [v.copy() for v in f()]
    f()
    s.seed(14)
    for got, want in zip(f(), start):
        np.testing.assert_array_equal(got, want)
    s.seed(15)
    fresh = RandomStreams(seed=15)
    g = ag.function([], [fresh.uniform((3,)), fresh.normal((3,))], mode=MODE)
    for got, want in zip(f(), g()):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(TypeError, match="seed must be an int"):
        s.seed(1.5)


def test_get_value_set_value_save_and_restore_a_stream():
    s = MRG_RandomStreams()
    u = s.uniform((5,))
    f = ag.function([], u, mode=MODE)
    f()
    saved = u.rng.get_value()
    a = f()
    f()
    u.rng.set_value(saved)
    np.testing.assert_array_equal(f(), a)
    state, new_state = s.updates()[0]
    assert state is u.rng and new_state.owner is not None
    with pytest.raises((TypeError, ValueError)):
        u.rng.set_value(np.array([1.5, 2.5]))
    bad = np.array([1, 2, 3], dtype=np.uint64)
    u.rng.set_value(bad)
    with pytest.raises(ValueError, match="state must be a uint64 array"):
        f()
    np.testing.assert_array_equal(u.rng.get_value(), bad)  # a failed call leaves the state as it was


def test_no_default_updates_freezes_the_draws():
    s = RandomStreams(seed=16)
    u, z = s.uniform((3,)), s.normal((3,))
    frozen = ag.function([], u, mode=MODE, no_default_updates=True)
    np.testing.assert_array_equal(frozen(), frozen())
    partly = ag.function([], [u, z], mode=MODE, no_default_updates=[u.rng])
    a, b = partly()
    c, d = partly()
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(b, d)
    explicit = ag.function([], u, mode=MODE, no_default_updates=True, updates=[u.update])
    assert not np.array_equal(explicit(), explicit())


def test_mrg_default_seed_is_theanos_and_six_int_seeds_work():
    assert MRG_RandomStreams().default_instance_seed == 12345
    u = MRG_RandomStreams().uniform((4,))
    assert u.rstate is u.rng and u.update[0] is u.rstate
    np.testing.assert_array_equal(draw(u), draw(RandomStreams(12345).uniform((4,))))
    six = draw(MRG_RandomStreams(seed=[1, 2, 3, 4, 5, 6]).uniform((4,)))
    np.testing.assert_array_equal(six, draw(MRG_RandomStreams(seed=(1, 2, 3, 4, 5, 6)).uniform((4,))))
    assert not np.array_equal(six, draw(MRG_RandomStreams(seed=[1, 2, 3, 4, 5, 7]).uniform((4,))))


def test_errors_name_the_problem():
    s = RandomStreams(seed=17)
    with pytest.raises(ValueError, match="without replacement"):
        draw(s.choice((5,), a=3, replace=False))
    with pytest.raises(TypeError, match="must be float32 or float64"):
        s.uniform((2,), dtype="int32")
    with pytest.raises(TypeError, match="shape entries must be integer"):
        s.uniform((2.5,))
    with pytest.raises(ValueError, match="p must be >= 0 and sum to 1"):
        draw(s.choice((2,), a=2, p=[0.7, 0.7]))
    with pytest.raises(ValueError, match="size must be None"):
        s.multinomial(size=(3,), pvals=at.dmatrix("pvals"))
    unseeded = [draw(RandomStreams().uniform((4,))) for _ in range(2)]  # seeds from the OS differ
    assert not np.array_equal(*unseeded)


# ---- gradients ----------------------------------------------------------------------------------------------
def test_grad_through_a_draw_is_disconnected():
    s = RandomStreams(seed=18)
    w = at.dvector("w")
    counts = s.multinomial(pvals=at.softmax(w).dimshuffle("x", 0), n=3)
    cost = at.cast(counts, "float64").sum()
    with pytest.raises(ValueError, match="does not depend on wrt"):
        ag.grad(cost, w)
    g = ag.grad(cost, w, disconnected_inputs="ignore")
    np.testing.assert_array_equal(ag.function([w], g, mode=MODE, on_unused_input="ignore")(np.ones(3)), 0)
    n = s.normal((3,), avg=w, std=2.0)  # the affine part is connected, the draw is not: d(avg + std*z)/d avg = 1
    np.testing.assert_array_equal(ag.function([w], ag.grad(n.sum(), w), mode=MODE)(np.ones(3)), 1)


# ---- the tutorials' uses ------------------------------------------------------------------------------------
def expected_uniforms(state, count, dtype="float64"):
    return philox.uniforms(state, count, dtype)[0]


def test_dropout_graph_and_its_gradient():
    """Dropout as the tutorials write it: mask = binomial(n=1, p=1-rate, size=x.shape); y = x * mask / (1-rate)."""
    s = RandomStreams(seed=19)
    x = at.dmatrix("x")
    w = ag.shared(np.linspace(-1, 1, 12).reshape(4, 3), name="w")
    mask = s.binomial(size=x.shape, n=1, p=0.8, dtype="float64")
    hidden = at.tanh(at.dot(x * mask / 0.8, w))
    gw = ag.grad(hidden.sum(), w)
    f = ag.function([x], [hidden, mask, gw], mode=MODE)
    data = np.arange(20.0).reshape(5, 4) / 20
    state = mask.rng.get_value()
    out, got_mask, got_gw = f(data)
    want_mask = (expected_uniforms(state, 20).reshape(5, 4) < 0.8).astype(float)
    np.testing.assert_array_equal(got_mask, want_mask)
    dropped = data * want_mask / 0.8
    want = np.tanh(dropped @ w.get_value())
    np.testing.assert_allclose(out, want, rtol=1e-12)
    np.testing.assert_allclose(got_gw, dropped.T @ (1 - want**2), rtol=1e-12)
    assert not np.array_equal(f(data)[1], got_mask)


def test_denoising_autoencoder_corruption():
    """dA.get_corrupted_input: binomial(size=x.shape, n=1, p=1 - corruption, dtype=floatX) * x."""
    s = RandomStreams(seed=20)
    x = at.dmatrix("x")
    corruption = at.dscalar("corruption")
    mask = s.binomial(size=x.shape, n=1, p=1 - corruption, dtype="float64")
    f = ag.function([x, corruption], mask * x, mode=MODE)
    data = np.random.default_rng(0).random((300, 100)) + 1
    state = mask.rng.get_value()
    got = f(data, 0.3)
    keep = expected_uniforms(state, data.size).reshape(data.shape) < 0.7
    np.testing.assert_array_equal(got, np.where(keep, data, 0.0))
    assert abs((got == 0).mean() - 0.3) < 0.01


def test_rbm_gibbs_step_samples_with_symbolic_probabilities():
    """rbm.py's sample_h_given_v / sample_v_given_h: binomial(size=mean.shape, n=1, p=mean) of symbolic means."""
    s = RandomStreams(seed=21)
    v = at.dmatrix("v")
    W = ag.shared(np.random.default_rng(1).normal(0, 0.5, (6, 4)), name="W")
    h_mean = at.sigmoid(at.dot(v, W))
    h_sample = s.binomial(size=h_mean.shape, n=1, p=h_mean, dtype="float64")
    v_mean = at.sigmoid(at.dot(h_sample, W.T))
    v_sample = s.binomial(size=v_mean.shape, n=1, p=v_mean, dtype="float64")
    f = ag.function([v], [h_mean, h_sample, v_mean, v_sample], mode=MODE)
    data = (np.random.default_rng(2).random((5, 6)) < 0.5).astype(float)
    h_state, v_state = h_sample.rng.get_value(), v_sample.rng.get_value()
    hm, hs, vm, vs = f(data)
    np.testing.assert_array_equal(hs, expected_uniforms(h_state, 20).reshape(5, 4) < hm)
    np.testing.assert_allclose(vm, 1 / (1 + np.exp(-(hs @ W.get_value().T))), rtol=1e-12)
    np.testing.assert_array_equal(vs, expected_uniforms(v_state, 30).reshape(5, 6) < vm)

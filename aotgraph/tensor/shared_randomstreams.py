"""`RandomStreams`: Theano's symbolic random generator (`theano.tensor.shared_randomstreams`).

Each call (`uniform`, `normal`, ...) makes a new stream: a shared variable holding the Philox state
`[key, counter]` (see philox.py) whose default update is the state after the draw, so every call of a
compiled function draws new numbers, `function(..., no_default_updates=True)` draws the same ones, and
`get_value` / `set_value` on the state (`sample.rng`, or `streams.state_updates`) save and restore a stream.
Stream `i` of seed `s` starts from `philox.stream_state(s, i)`, so the same seed gives the same numbers in
every mode, in built modules and with any number of threads. `aotgraph.sandbox.rng_mrg.MRG_RandomStreams`
is this class under Theano's other import path.
"""

from __future__ import annotations

import math as _pymath

import numpy as np

from aotgraph.configparser import config
from aotgraph.tensor import math
from aotgraph.tensor.basic import as_tensor_variable
from aotgraph.tensor.philox import stream_state
from aotgraph.tensor.random_ops import random_draw
from aotgraph.tensor.shape_ops import _shape_spec, _split, shape_entries
from aotgraph.tensor.sharedvar import SharedVariable, shared
from aotgraph.tensor.type import normalize_dtype
from aotgraph.tensor.variable import TensorVariable


class RandomStreams:
    """A source of symbolic random draws; `seed` fixes them all (None: a seed from the OS)."""

    def __init__(self, seed: int | None = None):
        if seed is None:
            seed = int(np.random.SeedSequence().entropy) % 2**64
        self.default_instance_seed = _check_seed(seed)
        self.state_updates: list[tuple[SharedVariable, TensorVariable]] = []

    # ---- the streams -------------------------------------------------------------------------------------
    def seed(self, seed: int | None = None) -> None:
        """Restart every stream as a new generator seeded with `seed` (default: the seed given at creation)."""
        seed = self.default_instance_seed if seed is None else _check_seed(seed)
        self._current_seed = seed
        for index, (state, _) in enumerate(self.state_updates):
            state.set_value(stream_state(seed, index))

    def updates(self) -> list[tuple[SharedVariable, TensorVariable]]:
        """(state, new state) of every stream: what `function(updates=...)` would need without default updates."""
        return list(self.state_updates)

    def _draw(self, dist: str, entries: list, params: list, dtype: str, udtype: str = "float64", extra=None):
        seed = getattr(self, "_current_seed", self.default_instance_seed)
        index = len(self.state_updates)
        state = shared(stream_state(seed, index), name=f"random_state_{index}")
        shape, sizes = _split(entries)
        new_state, sample = random_draw(dist, state, shape, sizes, params, dtype, udtype, extra)
        state.default_update = new_state
        self.state_updates.append((state, new_state))
        sample.rng = sample.rstate = state  # Theano's names: .rng (RandomStreams), .rstate (MRG_RandomStreams)
        sample.update = (state, new_state)
        return sample

    # ---- the distributions -------------------------------------------------------------------------------
    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None, **kwargs) -> TensorVariable:
        """Uniform in (low, high); dtype: floatX upcast with low's and high's unless given."""
        low, high = as_tensor_variable(low), as_tensor_variable(high)
        dtype = _float_dtype(dtype, low, high)
        entries = _entries("uniform", size, ndim, [low, high])
        u = self._draw("uniform", entries, [], dtype, udtype=dtype)
        if _is_value(low, 0) and _is_value(high, 1):
            return u
        return _set_rng(math.cast(low + (high - low) * u, dtype), u)

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None, truncate=False, **kwargs) -> TensorVariable:
        """Normal with mean `avg` and standard deviation `std` (Box-Muller on Philox uniforms); `truncate=True`
        (Theano's MRG option) redraws the radius of a value beyond 2 standard deviations, so every value lies
        within `avg` +- 2 `std` (and their spread is below `std`)."""
        avg, std = as_tensor_variable(avg), as_tensor_variable(std)
        dtype = _float_dtype(dtype, avg, std)
        z = self._draw("normal", _entries("normal", size, ndim, [avg, std]), [], dtype, extra=bool(truncate) or None)
        if _is_value(avg, 0) and _is_value(std, 1):
            return z
        return _set_rng(math.cast(avg + std * z, dtype), z)

    def truncated_normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None, **kwargs) -> TensorVariable:
        """Normal truncated at 2 standard deviations whose spread is `std` itself (Theano's MRG method: the
        truncated draw's scale is divided by the standard deviation of a standard normal cut at +-2)."""
        return self.normal(size, avg, as_tensor_variable(std) / _TRUNCATED_STD, ndim, dtype, truncate=True)

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", **kwargs) -> TensorVariable:
        """Successes in `n` trials of probability `p`; with n=1 a comparison of uniforms with (symbolic) p."""
        n, p = as_tensor_variable(n), as_tensor_variable(p)
        dtype = normalize_dtype(dtype)
        entries = _entries("binomial", size, ndim, [n, p])
        if _is_value(n, 1):
            udtype = "float32" if p.dtype == "float32" else "float64"
            u = self._draw("uniform", entries, [], udtype, udtype=udtype)
            return _set_rng(math.cast(math.lt(u, p), dtype), u)
        return self._draw("binomial", entries, [n, p], dtype)

    def random_integers(self, size=None, low=0, high=1, ndim=None, dtype="int64") -> TensorVariable:
        """Integers uniform in [low, high], both ends included."""
        low, high = as_tensor_variable(low), as_tensor_variable(high)
        entries = _entries("random_integers", size, ndim, [low, high])
        return self._draw("integers", entries, [low, high], normalize_dtype(dtype))

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64", **kwargs) -> TensorVariable:
        """Counts of `n` draws from the categories of each row of `pvals`.

        A matrix `pvals` (MRG_RandomStreams's form) gives one sample per row, of its shape; a vector
        (RandomStreams's form) gives `size` samples, of shape size + (len(pvals),).
        """
        if pvals is None:
            pvals = [0.5, 0.5]
        pvals = as_tensor_variable(pvals)
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise TypeError(f"multinomial: n must be a non-negative Python int, got {n!r}")
        if pvals.ndim == 2:
            if size is not None and _static_sizes(size) != list(pvals.type.shape[:1]):
                raise ValueError(f"multinomial: with a matrix pvals the sample has one row per row of pvals, so size "
                                 f"must be None (as in MRG_RandomStreams), got size={size!r}")
            entries = shape_entries(pvals)
        elif pvals.ndim == 1:
            entries = (_entries("multinomial", size, ndim, []) if size is not None else []) + shape_entries(pvals)[-1:]
        else:
            raise TypeError(f"multinomial: pvals must be a vector or a matrix, got {pvals.type}")
        return self._draw("multinomial", entries, [pvals], normalize_dtype(dtype), extra=int(n))

    def choice(self, size=None, a=2, replace=True, p=None, ndim=None, dtype=None, **kwargs) -> TensorVariable:
        """`size` values from `a` (an int: range(a); or a vector), with probabilities `p` (default: equal)."""
        a = as_tensor_variable(a)
        if a.ndim > 1:
            raise TypeError(f"choice: a must be an integer or a vector, got {a.type}")
        p = as_tensor_variable(np.zeros(0) if p is None else p)
        if dtype is None:
            dtype = "int64" if a.ndim == 0 else a.dtype
        entries = _entries("choice", size if size is not None else (), ndim, [])
        return self._draw("choice", entries, [a, p], normalize_dtype(dtype), extra=bool(replace))

    def permutation(self, size=None, n=1, ndim=None, dtype="int64") -> TensorVariable:
        """Permutations of range(n): one per entry of `size`, along a last axis of length n."""
        entries = _entries("permutation", size if size is not None else (), ndim, []) + _shape_spec("permutation", n)
        return self._draw("permutation", entries, [], normalize_dtype(dtype))


def _check_seed(seed) -> int:
    """The 64-bit seed of an int, or of a sequence of ints (MRG_RandomStreams also takes six), mixed by numpy's
    SeedSequence (a fixed algorithm: the same ints give the same seed with every numpy)."""
    if isinstance(seed, (list, tuple, np.ndarray)) and len(seed) and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 0 for v in seed):
        return int(np.random.SeedSequence([int(v) for v in seed]).generate_state(1, np.uint64)[0])
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"a random seed must be an int (or a sequence of non-negative ints), got "
                        f"{type(seed).__name__} {seed!r}")
    return int(seed) % 2**64


# The standard deviation of a standard normal cut at +-2: 1 - 2 * 2 * pdf(2) / (cdf(2) - cdf(-2)) is its variance.
_TRUNCATED_STD = _pymath.sqrt(1 - 4 * _pymath.exp(-2) / _pymath.sqrt(2 * _pymath.pi) / _pymath.erf(2 / _pymath.sqrt(2)))


def _float_dtype(dtype, *params) -> str:
    if dtype is not None:
        name = normalize_dtype(dtype)
        if name not in ("float32", "float64"):
            raise TypeError(f"this distribution draws floats: dtype must be float32 or float64, got {name}")
        return name
    return np.result_type(config.floatX, *[v.dtype for v in params]).name


def _entries(what: str, size, ndim, params) -> list:
    """The output's sizes: from `size` (ints, integer scalars, or a vector such as x.shape), else broadcast
    from the parameters' shapes."""
    if size is not None:
        return _shape_spec(what, size, ndim)
    if not params:
        return [] if not ndim else _shape_spec(what, size, ndim)
    broadcast = params[0]
    for v in params[1:]:
        broadcast = broadcast + v
    if ndim is not None and ndim != broadcast.ndim:
        raise TypeError(f"{what}: ndim={ndim} but the parameters have {broadcast.ndim} dimensions and no size")
    return shape_entries(broadcast)


def _static_sizes(size):
    try:
        return [int(s) for s in size]
    except TypeError:
        return None


def _is_value(v: TensorVariable, value) -> bool:
    data = getattr(v, "data", None)
    return data is not None and np.size(data) == 1 and v.ndim == 0 and bool(data == value)


def _set_rng(sample: TensorVariable, draw: TensorVariable) -> TensorVariable:
    sample.rng, sample.rstate, sample.update = draw.rng, draw.rstate, draw.update
    return sample


__all__ = ["RandomStreams"]

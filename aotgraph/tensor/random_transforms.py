"""From uniforms to each distribution: the numpy code shared by the reference and compiled modules.

Every function here is self-contained (numpy as `np`, and the other `_rng_` functions): the reference
(`random_ops.py`) calls them, and the compiled backend copies their source into the module
(codegen/random_kernel.py), so both paths turn the same uniforms into the same bits. `_rng_count` says how
many uniforms a draw takes (a function of the shape and parameter values alone), which is what makes the
stream's counter advance deterministically.
"""

from __future__ import annotations

import numpy as np


def _rng_count(dist, shape, params, extra):
    """How many uniforms in (0, 1) a draw of `dist` with output `shape` and parameter values `params` takes."""
    if any(int(s) < 0 for s in shape):
        raise ValueError(f"random draw: negative size in {tuple(int(s) for s in shape)}")
    size = _rng_size(shape)
    if dist in ("uniform", "integers", "permutation"):
        return size
    if dist == "normal":
        pairs = (size + 1) // 2  # Box-Muller makes pairs; a truncated pair takes two more uniforms to redraw radii
        return pairs * (4 if extra else 2)
    if dist == "binomial":
        n = np.asarray(params[0])
        return size * (int(n.max()) if n.size else 0)
    if dist == "multinomial":
        return _rng_size(shape[:-1]) * int(extra)
    if dist == "choice":
        population = _rng_population(params[0])
        replace = extra
        return size if replace else population
    raise ValueError(f"unknown distribution {dist!r}")


def _rng_population(a):
    a = np.asarray(a)
    return int(a) if a.ndim == 0 else int(a.shape[0])


def _rng_sample(dist, u, shape, params, dtype, extra):
    """The draw of `dist` made from the uniforms `u` (as many as `_rng_count` said), as an array of `dtype`."""
    shape = tuple(int(s) for s in shape)
    if dist == "uniform":
        return u.reshape(shape)
    if dist == "normal":
        return _rng_normal(u, shape, truncate=bool(extra))
    if dist == "integers":
        low, high = (np.broadcast_to(np.asarray(p, np.int64), shape) for p in params)
        if np.any(high < low):
            raise ValueError("random_integers: high < low")
        span = (high - low + 1).astype(np.float64)
        offset = np.minimum(np.floor(u.reshape(shape) * span), span - 1).astype(np.int64)
        return (low + offset).astype(dtype)
    if dist == "binomial":
        return _rng_binomial(u, shape, params, dtype)
    if dist == "multinomial":
        return _rng_multinomial(u, shape, params[0], int(extra), dtype)
    if dist == "choice":
        return _rng_choice(u, shape, params, dtype, extra)
    if dist == "permutation":
        return np.argsort(u.reshape(shape), axis=-1, kind="stable").astype(dtype)
    raise ValueError(f"unknown distribution {dist!r}")


def _rng_size(shape):
    size = 1
    for s in shape:
        size *= int(s)
    return size


def _rng_normal(u, shape, truncate):
    """Box-Muller pairs; truncated (Theano's `truncate=True`): a value beyond 2 keeps its angle and takes a
    new radius drawn from uniforms in (e^-2, 1), so it lands within [-2, 2]."""
    u = u.reshape(-1, 4 if truncate else 2)
    radius = np.sqrt(-2.0 * np.log(u[:, 0]))
    angle = (2.0 * np.pi) * u[:, 1]
    pairs = np.empty((u.shape[0], 2))
    pairs[:, 0] = radius * np.cos(angle)
    pairs[:, 1] = radius * np.sin(angle)
    if truncate:
        floor = np.exp(-2.0)
        redrawn = np.sqrt(-2.0 * np.log(floor + (1.0 - floor) * u[:, 2:]))
        redrawn[:, 0] *= np.cos(angle)
        redrawn[:, 1] *= np.sin(angle)
        pairs = np.where(np.abs(pairs) > 2.0, redrawn, pairs)
    return pairs.reshape(-1)[:_rng_size(shape)].reshape(shape)


def _rng_binomial(u, shape, params, dtype):
    n = np.broadcast_to(np.asarray(params[0], np.int64), shape)
    p = np.broadcast_to(np.asarray(params[1], np.float64), shape)
    if np.any(n < 0) or np.any(~((p >= 0) & (p <= 1))):
        raise ValueError("binomial: needs n >= 0 and 0 <= p <= 1")
    trials = u.shape[0] // max(_rng_size(shape), 1)
    u = u.reshape(shape + (trials,))
    success = (u < p[..., None]) & (np.arange(trials) < n[..., None])
    return success.sum(axis=-1).astype(dtype)


def _rng_multinomial(u, shape, pvals, n, dtype):
    """n trials per row of `pvals` (one row per sample: a matrix, or one vector for all samples)."""
    pvals = np.asarray(pvals, np.float64)
    if np.any(pvals < 0):
        raise ValueError("multinomial: pvals must be >= 0")
    rows, k = _rng_size(shape[:-1]), shape[-1]
    pvals = np.broadcast_to(pvals, (rows, k))
    cdf = np.cumsum(pvals, axis=1)
    target = u.reshape(rows, n) * cdf[:, -1:]
    picked = np.minimum((target[:, :, None] >= cdf[:, None, :]).sum(axis=2), k - 1)
    out = np.zeros((rows, k), dtype=np.int64)
    np.add.at(out, (np.repeat(np.arange(rows), n), picked.reshape(-1)), 1)
    return out.reshape(shape).astype(dtype)


def _rng_choice(u, shape, params, dtype, replace):
    a, p = np.asarray(params[0]), np.asarray(params[1], np.float64)
    population = _rng_population(a)
    size = _rng_size(shape)
    if p.size and p.shape[0] != population:
        raise ValueError(f"choice: p has {p.shape[0]} entries for a population of {population}")
    if p.size and (np.any(p < 0) or not np.isclose(p.sum(), 1.0)):
        raise ValueError("choice: p must be >= 0 and sum to 1")
    if population == 0 and size:
        raise ValueError("choice: cannot choose from an empty population")
    if replace and not p.size:
        picked = np.minimum(np.floor(u * population), population - 1).astype(np.int64)
    elif replace:
        cdf = np.cumsum(p)
        picked = np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), population - 1)
    else:
        if size > population:
            raise ValueError(f"choice: cannot take {size} samples without replacement from {population}")
        if p.size and size > np.count_nonzero(p):
            raise ValueError(f"choice: fewer than {size} entries of p are non-zero")
        keys = u if not p.size else np.where(p > 0, np.log(u) / np.where(p > 0, p, 1.0), -np.inf)
        picked = np.argsort(-keys, kind="stable")[:size]
    picked = picked.reshape(shape)
    return (picked if a.ndim == 0 else a[picked]).astype(dtype)

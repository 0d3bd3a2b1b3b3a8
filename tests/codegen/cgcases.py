"""Helpers of the codegen tests: input values per dtype, comparison with the reference, subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64")
INTS = tuple(d for d in DTYPES if np.dtype(d).kind in "iu")
FLOATS = ("float32", "float64")


def values(dtype: str, n: int = 64, seed: int = 0, small: bool = False) -> np.ndarray:
    """Test values of `dtype`: edge cases (0, +-1, extremes, -0.0, inf, nan) then random ones.

    small=True keeps magnitudes below 10 (for float functions of small integers, which numpy
    computes in float16).
    """
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype).kind
    if kind == "b":
        return rng.integers(0, 2, n).astype(bool)
    if kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = (max(info.min, -9), min(info.max, 9)) if small else (info.min, info.max)
        edges = [v for v in (0, 1, -1, 2, -2, 7, -7, lo, hi, lo + 1, hi - 1) if lo <= v <= hi]
        rest = rng.integers(lo, hi, max(n - len(edges), 0), endpoint=True, dtype=dtype)
        return np.concatenate([np.array(edges, dtype=dtype), rest])[:n]
    if small:
        edges = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.5]
        rest = rng.uniform(-9, 9, max(n - len(edges), 0))
    else:
        edges = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1e30, -1e30, np.inf, -np.inf, np.nan, 7.0, -7.0]
        rest = rng.standard_normal(max(n - len(edges), 0)) * 10
    return np.concatenate([np.array(edges), rest]).astype(dtype)[:n]


def tolerance(dtype: str) -> dict:
    return {"float32": dict(rtol=2e-6, atol=1e-30), "float64": dict(rtol=1e-13, atol=1e-300)}.get(dtype, {})


def assert_outputs_match(name: str, got, expected, outs, rtol: float) -> None:
    """Each output of case `name` against the reference's: float32 outputs, and float64 ones of a case with an
    `rtol`, within `rtol` of the largest term (BLAS sums the products in another order, so an element that
    cancels is off by more than `rtol` of itself: 1.1e-12 seen here at rtol 1e-12), the others by
    `assert_same` (rtol 0: the dtype's tolerance)."""
    assert len(got) == len(expected), f"{name}: {len(got)} outputs, reference {len(expected)}"
    for j, (g, e) in enumerate(zip(got, expected)):
        what = f"{name} output {j} ({outs[j]!r})"
        if g.dtype == np.float32 or (g.dtype == np.float64 and rtol):
            assert g.dtype == e.dtype and g.shape == e.shape, what
            np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * np.abs(np.nan_to_num(e)).max(), err_msg=what)
        else:
            assert_same(g, e, what, rtol=rtol or None)


def assert_same(got, expected, what: str, rtol: float | None = None) -> None:
    """Exact equality (dtype, shape, values) for bools and integers; close for floats (NaN == NaN)."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, reference {expected.dtype}"
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, reference {expected.shape}"
    if got.dtype.kind == "f":
        tol = tolerance(got.dtype.name)
        if rtol is not None:
            tol = dict(tol, rtol=rtol)
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(got, expected, equal_nan=True, err_msg=what, **tol)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=what)


def run_python(code: str, *, isolated: bool = True, cwd: str | None = None, timeout: float = 120) -> str:
    """Run `code` in a fresh interpreter; return its stdout, fail with its stderr.

    isolated=True runs `python -I` (no PYTHONPATH, no current directory): numpy and the standard
    library only, as on a machine without aotgraph.
    """
    env = dict(os.environ)
    if not isolated:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    cmd = [sys.executable, *(["-I"] if isolated else []), "-c", code]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)
    assert done.returncode == 0, f"subprocess failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout

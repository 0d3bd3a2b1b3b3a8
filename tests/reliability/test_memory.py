"""Memory: 100,000 calls leave resident memory where it was, hold no references to inputs or outputs, and
keep no intermediate values between calls; `free()` works and the function stays usable.

The long run uses FAST_RUN (FAST_COMPILE when no compiler) and the built module; a call costs a few
microseconds there, so 100,000 calls take well under a second each.
"""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc
import weakref

import numpy as np
import pytest
from relsupport import fast_run_available

CALLS = 100_000
ALLOWED_GROWTH = 4 * 2**20  # bytes: a leak of one small array per call would be ~10 MB


def rss() -> int:
    """Resident memory of this process in bytes (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm (Linux)")


def _long_run(f, shared_value) -> int:
    """RSS growth over CALLS calls of f(x, y) (it updates a shared vector); checks references too."""
    x, y = np.arange(16.0), np.ones(16)
    for _ in range(2000):
        f(x, y)
    counts = (sys.getrefcount(x), sys.getrefcount(y))
    gc.collect()
    before = rss()
    for _ in range(CALLS):
        f(x, y)
    gc.collect()
    growth = rss() - before
    assert (sys.getrefcount(x), sys.getrefcount(y)) == counts, "the calls kept references to their inputs"

    outputs = f(x, y)
    refs = [weakref.ref(o) for o in outputs]
    old_state = weakref.ref(shared_value())
    assert [sys.getrefcount(outputs[i]) for i in range(2)] == [2, 2]  # the list, and getrefcount's argument
    del outputs
    f(x, y)  # replaces the shared value
    assert all(r() is None for r in refs), "the function kept a reference to an output"
    assert old_state() is None, "an old shared value is still referenced"
    print(f"RSS growth over {CALLS} calls: {growth / 2**20:.2f} MiB")
    return growth


def test_100k_calls_in_process(compiled):
    mode = "FAST_RUN" if fast_run_available() else "FAST_COMPILE"
    functions, shared = compiled.functions(mode)
    compiled.settle()
    assert _long_run(functions["mem_vec"], lambda: shared["vec"].get_value(borrow=True)) < ALLOWED_GROWTH


def test_100k_calls_in_built_module(built, compiled):
    compiled.settle()
    assert _long_run(built.functions["mem_vec"], lambda: built.get_value("vec", borrow=True)) < ALLOWED_GROWTH


def _no_intermediates_kept(f) -> None:
    """A call on 8 MB inputs allocates intermediates; none of them survive the call, free() or not."""
    x, y = np.linspace(0, 1, 10**6), np.linspace(1, 2, 10**6)
    expected = f(x, y)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        outputs = f(x, y)
        del outputs
        kept, peak = tracemalloc.get_traced_memory()
        f.free()
        after_free = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert peak - base >= 8 * 10**6  # it did allocate (outputs and intermediates)
    assert kept - base < 2**20 and after_free - base < 2**20
    for got, want in zip(f(x, y), expected):  # still usable after free()
        np.testing.assert_array_equal(got, want)


def test_free_and_intermediates_in_process(functions):
    _no_intermediates_kept(functions["pure"])


def test_free_and_intermediates_in_built_module(built):
    _no_intermediates_kept(built.functions["pure"])

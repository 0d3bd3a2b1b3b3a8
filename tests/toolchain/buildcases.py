"""Tiny hand-written .pyx sources for the build tests, and helpers to make them."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Adds two vectors: the smallest module that uses typed memoryviews (and so Cython's utility code).
ADD_PYX = '''\
# cython: boundscheck=False, wraparound=False
"""Adds two vectors."""

def add(double[::1] a, double[::1] b, double[::1] out):
    cdef Py_ssize_t i
    if a.shape[0] != b.shape[0] or a.shape[0] != out.shape[0]:
        raise ValueError("add: the vectors differ in length")
    for i in range(a.shape[0]):
        out[i] = a[i] + b[i]
'''

# Reads a data file saved beside the module, the way generated modules load shared values.
DATA_PYX = """\
# cython: boundscheck=False, wraparound=False
import os
import numpy as np

weights = np.load(os.path.join(os.path.dirname(__file__), "weights.npy"))

def scaled(double[::1] x):
    cdef double[::1] w = weights
    out = np.empty(x.shape[0])
    cdef double[::1] o = out
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        o[i] = x[i] * w[i]
    return out
"""


def unique(source: str, tag: str) -> str:
    """`source` made distinct (so it has its own cache entry) by a comment naming the test."""
    return f"# test: {tag}\n{source}"


def npy_bytes(array) -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()

"""Dtype facts for code generation: C types, numpy type numbers, widths, literals.

Every name here is a constant of aotgraph (never a user string).
"""

from __future__ import annotations

import math

import numpy as np

CTYPE = {
    "bool": "cnp.npy_bool", "int8": "cnp.npy_int8", "int16": "cnp.npy_int16", "int32": "cnp.npy_int32",
    "int64": "cnp.npy_int64", "uint8": "cnp.npy_uint8", "uint16": "cnp.npy_uint16", "uint32": "cnp.npy_uint32",
    "uint64": "cnp.npy_uint64", "float32": "cnp.npy_float32", "float64": "cnp.npy_float64",
}
TYPENUM = {
    "bool": "cnp.NPY_BOOL", "int8": "cnp.NPY_INT8", "int16": "cnp.NPY_INT16", "int32": "cnp.NPY_INT32",
    "int64": "cnp.NPY_INT64", "uint8": "cnp.NPY_UINT8", "uint16": "cnp.NPY_UINT16", "uint32": "cnp.NPY_UINT32",
    "uint64": "cnp.NPY_UINT64", "float32": "cnp.NPY_FLOAT32", "float64": "cnp.NPY_FLOAT64",
}
SHORT = {
    "bool": "b1", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64", "uint8": "u8", "uint16": "u16",
    "uint32": "u32", "uint64": "u64", "float32": "f32", "float64": "f64",
}


def kind(dtype: str) -> str:
    """'b' bool, 'i' signed, 'u' unsigned, 'f' float."""
    return np.dtype(dtype).kind


def bits(dtype: str) -> int:
    return np.dtype(dtype).itemsize * 8


def ctype(dtype: str) -> str:
    return CTYPE[dtype]


def unsigned_wide(dtype: str) -> str:
    """The unsigned C type in which wrapping arithmetic of `dtype` is done (never narrower than int)."""
    return "cnp.npy_uint64" if bits(dtype) == 64 else "cnp.npy_uint32"


def literal(value, dtype: str) -> str | None:
    """A Cython expression for the scalar `value` of `dtype`, or None when it is better kept as data."""
    value = np.asarray(value, dtype=dtype).item()
    k = kind(dtype)
    if k == "b":
        return "1" if value else "0"
    if k in "iu":
        if abs(value) >= 2**31:
            return None
        return f"(<{CTYPE[dtype]}>{value})" if value < 0 else f"<{CTYPE[dtype]}>{value}"
    if not math.isfinite(value):
        return None
    text = repr(float(value))
    return f"(<{CTYPE[dtype]}>{text})" if value < 0 or text.startswith("-") else f"<{CTYPE[dtype]}>{text}"

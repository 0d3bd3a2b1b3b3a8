"""Rendering rules of the reductions: kind -> how a reduction loop starts, combines and sums up a block.

A reduction loop (loops.py) reduces leaves of `LEAF` elements with 8 interleaved accumulators (numpy's
pairwise summation does the same below 128 elements), computing each element's value as it goes (or, when
the value calls vectorizable math functions, first into a small buffer in the L1 cache: the value is never
an array). Leaf results combine pairwise (`cascade_helpers`: a binary counter of partial results), and so
do the results of the loop's units: the same O(log n) error bound as numpy's pairwise `sum`, in an order
fixed by the shape alone, whatever the number of threads.

Integer sums and products wrap like numpy's (computed in a wide unsigned type); max and min propagate NaN
like numpy's; all/any treat any non-zero (and NaN) as true.
"""

from __future__ import annotations

import numpy as np

from aotgraph.codegen.dtypes import CTYPE, SHORT, kind
from aotgraph.codegen.scalar import render_scalar
from aotgraph.graph.basic import Op
from aotgraph.tensor.reduction import KINDS

BLOCK = 2048  # elements per block: a loop's unit of work (and of threads' shares); 16 kB of float64
LEAF = 128  # elements a reduction sums with 8 accumulators before combining pairwise


def identity(kind_: str, dtype: str) -> str:
    """The Cython literal an accumulator of reduction `kind_` in `dtype` starts from (its registration's value)."""
    value = KINDS[kind_].start(dtype)
    if kind(dtype) == "b" or value in (0, 1):
        return str(int(value))
    if kind(dtype) == "f":
        return f"({'-' if value < 0 else ''}<{CTYPE[dtype]}>INFINITY)"
    info = np.iinfo(dtype)
    if value == info.min:
        return f"(<{CTYPE[dtype]}>(-{int(info.max)} - 1))"
    if kind(dtype) == "u":
        return f"(<{CTYPE[dtype]}>-1)"  # the largest value of an unsigned type
    return f"(<{CTYPE[dtype]}>{int(value)})"


def combine(kind_: str, dtype: str, a: str, b: str, helpers: dict[str, str]) -> str:
    """The Cython expression combining partial results `a` and `b` of reduction `kind_` in `dtype`: the scalar
    rule of the elementwise op its registration names."""
    op = Op(KINDS[kind_].combine)
    ctx = render_scalar(op, None, [a, b], [dtype, dtype], dtype)
    helpers.update(ctx.helpers)
    return ctx.expr


def value(kind_: str, value_expr: str, value_dtype: str, acc_dtype: str) -> str:
    """The element's contribution, in the accumulator dtype."""
    if KINDS[kind_].truth:
        return f"({value_expr} != 0)"
    if value_dtype == acc_dtype:
        return value_expr
    if acc_dtype == "bool":
        return f"({value_expr} != 0)"
    return f"<{CTYPE[acc_dtype]}>{value_expr}"


_CASCADE = """
cdef inline void _push_{K}_{S}({T}* stack, cnp.npy_intp* count, {T} v) noexcept nogil:
    # pairwise combination in O(log n) memory: stack[k] holds the result of 2**k leaves
    cdef cnp.npy_intp c = count[0]
    cdef int k = 0
    while c & 1:
        v = {CV}
        c >>= 1
        k += 1
    stack[k] = v
    count[0] += 1


cdef inline {T} _total_{K}_{S}(const {T}* stack, cnp.npy_intp count) noexcept nogil:
    cdef {T} acc = {I}
    cdef int k = 0
    while count:
        if count & 1:
            acc = {CA}
        count >>= 1
        k += 1
    return acc


cdef {T} _reduce_{K}_{S}(const {T}* a, cnp.npy_intp n) noexcept nogil:
    # the partial results of a loop's units, combined pairwise in order
    cdef {T} stack[64]
    cdef cnp.npy_intp count = 0
    cdef cnp.npy_intp i
    for i in range(n):
        _push_{K}_{S}(stack, &count, a[i])
    return _total_{K}_{S}(stack, count)
"""


_BLOCK_LOOP = """
cdef {T} _blk_{K}_{S}(const {T}* a, cnp.npy_intp n) noexcept nogil:
    # one accumulator: gcc vectorizes this reduction (integers, bools)
    cdef {T} r = {I}
    cdef cnp.npy_intp i
    for i in range(n):
        r = {C}
    return r
"""

# float max/min: gcc vectorizes no reduction that keeps NaN (numpy propagates it), so this one is written
# with GCC/clang vector extensions: lanes keep the running max of non-NaN values, a mask records NaNs
_BLOCK_MAXMIN_C = """
cdef extern from *:
    \"\"\"
    static {T} ag_blk_{K}_{S}(const {T}* a, npy_intp n) {{
        typedef {T} V __attribute__((vector_size(64)));
        typedef {L} M __attribute__((vector_size(64)));
        enum {{ W = 64 / sizeof({T}) }};
        V r, v;
        M nan = {{0}};
        {T} res = {INIT};
        int any = 0, j;
        npy_intp i = 0;
        for (j = 0; j < W; j++) r[j] = {INIT};
        for (; i + W <= n; i += W) {{
            memcpy(&v, a + i, sizeof v);
            M take = (M)(v {OP} r);
            r = (V)(((M)v & take) | ((M)r & ~take));
            nan |= (M)(v != v);
        }}
        for (j = 0; j < W; j++) {{
            if (r[j] {OP} res) res = r[j];
            any |= nan[j] != 0;
        }}
        for (; i < n; i++) {{
            if (a[i] {OP} res) res = a[i];
            any |= a[i] != a[i];
        }}
        return any ? ({T})NAN : res;
    }}
    \"\"\"
    {T} ag_blk_{K}_{S}(const {T}* a, cnp.npy_intp n) nogil
"""

_C_FLOAT = {"float64": ("double", "long long", "f64"), "float32": ("float", "int", "f32")}


def block_helper(kind_: str, dtype: str, helpers: dict[str, str]) -> str:
    """The function reducing n consecutive accumulator values (not for float sums and products: see loops.py)."""
    S = SHORT[dtype]
    extremum = KINDS[kind_].combine
    if extremum in ("maximum", "minimum") and kind(dtype) == "f":
        T, L, _ = _C_FLOAT[dtype]
        init = "-INFINITY" if extremum == "maximum" else "INFINITY"
        name = f"ag_blk_{kind_}_{S}"
        helpers[name] = _BLOCK_MAXMIN_C.format(T=T, L=L, K=kind_, S=S, INIT=init,
                                               OP=">" if extremum == "maximum" else "<").strip("\n")
        return name
    name = f"_blk_{kind_}_{S}"
    helpers[name] = _BLOCK_LOOP.format(T=CTYPE[dtype], S=S, K=kind_, I=identity(kind_, dtype),
                                       C=combine(kind_, dtype, "r", "a[i]", helpers)).strip("\n")
    return name


def cascade_helpers(kind_: str, dtype: str, helpers: dict[str, str]) -> tuple[str, str, str]:
    """(push, total, reduce-array) helper names for pairwise combination of partial results."""
    T, S = CTYPE[dtype], SHORT[dtype]
    source = _CASCADE.format(T=T, S=S, K=kind_, I=identity(kind_, dtype),
                             CV=combine(kind_, dtype, "stack[k]", "v", helpers),
                             CA=combine(kind_, dtype, "stack[k]", "acc", helpers)).strip("\n")
    helpers[f"_push_{kind_}_{S}"] = source
    return f"_push_{kind_}_{S}", f"_total_{kind_}_{S}", f"_reduce_{kind_}_{S}"

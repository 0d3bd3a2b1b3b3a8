"""The compiled fused_matvec: z = X @ w, v = f(z, ...) row by row, g = X.T @ v, reading each block of rows once.

Why: in a gradient step of a linear model (the logistic-regression step: X of 400 x 784 float64, 2.5 MB) the two
BLAS products read X from L3 twice. This loop reads a block of rows from L3 once for its dot products with w,
computes v for the block, and adds the rows' contributions to g while they are still in L2 (a block is at most
BLOCK_BYTES). Per block of at most CHUNK rows:

1. the rows' dot products with w, four rows at a time, 8 partial sums (lanes) per row: vectorized by the compiler
   without reordering a sum, so results are the same bits with or without OpenMP or -march=native;
2. the elementwise program over the block's z (and the leaves' elements of those rows), in one compute loop of
   CHUNK elements like loops.py's chunked loops (a partial block is padded), so gcc calls vector math functions;
3. g += v[i] * row i, four rows at a time (C, vectorized).

The whole training step with this loop: benchmarks/bench_fusion.py part 3 (before/after in one run).

Rows are grouped into units fixed by the shape alone (at most MAX_UNITS), each accumulating its own partial
g; the partials are added in unit order at the end. Threads take runs of units, so the result does not depend
on the number of threads. When X's rows are not contiguous (a transpose, a column slice) the loop computes v
only, between numpy's two products (no copy of X).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from aotgraph.codegen.dtypes import CTYPE, TYPENUM, literal
from aotgraph.codegen.ir import ONCE, PER_ELEMENT, Buffer, CallStep, ScalarConst, ScalarStmt, program_statements
from aotgraph.codegen.loops import CHUNK, IND, emit_statement, indent, operand_text
from aotgraph.codegen.ops import rule
from aotgraph.graph.basic import Apply, Constant
from aotgraph.tensor.fused import stmt_types

MAX_UNITS = 32  # partial sums of g: at most this many (each m elements)
BLOCK_BYTES = 262144  # a block of rows read twice (dot products, then g) stays within this many bytes (L2)
MIN_ROWS = 4
PAR_MIN = 1 << 20  # elements of X from which the rows are split over threads

_C_TEMPLATE = """
/* fused_matvec (aotgraph/codegen/matvec_kernel.py) on $T rows. A dot product keeps 8 partial sums per row, one per
   lane (element j goes to lane j % 8), added pairwise at the end: the compiler vectorizes the lanes without
   reordering any sum (no -ffast-math, no OpenMP needed), so every build gives the same bits. */
static $T ag_fmv_lanes_$S(const $T* a) { return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); }
static void ag_fmv_dots_$S(const char* X, npy_intp rs, const $T* w, npy_intp m, npy_intp nb, $T* z) {
    npy_intp i = 0, j, l, full = m - m % 8;
    for (; i + 4 <= nb; i += 4) {
        const $T* r0 = (const $T*)(X + i * rs); const $T* r1 = (const $T*)(X + (i + 1) * rs);
        const $T* r2 = (const $T*)(X + (i + 2) * rs); const $T* r3 = (const $T*)(X + (i + 3) * rs);
        $T a0[8] = {0}, a1[8] = {0}, a2[8] = {0}, a3[8] = {0};
        for (j = 0; j < full; j += 8) {
            for (l = 0; l < 8; l++) {
                $T wj = w[j + l];
                a0[l] += r0[j + l] * wj; a1[l] += r1[j + l] * wj; a2[l] += r2[j + l] * wj; a3[l] += r3[j + l] * wj;
            }
        }
        for (l = 0; j + l < m; l++) {
            $T wj = w[j + l];
            a0[l] += r0[j + l] * wj; a1[l] += r1[j + l] * wj; a2[l] += r2[j + l] * wj; a3[l] += r3[j + l] * wj;
        }
        z[i] = ag_fmv_lanes_$S(a0); z[i + 1] = ag_fmv_lanes_$S(a1);
        z[i + 2] = ag_fmv_lanes_$S(a2); z[i + 3] = ag_fmv_lanes_$S(a3);
    }
    for (; i < nb; i++) {
        const $T* r0 = (const $T*)(X + i * rs);
        $T a0[8] = {0};
        for (j = 0; j < full; j += 8)
            for (l = 0; l < 8; l++) a0[l] += r0[j + l] * w[j + l];
        for (l = 0; j + l < m; l++) a0[l] += r0[j + l] * w[j + l];
        z[i] = ag_fmv_lanes_$S(a0);
    }
}
/* g += v[i] * row i for the block's rows, four at a time (g and the rows never overlap: ivdep) */
static void ag_fmv_axpy_$S(const char* X, npy_intp rs, const $T* v, npy_intp m, npy_intp nb, $T* g) {
    npy_intp i = 0, j;
    for (; i + 4 <= nb; i += 4) {
        const $T* r0 = (const $T*)(X + i * rs); const $T* r1 = (const $T*)(X + (i + 1) * rs);
        const $T* r2 = (const $T*)(X + (i + 2) * rs); const $T* r3 = (const $T*)(X + (i + 3) * rs);
        $T d0 = v[i], d1 = v[i + 1], d2 = v[i + 2], d3 = v[i + 3];
        #pragma GCC ivdep
        for (j = 0; j < m; j++) g[j] += d0 * r0[j] + d1 * r1[j] + d2 * r2[j] + d3 * r3[j];
    }
    for (; i < nb; i++) {
        const $T* r0 = (const $T*)(X + i * rs);
        $T d0 = v[i];
        #pragma GCC ivdep
        for (j = 0; j < m; j++) g[j] += d0 * r0[j];
    }
}
/* g = the sum of `units` partials of m elements, in order (g: m elements, zero when units == 0) */
static void ag_fmv_sum_$S(const $T* parts, npy_intp units, npy_intp m, $T* g) {
    npy_intp u, j;
    for (j = 0; j < m; j++) g[j] = 0;
    for (u = 0; u < units; u++) {
        const $T* p = parts + u * m;
        #pragma GCC ivdep
        for (j = 0; j < m; j++) g[j] += p[j];
    }
}
static void ag_fmv_zero_$S($T* g, npy_intp m) { memset(g, 0, (size_t)m * sizeof($T)); }
"""

_SUFFIX = {"float64": "d", "float32": "f"}
_C_TYPE = {"float64": "double", "float32": "float"}


# shared by every fused_matvec kernel of a module: the Python-level parts, written once (less C per kernel)
_PY_HELPERS = f'''


# the loop runs on threads from this many elements of X (other loops: _PAR_MIN): waking the threads costs more
# than they save below it (measured on 400 x 784, OMP_WAIT_POLICY=PASSIVE: 1 thread 55 us, 2 threads 72 us)
cdef enum:
    _FMV_PAR_MIN = {PAR_MIN}


cdef int _fmv_size_error(int k, cnp.npy_intp want, cnp.npy_intp got) except -1:
    if k == 0:
        raise ValueError(f"fused_matvec (X @ w and X.T @ v in one pass): X has {{want}} columns but w has {{got}} "
                         "elements")
    raise ValueError(f"fused_matvec (X @ w and X.T @ v in one pass): input {{k}} of the elementwise part has {{got}} "
                     f"elements where X has {{want}} rows")


cdef int _fmv_matmul(cnp.ndarray a, cnp.ndarray b, cnp.ndarray out) except -1:
    """out = a @ b by numpy (X's rows are not contiguous: the loop computes v only)."""
    np.matmul(a, b, out=out)
    return 0
'''

def matvec_c_source() -> str:
    """The C of the rows' dot products, axpy and sums, for float64 and float32 (one copy per module)."""
    return "#include <string.h>" + "\n".join(_C_TEMPLATE.replace("$T", _C_TYPE[d]).replace("$S", s)
                                                for d, s in _SUFFIX.items())


@dataclass
class MatvecCall:
    """What a fused_matvec step is, for the C backend (codegen/cmodule.py), which writes `_step_function` in C:
    the units function `units_lines` (Cython with C semantics) and the helpers it calls, the inputs' parameter
    names (X, w, l1, ...) and how the loop reads each leaf."""

    fname: str
    dtype: str
    names: list[str]
    leaves: _Leaves
    units_lines: list[str]
    uses_err: bool
    helpers: dict[str, str]

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def suffix(self) -> str:
        return _SUFFIX[self.dtype]


def _c_helper() -> str:
    source = matvec_c_source().removeprefix("#include <string.h>")
    decls = []
    for dtype, s in _SUFFIX.items():
        t = _C_TYPE[dtype]
        rows = "const char* X, cnp.npy_intp rs"
        decls += [f"void ag_fmv_dots_{s}({rows}, const {t}* w, cnp.npy_intp m, cnp.npy_intp nb, {t}* z) noexcept nogil",
                  f"void ag_fmv_axpy_{s}({rows}, const {t}* v, cnp.npy_intp m, cnp.npy_intp nb, {t}* g) noexcept nogil",
                  f"void ag_fmv_sum_{s}(const {t}* parts, cnp.npy_intp units, cnp.npy_intp m, {t}* g) noexcept nogil",
                  f"void ag_fmv_zero_{s}({t}* g, cnp.npy_intp m) noexcept nogil"]
    return "cdef extern from *:\n" + IND + '"""\n#include <string.h>' + source + '"""\n' + "\n".join(
        IND + d for d in decls) + _PY_HELPERS


C_HELPER = "_fmv_c"  # sorts before the kernels' helpers (_fmv_k...), which call its functions


class _Leaves:
    """How the kernel reads each program input: i0 is z; the others a literal, a scalar or a vector by row."""

    def __init__(self, node: Apply, ins: list[Buffer]):
        self.inline: dict[int, ScalarConst] = {}
        self.scalars: list[int] = []  # program input k, read once per call
        self.vectors: list[int] = []  # program input k, read at each row
        self.buffers: dict[int, Buffer] = {}
        for k, (v, b) in enumerate(zip(node.inputs[2:], ins[2:]), start=1):
            self.buffers[k] = b
            const = _inline(v)
            if const is not None:
                self.inline[k] = const
            elif b.ndim == 0:
                self.scalars.append(k)
            else:
                self.vectors.append(k)


def _inline(v) -> ScalarConst | None:
    if not isinstance(v, Constant) or np.size(v.data) != 1:
        return None
    value = np.asarray(v.data, dtype=v.type.dtype).reshape(())[()]
    return None if literal(value, v.type.dtype) is None else ScalarConst(value, v.type.dtype)


def _statements(node: Apply, leaves: _Leaves) -> tuple[list[ScalarStmt], object]:
    """The program's statements over the kernel's scalars (a<k>: input k's element; t<j>), and its result."""
    program = node.op.expr
    in_types = [node.outputs[0].type] + [v.type for v in node.inputs[2:]]
    types = stmt_types(program, in_types)
    scalars: dict[str, tuple[object, int]] = {"i0": ("a0", PER_ELEMENT)}
    for k in range(1, len(in_types)):
        if k in leaves.inline:
            scalars[f"i{k}"] = (leaves.inline[k], ONCE)
        else:
            scalars[f"i{k}"] = (f"a{k}", ONCE if k in leaves.scalars else PER_ELEMENT)
    stmts = program_statements(program, types, scalars)
    return stmts, scalars[program.outputs[0]][0]


def _units_function(fname: str, dtype: str, leaves: _Leaves, stmts: list[ScalarStmt], result,
                    helpers: dict[str, str]) -> tuple[list[str], bool]:
    """The nogil function computing units [u0, u1) (lines), and whether it may set the error flag."""
    t, s = CTYPE[dtype], _SUFFIX[dtype]
    emitted = {st.target: emit_statement(st) for st in stmts}
    for ctx in emitted.values():
        helpers.update(ctx.helpers)
    uses_err = any(ctx.uses_err for ctx in emitted.values())
    params = ["cnp.npy_intp u0", "cnp.npy_intp u1", "char* X", "cnp.npy_intp rs", f"{t}* w", "cnp.npy_intp n",
              "cnp.npy_intp m", "cnp.npy_intp per_unit", "cnp.npy_intp blk", f"{t}* z", f"{t}* v", f"{t}* parts",
              "bint fused"]
    params += [f"{CTYPE[leaves.buffers[k].dtype]} a{k}" for k in leaves.scalars]
    params += [f"char* q{k}, cnp.npy_intp s{k}" for k in leaves.vectors]
    ctypes = {k: CTYPE[leaves.buffers[k].dtype] for k in leaves.vectors}
    decls = ["cdef int err = 0", "cdef cnp.npy_intp u, i, j, jj, nb, start, stop", f"cdef {t}* g = NULL",
             f"cdef {t} a0", f"cdef {t} L0[{CHUNK}]", f"cdef {t} R[{CHUNK}]"]
    decls += [f"cdef {ctypes[k]} a{k}" for k in leaves.vectors] + [f"cdef {ctypes[k]} L{k}[{CHUNK}]"
                                                                  for k in leaves.vectors]
    decls += [f"cdef {CTYPE[st.dtype]} {st.target}" for st in stmts]
    once = [f"{st.target} = {emitted[st.target].expr}" for st in stmts if st.level == ONCE]
    loads = ["jj = i + (j if j < nb else nb - 1)", "L0[j] = z[jj]"]
    loads += [f"L{k}[j] = (<{ctypes[k]}*>(q{k} + jj * s{k}))[0]" for k in leaves.vectors]
    compute = ["a0 = L0[j]"] + [f"a{k} = L{k}[j]" for k in leaves.vectors]
    compute += [f"{st.target} = {emitted[st.target].expr}" for st in stmts if st.level == PER_ELEMENT]
    compute.append(f"R[j] = {operand_text(result)}")
    block = ["nb = min(stop - i, blk)", "if fused:", IND + f"ag_fmv_dots_{s}(X + i * rs, rs, w, m, nb, z + i)",
             f"for j in range({CHUNK}):"] + indent(loads)
    block += ["for j in range(_ag_chunk):"] + indent(compute)  # a variable trip count: vectorized, not unrolled
    block += ["for j in range(nb):", IND + "v[i + j] = R[j]",
              "if fused:", IND + f"ag_fmv_axpy_{s}(X + i * rs, rs, R, m, nb, g)", "i += nb"]
    unit = ["start = u * per_unit", "stop = min(start + per_unit, n)", "if fused:",
            IND + "g = parts + u * m", IND + f"ag_fmv_zero_{s}(g, m)", "i = start", "while i < stop:"]
    body = once + ["for u in range(u0, u1):"] + indent(unit + indent(block)) + ["return err"]
    head = f"cdef int {fname}_units({', '.join(params)}) noexcept nogil:"
    return [head] + indent(decls + body), uses_err


def _step_function(fname: str, dtype: str, names: list[str], leaves: _Leaves, uses_err: bool) -> list[str]:
    """The function the step calls: checks sizes, allocates z, v, g, runs the units (on threads when large)."""
    t, s, num = CTYPE[dtype], _SUFFIX[dtype], TYPENUM[dtype]
    size = np.dtype(dtype).itemsize
    x, w = names[0], names[1]
    params = ", ".join(f"cnp.ndarray {n}" for n in dict.fromkeys(names))
    decls = [f"cdef cnp.npy_intp n = cnp.PyArray_DIMS({x})[0]", f"cdef cnp.npy_intp m = cnp.PyArray_DIMS({x})[1]",
             "cdef cnp.npy_intp units = 0, per_unit = 1, blk, t", "cdef cnp.npy_intp pdims[2]", "cdef int nt, err = 0",
             f"cdef bint fused = m <= 1 or cnp.PyArray_STRIDES({x})[1] == {size}",
             f"cdef cnp.npy_intp rs = cnp.PyArray_STRIDES({x})[0]", f"cdef char* xb = cnp.PyArray_BYTES({x})",
             "cdef cnp.ndarray z, v, g, wc, parts = None", f"cdef {t}* pp = NULL", f"cdef {t}* wp",
             f"cdef {t}* zp", f"cdef {t}* vp"]
    decls += [f"cdef {CTYPE[leaves.buffers[k].dtype]} a{k}" for k in leaves.scalars]
    for k in leaves.vectors:
        decls += [f"cdef char* q{k} = cnp.PyArray_BYTES({names[k + 1]})",
                  f"cdef cnp.npy_intp s{k} = cnp.PyArray_STRIDES({names[k + 1]})[0]"]
    code = [f"if cnp.PyArray_DIMS({w})[0] != m:", IND + f"_fmv_size_error(0, m, cnp.PyArray_DIMS({w})[0])"]
    for k in leaves.vectors:
        code += [f"if cnp.PyArray_DIMS({names[k + 1]})[0] != n:",
                 IND + f"_fmv_size_error({k + 1}, n, cnp.PyArray_DIMS({names[k + 1]})[0])"]
    code += [f"a{k} = (<{CTYPE[leaves.buffers[k].dtype]}*>cnp.PyArray_DATA({names[k + 1]}))[0]"
             for k in leaves.scalars]
    code += [f"z = cnp.PyArray_EMPTY(1, &n, {num}, 0)", f"v = cnp.PyArray_EMPTY(1, &n, {num}, 0)",
             f"g = cnp.PyArray_EMPTY(1, &m, {num}, 0)",
             f"wc = cnp.PyArray_GETCONTIGUOUS({w})", f"wp = <{t}*>cnp.PyArray_DATA(wc)",
             f"zp = <{t}*>cnp.PyArray_DATA(z)", f"vp = <{t}*>cnp.PyArray_DATA(v)",
             "if not fused and n > 0:", IND + f"_fmv_matmul({x}, {w}, z)",
             f"blk = {BLOCK_BYTES} // max(m * {size}, 1)",
             f"blk = {MIN_ROWS} if blk < {MIN_ROWS} else ({CHUNK} if blk > {CHUNK} else blk)",
             "if n > 0:",
             IND + f"per_unit = blk * ((((n + blk - 1) // blk) + {MAX_UNITS - 1}) // {MAX_UNITS})",
             IND + "units = (n + per_unit - 1) // per_unit",
             "if fused and units > 0:",
             IND + "pdims[0] = units", IND + "pdims[1] = m",
             IND + f"parts = cnp.PyArray_EMPTY(2, pdims, {num}, 0)", IND + f"pp = <{t}*>cnp.PyArray_DATA(parts)",
             "nt = _num_threads()", "if nt > units:", IND + "nt = <int>units"]
    args = ["xb", "rs", "wp", "n", "m", "per_unit", "blk", "zp", "vp", "pp", "fused"]
    args += [f"a{k}" for k in leaves.scalars] + [f"q{k}, s{k}" for k in leaves.vectors]
    call = f"{fname}_units({{}}, {', '.join(args)})"
    code += ["if fused and nt > 1 and n * m >= _FMV_PAR_MIN:",
             IND + "with nogil:",
             IND * 2 + 'for t in prange(nt, num_threads=nt, schedule="static"):',
             IND * 3 + "err |= " + call.format("units * t // nt, units * (t + 1) // nt"),
             "elif n * m >= _NOGIL_MIN:",
             IND + "with nogil:",
             IND * 2 + "err = " + call.format("0, units"),
             "else:",
             IND + "err = " + call.format("0, units")]
    if uses_err:
        code += ["if err:", IND + 'raise ValueError("Integers to negative integer powers are not allowed.")']
    code += ["if fused:", IND + f"ag_fmv_sum_{s}(pp, units, m, <{t}*>cnp.PyArray_DATA(g))",
             "else:", IND + f"_fmv_matmul(v, {x}, g)",
             "return z, v, g"]
    return [f"cdef tuple {fname}({params}):"] + indent(decls + code)


@rule("fused_matvec")
def _fused_matvec(node: Apply, ins: list[Buffer], outs: list[Buffer]) -> CallStep:
    dtype = node.inputs[0].type.dtype
    leaves = _Leaves(node, ins)
    stmts, result = _statements(node, leaves)
    helpers: dict[str, str] = {}
    # the program's text, dtypes and leaf kinds name the helper: equal nodes share one
    key = repr((node.op.expr, dtype, [b.dtype for b in ins], sorted(leaves.inline), leaves.scalars, leaves.vectors))
    fname = "_fmv_k" + hashlib.sha256(key.encode()).hexdigest()[:12]
    names = ["X", "w"] + [f"l{k}" for k in range(1, len(ins) - 1)]
    units, uses_err = _units_function(fname, dtype, leaves, stmts, result, helpers)
    native = MatvecCall(fname, dtype, names, leaves, units, uses_err, dict(helpers))
    step = _step_function(fname, dtype, names, leaves, uses_err)
    helpers[fname] = "\n".join(units + ["", ""] + step)
    helpers[C_HELPER] = _c_helper()
    args = ", ".join(b.name for b in ins)
    line = f"{', '.join(b.name for b in outs)} = {fname}({args})"
    return CallStep(list(ins), list(outs), [line], helpers, native=native)

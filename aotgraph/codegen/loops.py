"""Rendering the loops: an ElemwiseStep or a ReduceStep becomes a step function and one loop kernel.

The step function (GIL held) checks the operands' shapes, allocates the result (or takes an input's buffer
for a fused_inplace node), fills a table of data pointers and byte strides (0 along broadcast axes),
merges axes that every operand walks contiguously (`_coalesce`: a C-contiguous loop of any rank becomes one
row), and hands the kernel to `_loop` (kernel_support.pyx.j2), which runs it without the GIL, on several
threads (prange) for large loops.

A kernel is a `noexcept nogil` function over a range [u0, u1) of *units* of work. A unit is a segment of
at most BLOCK elements of one row (the innermost axis); when every operand that varies along the row is
contiguous there, the segment is a loop over typed pointers (what gcc vectorizes best, calling vector math
functions), else a loop over byte strides. Operands that do not vary along the row (broadcast along it) are
read, and what depends only on them computed, once per segment; rank-0 operands once per kernel call.

Units are fixed by the shape and strides, never by the number of threads, and each unit is computed by the
same code whatever thread runs it: elementwise results are identical for any number of threads, and
reductions combine per-unit results in a fixed order, so they are too.

Reductions (see reduction.py for how a segment is reduced): a full reduction (every loop axis reduced)
writes one partial result per unit into a small array, combined pairwise at the end. Other reductions run
one unit per result element (innermost axis reduced: reduced segment by segment) or per segment of a result
row (innermost axis kept: rows are accumulated into it element by element, as numpy does for outer axes).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aotgraph.codegen.dtypes import CTYPE, TYPENUM, literal
from aotgraph.codegen.ir import (
    ONCE,
    PER_ELEMENT,
    PER_ROW,
    Buffer,
    ElemwiseStep,
    Operand,
    ReduceStep,
    ScalarConst,
    ScalarStmt,
)
from aotgraph.codegen.reduction import BLOCK, LEAF, block_helper, cascade_helpers, combine, identity, value
from aotgraph.codegen.scalar import ScalarCtx, calls_vector_math, render_scalar
from aotgraph.graph.rules import rule_of
from aotgraph.tensor.reduction import KINDS

IND = "    "
CHUNK = 64  # elements of a loop calling vector math functions go through one compute loop CHUNK at a time
# the parameters of every loop kernel: its range of units, the loop shape, operand pointers and strides, outputs
KERNEL_SIGNATURE = ("(cnp.npy_intp u0, cnp.npy_intp u1, cnp.npy_intp* dims, char** base, cnp.npy_intp* st, "
                    "char** outs) noexcept nogil:")
POW_ERROR = 'raise ValueError("Integers to negative integer powers are not allowed.")'


def indent(lines: list[str], depth: int = 1) -> list[str]:
    return [IND * depth + line if line else line for line in lines]


def tuple_literal(items: list[str]) -> str:
    """The source of a tuple of the expressions `items` (a 1-tuple keeps its comma)."""
    return f"({', '.join(items)}{',' if len(items) == 1 else ''})"


def unique_names(buffers: list[Buffer]) -> list[str]:
    """Names of `buffers` in order, each once (a node may read one value twice)."""
    return list(dict.fromkeys(b.name for b in buffers))


def operand_text(operand: Operand, rename: Callable[[str], str] = str) -> str:
    """The Cython text of a statement's operand: a scalar's name (through `rename`) or a constant's literal."""
    if isinstance(operand, ScalarConst):
        return literal(operand.value, operand.dtype)
    return rename(operand)


def emit_statement(stmt: ScalarStmt, rename: Callable[[str], str] = str) -> ScalarCtx:
    """The Cython expression of `stmt` (in `ctx.expr`, with the helpers it calls): the op's scalar rule applied to
    its operands, whose names go through `rename`."""
    args = [operand_text(a, rename) for a in stmt.args]
    return render_scalar(stmt.op, rule_of(stmt.op).elemwise.fn, args, list(stmt.arg_dtypes), stmt.dtype)


def _loop_over(start: str, stop: str, body: list[str]) -> list[str]:
    return [f"for i in range({start}, {stop}):"] + indent(body)


class _Loop:
    """What the kernel and the step function of one loop share: operands by level, declarations, code."""

    def __init__(self, body: ElemwiseStep | ReduceStep, helpers: dict[str, str]):
        self.body = body
        self.helpers = helpers
        emitted = [emit_statement(s) for s in body.stmts]
        self.exprs = {s.target: ctx.expr for s, ctx in zip(body.stmts, emitted)}
        for ctx in emitted:
            helpers.update(ctx.helpers)
        self.uses_err = any(ctx.uses_err for ctx in emitted)  # an integer power's negative exponent
        self.nd = max(body.nd, 1)  # the kernel's rank (a rank-0 loop runs as one row of one element)
        self.arrays = [k for k, b in enumerate(body.leaves) if b.ndim > 0]
        self.varying = [k for k in self.arrays if body.leaf_levels[k] == PER_ELEMENT]
        self.math = any(calls_vector_math(s.op.name) and s.level == PER_ELEMENT for s in body.stmts)

    def ctype(self, k: int) -> str:
        return CTYPE[self.body.leaves[k].dtype]

    def scalar_decls(self) -> list[str]:
        body = self.body
        decls = ["cdef int err = 0"]
        decls += [f"cdef {CTYPE[b.dtype]} {body.leaf_scalars[k]}" for k, b in enumerate(body.leaves)]
        decls += [f"cdef {CTYPE[s.dtype]} {s.target}" for s in body.stmts]
        return decls

    def stmts_at(self, level: int) -> list[str]:
        return [f"{s.target} = {self.exprs[s.target]}" for s in self.body.stmts if s.level == level]

    def once_code(self) -> list[str]:
        """Rank-0 operands and what depends on them alone: computed once per kernel call."""
        body = self.body
        lines = [f"{body.leaf_scalars[k]} = (<{self.ctype(k)}*>base[{k}])[0]" for k, b in enumerate(body.leaves)
                 if b.ndim == 0]
        return lines + self.stmts_at(ONCE)

    def row_code(self) -> list[str]:
        """Operands broadcast along the row, and what depends on them: once per segment."""
        body = self.body
        lines = [f"{body.leaf_scalars[k]} = (<{self.ctype(k)}*>q{k})[0]" for k in self.arrays
                 if body.leaf_levels[k] == PER_ROW]
        return lines + self.stmts_at(PER_ROW)

    def loads(self, unit: bool, index: str, rename=lambda name: name) -> list[str]:
        body = self.body
        if unit:
            return [f"{rename(body.leaf_scalars[k])} = p{k}[{index}]" for k in self.varying]
        return [f"{rename(body.leaf_scalars[k])} = (<{self.ctype(k)}*>(q{k} + ({index}) * s{k}))[0]"
                for k in self.varying]

    def element(self, unit: bool) -> list[str]:
        return self.loads(unit, "i") + self.stmts_at(PER_ELEMENT)

    def chunked(self, unit: bool, results: list[tuple[str, str, str]]) -> list[str]:
        """Elements [start, stop) CHUNK at a time through ONE compute loop over small local arrays, for loops
        calling vector math functions: gcc vectorizes that loop with the vector variants, and every element
        takes it (a partial chunk is padded), so an element's result never depends on where it lies (buffer
        alignment, layout, a loop's tail). results: (ctype, value, where element j of the chunk goes: a target, or
        a function of the value's name giving the line that stores it)."""
        body = self.body

        def source(k: int, index: str) -> str:
            return f"p{k}[{index}]" if unit else f"(<{self.ctype(k)}*>(q{k} + ({index}) * s{k}))[0]"

        full = [f"for j in range({CHUNK}):"] + indent([f"L{k}[j] = {source(k, 'i0 + j')}" for k in self.varying])
        padded = [f"for j in range({CHUNK}):", IND + "jj = i0 + (j if j < cn else cn - 1)"]
        padded += indent([f"L{k}[j] = {source(k, 'jj')}" for k in self.varying])
        compute = [f"{body.leaf_scalars[k]} = L{k}[j]" for k in self.varying] + self.stmts_at(PER_ELEMENT)
        compute += [f"R{m}[j] = {value}" for m, (_, value, _) in enumerate(results)]
        chunk = [f"cn = min(stop - i0, {CHUNK})", f"if cn == {CHUNK}:"] + indent(full) + ["else:"] + indent(padded)
        chunk += ["for j in range(_ag_chunk):"] + indent(compute)  # not a constant: gcc vectorizes, never unrolls
        stores = [target(f"R{m}[j]") if callable(target) else f"{target} = R{m}[j]"
                  for m, (_, _, target) in enumerate(results)]
        chunk += ["for j in range(cn):"] + indent(stores)
        return ["i0 = start", "while i0 < stop:"] + indent(chunk + [f"i0 += {CHUNK}"])

    def chunk_decls(self, result_types: list[str]) -> list[str]:
        if not self.math:
            return []
        decls = ["cdef cnp.npy_intp i0, j, jj, cn"] + [f"cdef {self.ctype(k)} L{k}[{CHUNK}]" for k in self.varying]
        return decls + [f"cdef {t} R{m}[{CHUNK}]" for m, t in enumerate(result_types)]

    def kernel_decls(self) -> list[str]:
        nd = self.nd
        decls = [f"cdef cnp.npy_intp m = dims[{nd - 1}]", f"cdef cnp.npy_intp cpr = (m + {BLOCK - 1}) // {BLOCK}",
                 "cdef cnp.npy_intp u, i, start, stop, r, c, rest", "cdef int d",
                 f"cdef cnp.npy_intp idx[{max(nd - 1, 1)}]", "cdef bint unit"]
        decls += [f"cdef char* q{k}" for k in self.arrays]
        decls += [f"cdef cnp.npy_intp s{k} = st[{k * nd + nd - 1}]" for k in self.varying]
        decls += [f"cdef {self.ctype(k)}* p{k}" for k in self.varying]
        return decls + self.scalar_decls()

    def unit_test(self) -> str:
        """Whether every operand varying along the row is contiguous along it (typed pointers apply)."""
        tests = [f"s{k} == {np.dtype(self.body.leaves[k].dtype).itemsize}" for k in self.varying]
        return " and ".join(tests) or "True"

    def pointers(self) -> list[str]:
        return [f"p{k} = <{self.ctype(k)}*>q{k}" for k in self.varying]

    def row_start(self) -> list[str]:
        """Set q<k> to the start of row r (r = u0 // cpr) for every array operand, and idx to r's index."""
        nd = self.nd
        code = ["r = u0 // cpr", "c = u0 - r * cpr"] + [f"q{k} = base[{k}]" for k in self.arrays]
        if nd > 1:
            code += ["rest = r", f"for d in range({nd - 2}, -1, -1):",
                     IND + "idx[d] = rest % dims[d]", IND + "rest = rest // dims[d]"]
            code += [IND + f"q{k} += idx[d] * st[{k * nd} + d]" for k in self.arrays]
        return code

    def next_unit(self) -> list[str]:
        """Advance to the next segment, and at the end of a row the q<k> to the next row (an odometer)."""
        nd = self.nd
        code = ["c = 0", "r += 1"]
        if nd > 1:
            code += [f"d = {nd - 2}", "while d >= 0:", IND + "idx[d] += 1"]
            code += [IND + f"q{k} += st[{k * nd} + d]" for k in self.arrays]
            code += [IND + "if idx[d] < dims[d]:", IND * 2 + "break"]
            code += [IND + f"q{k} -= dims[d] * st[{k * nd} + d]" for k in self.arrays]
            code += [IND + "idx[d] = 0", IND + "d -= 1"]
        return ["c += 1", "if c == cpr:"] + indent(code)

    def segments(self, per_segment: list[str]) -> list[str]:
        """The kernel's loop over its units: `per_segment` runs with start/stop set and row code done."""
        code = self.once_code() + [f"unit = {self.unit_test()}"] + self.row_start()
        body = [f"start = c * {BLOCK}", f"stop = min(start + {BLOCK}, m)"] + self.row_code() + per_segment
        return code + ["for u in range(u0, u1):"] + indent(body + self.next_unit()) + ["return err"]

    def versions(self, unit_lines: list[str], strided_lines: list[str]) -> list[str]:
        """`unit_lines` when the row is contiguous for every varying operand, else `strided_lines`."""
        if not self.varying:
            return unit_lines
        return ["if unit:"] + indent(self.pointers() + unit_lines) + ["else:"] + indent(strided_lines)

    # ---- the step function's part ----
    def shape_checks(self) -> list[str]:
        body, nd = self.body, self.nd
        code = [f"dims[{d}] = 1" for d in range(nd)]
        code += [f"_bcast({body.leaves[k].name}, dims, {nd})" for k in self.arrays]
        code += [f"_declared({body.leaves[k].name}, dims, {nd}, {body.leaves[k].undeclared_ones})"
                 for k in self.arrays if body.leaves[k].undeclared_ones]
        return code

    def tables(self, reduced_mask: int = 0, before_merge: list[str] = ()) -> list[str]:
        """base and st for every operand, then axes merged where every operand allows it."""
        body, nd = self.body, self.nd
        code = [f"base[{k}] = cnp.PyArray_BYTES({b.name})" for k, b in enumerate(body.leaves)]
        code += [f"_bstrides({b.name}, dims, {nd}, &st[{k * nd}])" for k, b in enumerate(body.leaves)]
        code += list(before_merge)
        if nd > 1 and body.leaves:
            code.append(f"_coalesce(dims, st, {len(body.leaves)}, {nd}, {reduced_mask})")
        return code

    def step_decls(self) -> list[str]:
        body, nd = self.body, self.nd
        return [f"cdef cnp.npy_intp dims[{nd}]", f"cdef char* base[{max(len(body.leaves), 1)}]",
                f"cdef cnp.npy_intp st[{max(len(body.leaves) * nd, 1)}]", f"cdef char* outs[{max(len(body.outs), 1)}]",
                "cdef cnp.npy_intp n", "cdef int err = 0"]

    def units(self) -> str:
        nd = self.nd
        return f"(n // dims[{nd - 1}]) * ((dims[{nd - 1}] + {BLOCK - 1}) // {BLOCK})"


# ---- elementwise ---------------------------------------------------------------------------------------------


def render_elemwise(fname: str, body: ElemwiseStep, helpers: dict[str, str]) -> list[str]:
    """The kernel and the step function of one elementwise loop (helpers it calls go into `helpers`)."""
    kernel, loop = elemwise_loop(fname, body, helpers)
    return kernel + ["", ""] + _elemwise_step(fname, loop)


def elemwise_loop(fname: str, body: ElemwiseStep, helpers: dict[str, str]) -> tuple[list[str], _Loop]:
    """The kernel `<fname>_rows` of one elementwise loop, and the loop's facts: what a step function in another
    language (codegen/cmodule.py) needs."""
    loop = _Loop(body, helpers)
    return _elemwise_kernel(f"{fname}_rows", loop), loop


def _elemwise_kernel(fname: str, loop: _Loop) -> list[str]:
    body = loop.body
    decls = loop.kernel_decls()
    decls += [f"cdef {CTYPE[b.dtype]}* po{m} = <{CTYPE[b.dtype]}*>outs[{m}]" for m, b in enumerate(body.outs)]
    decls += [f"cdef {CTYPE[b.dtype]}* o{m}" for m, b in enumerate(body.outs)]
    decls += loop.chunk_decls([CTYPE[b.dtype] for b in body.outs])
    per_segment = [f"o{m} = po{m} + r * m" for m in range(len(body.outs))]
    if loop.math:
        results = [(CTYPE[b.dtype], operand_text(r), f"o{m}[i0 + j]")
                   for m, (b, r) in enumerate(zip(body.outs, body.results))]
        per_segment += loop.versions(loop.chunked(True, results), loop.chunked(False, results))
    else:
        store = [f"o{m}[i] = {operand_text(r)}" for m, r in enumerate(body.results)]
        per_segment += loop.versions(_loop_over("start", "stop", loop.element(True) + store),
                                     _loop_over("start", "stop", loop.element(False) + store))
    return [f"cdef int {fname}{KERNEL_SIGNATURE}"] + indent(decls + loop.segments(per_segment))


def _elemwise_step(fname: str, loop: _Loop) -> list[str]:
    body, nd = loop.body, loop.body.nd
    params = [f"cnp.ndarray {name}" for name in unique_names(body.leaves)]
    if body.inplace is not None:
        params.append("bint may_inplace")
    if body.dest:
        params.append("object dest")
    decls = loop.step_decls() + [f"cdef cnp.ndarray out{m}" for m in range(len(body.outs))]
    # an operand in Fortran order (a transpose): loop over the reversed axes, return results in Fortran order;
    # not when an operand is read once per row (static size 1 on the last axis): reversed, it would vary along it
    per_row = any(body.leaf_levels[k] == PER_ROW for k in loop.arrays)
    full = []
    if nd > 1 and not per_row:
        full = unique_names([body.leaves[k] for k in loop.varying if body.leaves[k].ndim == nd])
    leader = f"({', '.join(full)},)" if full else None
    code = loop.shape_checks()
    if leader is not None:
        decls += ["cdef bint rev", f"cdef cnp.npy_intp rdims[{nd}]"]
        code += [f"rev = _fortran({leader}, dims, {nd})", f"_reversed(dims, rdims, {nd})"]
    for m, b in enumerate(body.outs):
        alloc = [f"out{m} = cnp.PyArray_EMPTY({nd}, dims, {TYPENUM[b.dtype]}, 0)"]
        if m == 0 and body.inplace is not None:
            victim = body.leaves[body.inplace[0]].name
            alloc = [f"if may_inplace and _reusable({victim}, dims, {nd}, {TYPENUM[b.dtype]}):",
                     IND + f"out0 = {victim}", "else:"] + indent(alloc)
        if m == 0 and body.dest:  # a scan's buffer (C order: not for a loop over reversed axes)
            alloc = [f"if dest is not None and _reusable(<cnp.ndarray>dest, dims, {nd}, {TYPENUM[b.dtype]}):",
                     IND + "out0 = <cnp.ndarray>dest", "else:"] + indent(alloc)
        if leader is not None:
            alloc = ["if rev:", IND + f"out{m} = cnp.PyArray_EMPTY({nd}, rdims, {TYPENUM[b.dtype]}, 0)",
                     "else:"] + indent(alloc)
        code += alloc
    outs = [f"out{m}" for m in range(len(body.outs))]
    code += ["n = cnp.PyArray_SIZE(out0)", "if n == 0:", IND + f"return {', '.join(outs)}"]
    reverse = [] if leader is None else ["if rev:", IND + f"_reverse_loop(dims, st, {len(body.leaves)}, {nd})"]
    code += loop.tables(before_merge=reverse)
    code += [f"outs[{m}] = cnp.PyArray_BYTES(out{m})" for m in range(len(body.outs))]
    code.append(f"err = _loop({fname}_rows, {loop.units()}, dims, base, st, outs, n)")
    if loop.uses_err:
        code += ["if err:", IND + POW_ERROR]
    if leader is not None:
        transposed = ", ".join(f"cnp.PyArray_Transpose(out{m}, NULL)" for m in range(len(body.outs)))
        code += ["if rev:", IND + f"return {transposed}"]
    code.append(f"return {', '.join(outs)}")
    ret = "cnp.ndarray" if len(body.outs) == 1 else "tuple"
    return [f"cdef {ret} {fname}({', '.join(params)}):"] + indent(decls + code)


# ---- reductions ----------------------------------------------------------------------------------------------

class _Reduce(_Loop):
    def __init__(self, body: ReduceStep, helpers: dict[str, str]):
        super().__init__(body, helpers)
        self.acc = body.outs[0].dtype
        nd = self.nd
        self.axis = tuple(body.axis) if body.nd > 0 else (0,)
        self.full = all(d in self.axis for d in range(nd))
        self.outer = list(range(nd - 1))
        self.kept_outer = [d for d in self.outer if d not in self.axis]
        self.red_outer = [d for d in self.outer if d in self.axis]
        self.inner_reduced = (nd - 1) in self.axis
        self.push, self.total, self.reduce_array = cascade_helpers(body.kind, self.acc, helpers)
        # float sums and products: leaves of 8 interleaved accumulators (pairwise summation); the other kinds are
        # exact in any order: a segment of values, then a vectorized block reduction
        self.leaves = KINDS[body.kind].pairwise and self.acc in ("float32", "float64")
        self.block = None if self.leaves else block_helper(body.kind, self.acc, helpers)

    @property
    def cacc(self) -> str:
        return CTYPE[self.acc]

    def value(self, rename: Callable[[str], str] = str) -> str:
        body = self.body
        return value(body.kind, operand_text(body.result, rename), body.value_dtype, self.acc)

    def combine(self, a: str, b: str) -> str:
        return combine(self.body.kind, self.acc, a, b, self.helpers)

    def identity(self) -> str:
        return identity(self.body.kind, self.acc)

    def varying_names(self) -> set[str]:
        body = self.body
        return {body.leaf_scalars[k] for k in self.varying} | {s.target for s in body.stmts if s.level == PER_ELEMENT}

    def copy(self, index: str, suffix: str) -> tuple[list[str], str]:
        """(lines computing the value of element `index` over typed pointers, the value), the element's scalars
        renamed with `suffix` (8 copies interleave in a leaf)."""
        names = self.varying_names()

        def rename(name: str) -> str:
            return name + suffix if name in names else name

        lines = self.loads(True, index, rename)
        lines += [f"{rename(s.target)} = {emit_statement(s, rename).expr}" for s in self.body.stmts
                  if s.level == PER_ELEMENT]
        return lines, self.value(rename)

    def reduce_decls(self) -> list[str]:
        acc = self.cacc
        decls = [f"cdef {acc} r0, r1, r2, r3, r4, r5, r6, r7, seg", f"cdef {acc} stack[64]",
                 "cdef cnp.npy_intp ls, le, cnt", f"cdef {acc} buf[{BLOCK}]"] + self.chunk_decls([acc])
        if self.leaves and not self.math:
            body, names = self.body, self.varying_names()
            types = {body.leaf_scalars[k]: CTYPE[b.dtype] for k, b in enumerate(body.leaves)}
            types.update({s.target: CTYPE[s.dtype] for s in body.stmts})
            decls += [f"cdef {types[n]} {n}_{j}" for n in sorted(names) for j in range(8)]
        return decls

    def direct_block(self) -> bool:
        """Whether the value is one operand's element as it is (then a segment is reduced where it lies)."""
        body = self.body
        return (self.block is not None and not body.stmts and len(self.varying) == 1
                and body.result == body.leaf_scalars[self.varying[0]] and body.leaves[self.varying[0]].dtype == self.acc
                and not KINDS[body.kind].truth)

    def segment(self) -> list[str]:
        """Lines reducing elements [start, stop) of the current row into `seg`."""
        buffered = [f"buf[i - start] = {self.value()}"]
        fill_unit = _loop_over("start", "stop", self.element(True) + buffered)
        fill_strided = _loop_over("start", "stop", self.element(False) + buffered)
        if self.math:
            into_buffer = [(self.cacc, self.value(), "buf[i0 + j - start]")]
            fill_unit, fill_strided = self.chunked(True, into_buffer), self.chunked(False, into_buffer)
        if self.block is not None:
            reduce_buf = [f"seg = {self.block}(buf, stop - start)"]
            unit = fill_unit + reduce_buf
            if self.direct_block():
                unit = [f"seg = {self.block}(p{self.varying[0]} + start, stop - start)"]
            return self.versions(unit, fill_strided + reduce_buf)
        from_buffer = self.leaf_code(lambda j: ([], f"buf[i + {j} - start]" if j >= 0 else "buf[i - start]"))
        if self.math:
            return self.versions(fill_unit + from_buffer, fill_strided + from_buffer)
        direct = self.leaf_code(lambda j: self.copy(f"i + {j}" if j >= 0 else "i", f"_{j}" if j >= 0 else ""))
        return self.versions(direct, fill_strided + from_buffer)

    def leaf_code(self, copy) -> list[str]:
        """Leaves of LEAF elements, each with 8 interleaved accumulators, combined pairwise into `seg`.
        copy(j) -> (lines, value) of element i + j (j = -1: element i, in the tail of a leaf)."""
        unrolled = []
        for j in range(8):
            lines, val = copy(j)
            unrolled += lines + [f"r{j} = {self.combine(f'r{j}', val)}"]
        tail_lines, tail_val = copy(-1)
        leaf = [f"le = min(ls + {LEAF}, stop)", f"r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = {self.identity()}",
                "i = ls", "while i + 8 <= le:"] + indent(unrolled + ["i += 8"])
        for x, y in ("01", "23", "45", "67", "02", "46", "04"):
            leaf.append(f"r{x} = {self.combine(f'r{x}', f'r{y}')}")
        leaf += ["while i < le:"] + indent(tail_lines + [f"r0 = {self.combine('r0', tail_val)}", "i += 1"])
        leaf += [f"{self.push}(stack, &cnt, r0)", "ls = le"]
        return ["cnt = 0", "ls = start", "while ls < stop:"] + indent(leaf) + [f"seg = {self.total}(stack, cnt)"]


def render_reduce(fname: str, body: ReduceStep, helpers: dict[str, str]) -> list[str]:
    """The kernel and the step function of one reduction loop."""
    kernel, loop = reduce_loop(fname, body, helpers)
    return kernel + ["", ""] + _reduce_step(fname, loop)


def reduce_loop(fname: str, body: ReduceStep, helpers: dict[str, str]) -> tuple[list[str], _Reduce]:
    """The kernel `<fname>_rows` of one reduction loop, and the loop's facts (as `elemwise_loop`)."""
    loop = _Reduce(body, helpers)
    kernel = _full_kernel if loop.full else _partial_kernel
    return kernel(f"{fname}_rows", loop), loop


def _full_kernel(fname: str, loop: _Reduce) -> list[str]:
    decls = loop.kernel_decls() + [f"cdef {loop.cacc}* parts = <{loop.cacc}*>outs[0]"] + loop.reduce_decls()
    return [f"cdef int {fname}{KERNEL_SIGNATURE}"] + indent(decls + loop.segments(loop.segment() + ["parts[u] = seg"]))


def _decompose(index: str, axes: list[int]) -> list[str]:
    """idx[d] for each of `axes` from the row-major flat `index` over them."""
    if not axes:
        return []
    code = [f"rest = {index}"]
    for d in reversed(axes):
        code += [f"idx[{d}] = rest % dims[{d}]", f"rest = rest // dims[{d}]"]
    return code


def _row_pointers(loop: _Reduce) -> list[str]:
    nd = loop.nd
    return [f"q{k} = base[{k}]" + "".join(f" + idx[{d}] * st[{k * nd + d}]" for d in loop.outer) for k in loop.arrays]


def _partial_kernel(fname: str, loop: _Reduce) -> list[str]:
    acc = loop.cacc
    red_rows = " * ".join(f"dims[{d}]" for d in loop.red_outer) or "1"
    decls = loop.kernel_decls() + [f"cdef cnp.npy_intp nro = {red_rows}", "cdef cnp.npy_intp ko, ro",
                                   f"cdef {acc}* po = <{acc}*>outs[0]", f"cdef {acc}* o", f"cdef {acc} acc"]
    each_row = _decompose("ro", loop.red_outer) + _row_pointers(loop)
    if loop.inner_reduced:
        decls += loop.reduce_decls()
        segments = ["start = 0", "while start < m:", IND + f"stop = min(start + {BLOCK}, m)"]
        segments += indent(loop.row_code() + loop.segment())
        if loop.leaves:  # float sums: the segments of a row are combined pairwise too, like numpy's
            decls += [f"cdef {acc} row_stack[64]", "cdef cnp.npy_intp row_cnt"]
            segments = ["row_cnt = 0"] + segments
            segments += [IND + f"{loop.push}(row_stack, &row_cnt, seg)", IND + "start = stop"]
            segments.append(f"acc = {loop.combine('acc', f'{loop.total}(row_stack, row_cnt)')}")
        else:
            segments += [IND + f"acc = {loop.combine('acc', 'seg')}", IND + "start = stop"]
        per_unit = ["ko = u"] + _decompose("ko", loop.kept_outer) + [f"acc = {loop.identity()}"]
        per_unit += ["for ro in range(nro):"] + indent(each_row + segments) + ["po[ko] = acc"]
    else:
        accumulate = f"o[i] = {loop.combine('o[i]', loop.value())}"
        rows = loop.versions(_loop_over("start", "stop", loop.element(True) + [accumulate]),
                             _loop_over("start", "stop", loop.element(False) + [accumulate]))
        if loop.math:
            decls += loop.chunk_decls([acc])
            into = [(acc, loop.value(), lambda v: f"o[i0 + j] = {loop.combine('o[i0 + j]', v)}")]
            rows = loop.versions(loop.chunked(True, into), loop.chunked(False, into))
        per_unit = ["ko = u // cpr", "c = u - ko * cpr", f"start = c * {BLOCK}", f"stop = min(start + {BLOCK}, m)",
                    "o = po + ko * m"] + _decompose("ko", loop.kept_outer)
        per_unit += _loop_over("start", "stop", [f"o[i] = {loop.identity()}"])
        per_unit += ["for ro in range(nro):"] + indent(each_row + loop.row_code() + rows)
    code = loop.once_code() + [f"unit = {loop.unit_test()}", "for u in range(u0, u1):"] + indent(per_unit)
    return [f"cdef int {fname}{KERNEL_SIGNATURE}"] + indent(decls + code + ["return err"])


def _reduce_outputs(loop: _Reduce) -> tuple[int, list[str]]:
    """(rank of the result, lines setting odims from dims)."""
    body = loop.body
    code, rank = [], 0
    for d in range(body.nd):
        if d not in body.axis:
            code.append(f"odims[{rank}] = dims[{d}]")
            rank += 1
        elif body.keepdims:
            code.append(f"odims[{rank}] = 1")
            rank += 1
    return rank, code


def _reduce_step(fname: str, loop: _Reduce) -> list[str]:
    body, nd, acc = loop.body, loop.nd, loop.cacc
    rank, odims = _reduce_outputs(loop)
    params = [f"cnp.ndarray {name}" for name in unique_names(body.leaves)]
    decls = loop.step_decls() + [f"cdef cnp.npy_intp odims[{max(rank, 1)}]", "cdef cnp.npy_intp count, osize, i",
                                 "cdef cnp.ndarray out0", f"cdef {acc}* po"]
    if loop.full:
        decls += ["cdef cnp.npy_intp units", f"cdef {acc} local[64]", f"cdef {acc}* parts"]
    code = loop.shape_checks()
    code.append("count = 1" + "".join(f" * dims[{d}]" for d in body.axis))
    if not KINDS[body.kind].has_identity:
        numpy_name = KINDS[body.kind].ufunc.__name__
        code += ["if count == 0:", IND + f'raise ValueError("zero-size array to reduction operation {numpy_name} '
                 'which has no identity")']
    code += odims + [f"out0 = cnp.PyArray_EMPTY({rank}, odims, {TYPENUM[body.outs[0].dtype]}, 0)",
                     "osize = cnp.PyArray_SIZE(out0)", f"po = <{acc}*>cnp.PyArray_DATA(out0)",
                     "n = 1" + "".join(f" * dims[{d}]" for d in range(nd)), "if osize == 0:", IND + "return out0",
                     "if n == 0:", IND + "for i in range(osize):", IND * 2 + f"po[i] = {loop.identity()}",
                     IND + "return out0"]
    code += loop.tables(sum(1 << d for d in loop.axis))
    code += _full_reduction(fname, loop) if loop.full else _partial_reduction(fname, loop)
    if loop.uses_err:
        code += ["if err:", IND + POW_ERROR]
    code.append("return out0")
    return [f"cdef cnp.ndarray {fname}({', '.join(params)}):"] + indent(decls + code)


def _full_reduction(fname: str, loop: _Reduce) -> list[str]:
    acc = loop.cacc
    return [
        f"units = {loop.units()}",
        "parts = local",
        "if units > 64:",
        IND + f"parts = <{acc}*>PyMem_Malloc(units * sizeof({acc}))",
        IND + "if parts == NULL:",
        IND * 2 + "raise MemoryError()",
        "outs[0] = <char*>parts",
        "try:",
        IND + f"err = _loop({fname}_rows, units, dims, base, st, outs, n)",
        IND + f"po[0] = {loop.reduce_array}(parts, units)",
        "finally:",
        IND + "if parts != local:",
        IND * 2 + "PyMem_Free(parts)",
    ]


def _partial_reduction(fname: str, loop: _Reduce) -> list[str]:
    nd = loop.nd
    kept_rows = " * ".join(f"dims[{d}]" for d in loop.kept_outer) or "1"
    units = kept_rows if loop.inner_reduced else f"({kept_rows}) * ((dims[{nd - 1}] + {BLOCK - 1}) // {BLOCK})"
    return ["outs[0] = cnp.PyArray_BYTES(out0)", f"err = _loop({fname}_rows, {units}, dims, base, st, outs, n)"]

"""Rendering the loops: an ElemwiseStep or a ReduceStep becomes a step function and its loop kernels.

The step function (GIL held) checks the operands' shapes, allocates the result (or takes an input's buffer
for a fused_inplace node), fills a table of data pointers and byte strides, and hands a kernel to
`_loop` (kernel_support.pyx.j2), which runs it without the GIL, on several threads (prange) for large
loops. A kernel is a `noexcept nogil` function over a range [u0, u1) of *units* of work:

- `_flat`: all operands C-contiguous with the result's shape: unit u is elements [u*BLOCK, (u+1)*BLOCK)
  of one flat loop over typed pointers (what gcc vectorizes best);
- `_rows`: any strides and broadcasting: unit u is a segment of BLOCK elements of one row (the innermost
  axis); values that do not vary along that axis are read (and what depends only on them computed) once
  per segment, rank-0 operands once per call.

Units are fixed by the shape, never by the number of threads, and each unit is computed by the same code
whatever thread runs it: elementwise results are identical for any number of threads, and reductions
combine per-unit results in a fixed order, so they are too.

Reductions (see reduction.py for how a block is reduced): a full reduction (every loop axis reduced)
writes one partial result per unit into a small array, combined pairwise at the end. Other reductions run
one unit per result element (innermost axis reduced: it is reduced block by block) or per segment of a
result row (innermost axis kept: rows are accumulated into it element by element, as numpy does for outer
axes).
"""

from __future__ import annotations

import re

from aotgraph.codegen.dtypes import CTYPE, TYPENUM
from aotgraph.codegen.ir import ONCE, PER_ELEMENT, PER_ROW, Buffer, ElemwiseStep, ReduceStep
from aotgraph.codegen.reduction import BLOCK, LEAF, REDUCTIONS, block_helper, cascade_helpers, combine, value

IND = "    "
HEAD = ("(cnp.npy_intp u0, cnp.npy_intp u1, cnp.npy_intp* dims, char** base, cnp.npy_intp* st, char** outs) "
        "noexcept nogil:")
POW_ERROR = 'raise ValueError("Integers to negative integer powers are not allowed.")'


def _indent(lines: list[str], depth: int = 1) -> list[str]:
    return [IND * depth + line if line else line for line in lines]


def unique_names(buffers: list[Buffer]) -> list[str]:
    """Names of `buffers` in order, each once (a node may read one value twice)."""
    return list(dict.fromkeys(b.name for b in buffers))


class _Loop:
    """What the kernels of one step share: the operands' levels, declarations and per-level code."""

    def __init__(self, body: ElemwiseStep | ReduceStep):
        self.body = body
        self.nd = body.nd
        self.arrays = [k for k, b in enumerate(body.leaves) if b.ndim > 0]
        self.once = [k for k, b in enumerate(body.leaves) if b.ndim == 0]
        self.flat_ok = all(self.leaf_fits(k) for k in self.arrays)

    def leaf_fits(self, k: int) -> bool:
        """Statically, may leaf k have the loop's full shape (so the flat kernel can apply)?"""
        leaf = self.body.leaves[k]
        out = self.loop_shape()
        return leaf.ndim == self.nd and all(s != 1 or o == 1 for s, o in zip(leaf.shape, out))

    def loop_shape(self) -> tuple:
        """Static sizes of the loop: 1 where every operand is 1 (then no operand broadcasts there)."""
        shape = []
        for axis in range(self.nd):
            sizes = [b.shape[axis - (self.nd - b.ndim)] for b in self.body.leaves if axis >= self.nd - b.ndim]
            shape.append(1 if sizes and all(s == 1 for s in sizes) else None)
        return tuple(shape)

    def ctype(self, k: int) -> str:
        return CTYPE[self.body.leaves[k].dtype]

    def scalar_decls(self) -> list[str]:
        body = self.body
        decls = ["cdef int err = 0"]
        decls += [f"cdef {CTYPE[b.dtype]} {body.leaf_scalars[k]}" for k, b in enumerate(body.leaves)]
        decls += [f"cdef {CTYPE[s.dtype]} {s.target}" for s in body.stmts]
        return decls

    def stmts_at(self, levels: tuple) -> list[str]:
        return [f"{s.target} = {s.expr}" for s in self.body.stmts if s.level in levels]

    def once_code(self) -> list[str]:
        """Rank-0 operands and what depends on them alone: computed once per kernel call."""
        body = self.body
        lines = [f"{body.leaf_scalars[k]} = (<{self.ctype(k)}*>base[{k}])[0]" for k in self.once]
        return lines + self.stmts_at((ONCE,))

    def flat_element(self) -> list[str]:
        body = self.body
        lines = [f"{body.leaf_scalars[k]} = p{k}[i]" for k in self.arrays]
        return lines + self.stmts_at((PER_ROW, PER_ELEMENT))

    def row_code(self) -> list[str]:
        body = self.body
        lines = [f"{body.leaf_scalars[k]} = (<{self.ctype(k)}*>q{k})[0]" for k in self.arrays
                 if body.leaf_levels[k] == PER_ROW]
        return lines + self.stmts_at((PER_ROW,))

    def strided_element(self) -> list[str]:
        body = self.body
        lines = [f"{body.leaf_scalars[k]} = (<{self.ctype(k)}*>(q{k} + i * s{k}))[0]" for k in self.arrays
                 if body.leaf_levels[k] == PER_ELEMENT]
        return lines + self.stmts_at((PER_ELEMENT,))

    def flat_pointers(self) -> list[str]:
        return [f"cdef {self.ctype(k)}* p{k} = <{self.ctype(k)}*>base[{k}]" for k in self.arrays]

    def row_pointers(self) -> list[str]:
        nd = self.nd
        decls = [f"cdef char* q{k}" for k in self.arrays]
        decls += [f"cdef cnp.npy_intp s{k} = st[{k * nd + nd - 1}]" for k in self.arrays
                  if self.body.leaf_levels[k] == PER_ELEMENT]
        return decls

    def segment_loop(self, start: str, stop: str, element: list[str]) -> list[str]:
        return [f"for i in range({start}, {stop}):"] + _indent(element)


# ---- elementwise ---------------------------------------------------------------------------------------------


def render_elemwise(fname: str, body: ElemwiseStep) -> list[str]:
    """The kernels and the step function of one elementwise loop."""
    loop = _Loop(body)
    lines: list[str] = []
    if loop.flat_ok:
        lines += _elemwise_flat(f"{fname}_flat", loop) + ["", ""]
    if body.nd > 0:
        lines += _elemwise_rows(f"{fname}_rows", loop) + ["", ""]
    return lines + _elemwise_step(fname, loop)


def _out_decls(body: ElemwiseStep) -> list[str]:
    return [f"cdef {CTYPE[b.dtype]}* po{m} = <{CTYPE[b.dtype]}*>outs[{m}]" for m, b in enumerate(body.outs)]


def _elemwise_flat(fname: str, loop: _Loop) -> list[str]:
    body = loop.body
    decls = ["cdef cnp.npy_intp n = dims[0]", "cdef cnp.npy_intp u, i, start, stop"]
    decls += loop.flat_pointers() + _out_decls(body) + loop.scalar_decls()
    store = [f"po{m}[i] = {r}" for m, r in enumerate(body.results)]
    code = loop.once_code() + [
        "for u in range(u0, u1):",
        IND + f"start = u * {BLOCK}",
        IND + f"stop = min(start + {BLOCK}, n)",
    ] + _indent(loop.segment_loop("start", "stop", loop.flat_element() + store)) + ["return err"]
    return [f"cdef int {fname}{HEAD}"] + _indent(decls + code)


def _row_start(loop: _Loop) -> list[str]:
    """Set q<k> to the start of row r for every array operand (r = u0 // cpr), and idx to r's index."""
    nd = loop.nd
    code = [f"q{k} = base[{k}]" for k in loop.arrays]
    if nd > 1:
        code += ["rest = r", f"for d in range({nd - 2}, -1, -1):",
                 IND + "idx[d] = rest % dims[d]", IND + "rest = rest // dims[d]"]
        code += [IND + f"q{k} += idx[d] * st[{k * nd} + d]" for k in loop.arrays]
    return code


def _next_row(loop: _Loop) -> list[str]:
    """Advance r and the q<k> to the next row (an odometer over the outer axes)."""
    nd = loop.nd
    code = ["c = 0", "r += 1"]
    if nd > 1:
        code += [f"d = {nd - 2}", "while d >= 0:", IND + "idx[d] += 1"]
        code += [IND + f"q{k} += st[{k * nd} + d]" for k in loop.arrays]
        code += [IND + "if idx[d] < dims[d]:", IND * 2 + "break"]
        code += [IND + f"q{k} -= dims[d] * st[{k * nd} + d]" for k in loop.arrays]
        code += [IND + "idx[d] = 0", IND + "d -= 1"]
    return code


def _rows_decls(loop: _Loop) -> list[str]:
    nd = loop.nd
    decls = [f"cdef cnp.npy_intp m = dims[{nd - 1}]", f"cdef cnp.npy_intp cpr = (m + {BLOCK - 1}) // {BLOCK}",
             "cdef cnp.npy_intp u, i, start, stop, r, c, rest", "cdef int d",
             f"cdef cnp.npy_intp idx[{max(nd - 1, 1)}]"]
    return decls + loop.row_pointers()


def _elemwise_rows(fname: str, loop: _Loop) -> list[str]:
    body = loop.body
    decls = _rows_decls(loop) + _out_decls(body) + [f"cdef {CTYPE[b.dtype]}* o{m}" for m, b in enumerate(body.outs)]
    decls += loop.scalar_decls()
    store = [f"o{m}[i] = {r}" for m, r in enumerate(body.results)]
    per_unit = [f"start = c * {BLOCK}", f"stop = min(start + {BLOCK}, m)"]
    per_unit += [f"o{m} = po{m} + r * m" for m in range(len(body.outs))]
    per_unit += loop.row_code() + loop.segment_loop("start", "stop", loop.strided_element() + store)
    per_unit += ["c += 1", "if c == cpr:"] + _indent(_next_row(loop))
    code = loop.once_code() + ["r = u0 // cpr", "c = u0 - r * cpr"] + _row_start(loop)
    code += ["for u in range(u0, u1):"] + _indent(per_unit) + ["return err"]
    return [f"cdef int {fname}{HEAD}"] + _indent(decls + code)


def _shape_checks(loop: _Loop) -> list[str]:
    body, nd = loop.body, loop.nd
    code = [f"dims[{d}] = 1" for d in range(nd)]
    code += [f"_bcast({body.leaves[k].name}, dims, {nd})" for k in loop.arrays]
    code += [f"_declared({body.leaves[k].name}, dims, {nd}, {body.leaves[k].undeclared_ones})"
             for k in loop.arrays if body.leaves[k].undeclared_ones]
    return code


def _tables(loop: _Loop) -> list[str]:
    return [f"base[{k}] = cnp.PyArray_BYTES({b.name})" for k, b in enumerate(loop.body.leaves)]


def _strides(loop: _Loop) -> list[str]:
    nd = loop.nd
    return [f"_bstrides({loop.body.leaves[k].name}, dims, {nd}, &st[{k * nd}])" for k in loop.arrays]


def _step_decls(loop: _Loop) -> list[str]:
    body, nd = loop.body, loop.nd
    return [f"cdef cnp.npy_intp dims[{max(nd, 1)}]", f"cdef char* base[{max(len(body.leaves), 1)}]",
            f"cdef cnp.npy_intp st[{max(len(body.leaves) * nd, 1)}]", f"cdef char* outs[{max(len(body.outs), 1)}]",
            "cdef cnp.npy_intp n", "cdef int err = 0"]


def _dispatch(fname: str, loop: _Loop) -> list[str]:
    """Run the flat kernel when every operand is C-contiguous with the loop's shape, else the rows kernel."""
    nd = loop.nd
    rows = [*_strides(loop), f"err = _loop({fname}_rows, (n // dims[{nd - 1}]) * ((dims[{nd - 1}] + {BLOCK - 1}) "
            f"// {BLOCK}), dims, base, st, outs, n)"]
    flat = [f"err = _loop({fname}_flat, (n + {BLOCK - 1}) // {BLOCK}, &n, base, st, outs, n)"]
    if not loop.flat_ok:
        return rows
    if nd == 0 or not loop.arrays:
        return flat
    condition = " and ".join(f"_contig({loop.body.leaves[k].name}, dims, {nd})" for k in loop.arrays)
    return [f"if {condition}:"] + _indent(flat) + ["else:"] + _indent(rows)


def _elemwise_step(fname: str, loop: _Loop) -> list[str]:
    body, nd = loop.body, loop.nd
    params = [f"cnp.ndarray {name}" for name in unique_names(body.leaves)]
    if body.inplace is not None:
        params.append("bint may_inplace")
    decls = _step_decls(loop) + [f"cdef cnp.ndarray out{m}" for m in range(len(body.outs))]
    code = _shape_checks(loop)
    for m, b in enumerate(body.outs):
        alloc = f"out{m} = cnp.PyArray_EMPTY({nd}, dims, {TYPENUM[b.dtype]}, 0)"
        if m == 0 and body.inplace is not None:
            victim = body.leaves[body.inplace[0]].name
            code += [f"if may_inplace and _reusable({victim}, dims, {nd}, {TYPENUM[b.dtype]}):",
                     IND + f"out0 = {victim}", "else:", IND + alloc]
        else:
            code.append(alloc)
    returned = ", ".join(f"out{m}" for m in range(len(body.outs)))
    code += ["n = cnp.PyArray_SIZE(out0)", "if n == 0:", IND + f"return {returned}"] + _tables(loop)
    code += [f"outs[{m}] = cnp.PyArray_BYTES(out{m})" for m in range(len(body.outs))]
    code += _dispatch(fname, loop)
    if body.uses_err:
        code += ["if err:", IND + POW_ERROR]
    code.append(f"return {returned}")
    ret = "cnp.ndarray" if len(body.outs) == 1 else "tuple"
    return [f"cdef {ret} {fname}({', '.join(params)}):"] + _indent(decls + code)


# ---- reductions ----------------------------------------------------------------------------------------------

# ops calling math functions that have vector variants (see module.pyx.j2): a reduction of a value using them
# first computes a block of values into a buffer, in a loop gcc vectorizes with those variants
VECTOR_MATH_OPS = frozenset({"exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "arctan", "erf", "pow",
                             "sigmoid", "softplus"})
_NAME = re.compile(r"\b([at]\d+)\b")


class _Reduce(_Loop):
    def __init__(self, body: ReduceStep, helpers: dict[str, str]):
        super().__init__(body)
        self.helpers = helpers
        self.acc = body.outs[0].dtype
        self.full = all(d in body.axis for d in range(self.nd))
        self.outer = list(range(self.nd - 1))
        self.kept_outer = [d for d in self.outer if d not in body.axis]
        self.red_outer = [d for d in self.outer if d in body.axis]
        self.inner_reduced = (self.nd - 1) in body.axis
        self.push, self.total, self.reduce_array = cascade_helpers(body.kind, self.acc, helpers)
        # float sums and products: leaves of 8 interleaved accumulators (pairwise summation); the other kinds are
        # exact in any order: a block of values, then a vectorized block reduction
        self.leaves = body.kind in ("sum", "prod") and self.acc in ("float32", "float64")
        self.block = None if self.leaves else block_helper(body.kind, self.acc, helpers)
        self.buffered = not self.leaves or any(s.op in VECTOR_MATH_OPS and s.level == PER_ELEMENT
                                               for s in body.stmts)

    @property
    def ctype_acc(self) -> str:
        return CTYPE[self.acc]

    def value(self) -> str:
        body = self.body
        return value(body.kind, body.result, body.value_dtype, self.acc)

    def combine(self, a: str, b: str) -> str:
        return combine(self.body.kind, self.acc, a, b, self.helpers)

    def identity(self) -> str:
        return REDUCTIONS[self.body.kind].identity(self.acc)

    def varying(self, flat: bool) -> set[str]:
        """Names of the scalars that change from element to element."""
        levels = (PER_ROW, PER_ELEMENT) if flat else (PER_ELEMENT,)
        body = self.body
        names = {body.leaf_scalars[k] for k in self.arrays if body.leaf_levels[k] in levels or flat}
        return names | {s.target for s in body.stmts if s.level in levels}

    def element(self, flat: bool, index: str, suffix: str) -> tuple[list[str], str]:
        """(lines computing the value of element `index`, the value), element scalars renamed with `suffix`."""
        body, names = self.body, self.varying(flat)

        def rename(text: str) -> str:
            return _NAME.sub(lambda m: m.group(1) + suffix if m.group(1) in names else m.group(1), text)

        lines = []
        for k in self.arrays:
            if body.leaf_scalars[k] not in names:
                continue
            source = f"p{k}[{index}]" if flat else f"(<{self.ctype(k)}*>(q{k} + ({index}) * s{k}))[0]"
            lines.append(f"{rename(body.leaf_scalars[k])} = {source}")
        lines += [f"{rename(s.target)} = {rename(s.expr)}" for s in body.stmts if s.target in names]
        return lines, rename(self.value())

    def direct_block(self) -> bool:
        """Whether the value is an operand's element, as it is (then blocks are reduced in place)."""
        body = self.body
        return (not body.stmts and len(self.arrays) == 1 and body.result == body.leaf_scalars[self.arrays[0]]
                and body.leaves[self.arrays[0]].dtype == self.acc and body.kind not in ("all", "any"))

    def copy_decls(self, flat: bool) -> list[str]:
        body, names = self.body, self.varying(flat)
        types = {body.leaf_scalars[k]: CTYPE[b.dtype] for k, b in enumerate(body.leaves)}
        types.update({s.target: CTYPE[s.dtype] for s in body.stmts})
        return [f"cdef {types[n]} {n}_{j}" for n in sorted(names) for j in range(8)]

    def reduce_decls(self, flat: bool) -> list[str]:
        acc = self.ctype_acc
        decls = [f"cdef {acc} r0, r1, r2, r3, r4, r5, r6, r7, seg", f"cdef {acc} stack[64]",
                 "cdef cnp.npy_intp ls, le, cnt"]
        if self.buffered:
            decls.append(f"cdef {acc} buf[{BLOCK}]")
        return decls + ([] if self.buffered else self.copy_decls(flat))

    def segment(self, flat: bool, start: str, stop: str) -> list[str]:
        """Lines reducing elements [start, stop) (at most BLOCK) into `seg`."""
        if self.block is not None and flat and self.direct_block():  # an operand reduced as it is
            return [f"seg = {self.block}(p{self.arrays[0]} + {start}, {stop} - {start})"]
        if self.buffered:
            lines, val = self.element(flat, "i", "")
            code = self.segment_loop(start, stop, lines + [f"buf[i - {start}] = {val}"])
            if not self.leaves:
                return code + [f"seg = {self.block}(buf, {stop} - {start})"]

            def copy(j: int):
                return [], f"buf[i + {j} - {start}]" if j >= 0 else f"buf[i - {start}]"
        else:
            code = []

            def copy(j: int):
                return self.element(flat, f"i + {j}" if j >= 0 else "i", f"_{j}" if j >= 0 else "")
        unrolled = []
        for j in range(8):
            lines, val = copy(j)
            unrolled += lines + [f"r{j} = {self.combine(f'r{j}', val)}"]
        tail_lines, tail_val = copy(-1)
        code += ["cnt = 0", f"ls = {start}", f"while ls < {stop}:"]
        leaf = [f"le = min(ls + {LEAF}, {stop})", f"r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = {self.identity()}",
                "i = ls", "while i + 8 <= le:"] + _indent(unrolled + ["i += 8"])
        for x, y in ("01", "23", "45", "67", "02", "46", "04"):
            leaf.append(f"r{x} = {self.combine(f'r{x}', f'r{y}')}")
        leaf += ["while i < le:"] + _indent(tail_lines + [f"r0 = {self.combine('r0', tail_val)}", "i += 1"])
        leaf += [f"{self.push}(stack, &cnt, r0)", "ls = le"]
        return code + _indent(leaf) + [f"seg = {self.total}(stack, cnt)"]


def render_reduce(fname: str, body: ReduceStep, helpers: dict[str, str]) -> list[str]:
    """The kernels and the step function of one reduction loop."""
    loop = _Reduce(body, helpers)
    lines: list[str] = []
    if loop.full:
        if loop.flat_ok:
            lines += _reduce_flat(f"{fname}_flat", loop) + ["", ""]
        if body.nd > 0:
            lines += _reduce_rows(f"{fname}_rows", loop) + ["", ""]
    else:
        lines += _reduce_partial(f"{fname}_part", loop) + ["", ""]
    return lines + _reduce_step(fname, loop)


def _reduce_flat(fname: str, loop: _Reduce) -> list[str]:
    decls = ["cdef cnp.npy_intp n = dims[0]", "cdef cnp.npy_intp u, i, start, stop",
             f"cdef {loop.ctype_acc}* parts = <{loop.ctype_acc}*>outs[0]"]
    decls += loop.flat_pointers() + loop.scalar_decls() + loop.reduce_decls(flat=True)
    per_unit = [f"start = u * {BLOCK}", f"stop = min(start + {BLOCK}, n)"]
    per_unit += loop.segment(True, "start", "stop") + ["parts[u] = seg"]
    code = loop.once_code() + ["for u in range(u0, u1):"] + _indent(per_unit)
    return [f"cdef int {fname}{HEAD}"] + _indent(decls + code + ["return err"])


def _reduce_rows(fname: str, loop: _Reduce) -> list[str]:
    decls = _rows_decls(loop) + [f"cdef {loop.ctype_acc}* parts = <{loop.ctype_acc}*>outs[0]"]
    decls += loop.scalar_decls() + loop.reduce_decls(flat=False)
    per_unit = [f"start = c * {BLOCK}", f"stop = min(start + {BLOCK}, m)"]
    per_unit += loop.row_code() + loop.segment(False, "start", "stop")
    per_unit += ["parts[u] = seg", "c += 1", "if c == cpr:"] + _indent(_next_row(loop))
    code = loop.once_code() + ["r = u0 // cpr", "c = u0 - r * cpr"] + _row_start(loop)
    code += ["for u in range(u0, u1):"] + _indent(per_unit) + ["return err"]
    return [f"cdef int {fname}{HEAD}"] + _indent(decls + code)


def _decompose(index: str, axes: list[int]) -> list[str]:
    """ix<d> for each of `axes` from the row-major flat `index` over them."""
    if not axes:
        return []
    code = [f"rest = {index}"]
    for d in reversed(axes):
        code += [f"ix{d} = rest % dims[{d}]", f"rest = rest // dims[{d}]"]
    return code


def _row_pointers(loop: _Reduce) -> list[str]:
    nd = loop.nd
    return [f"q{k} = base[{k}]" + "".join(f" + ix{d} * st[{k * nd + d}]" for d in loop.outer) for k in loop.arrays]


def _reduce_partial(fname: str, loop: _Reduce) -> list[str]:
    nd, acc = loop.nd, loop.ctype_acc
    red_rows = " * ".join(f"dims[{d}]" for d in loop.red_outer) or "1"
    decls = [f"cdef cnp.npy_intp m = dims[{nd - 1}]", f"cdef cnp.npy_intp cpr = (m + {BLOCK - 1}) // {BLOCK}",
             f"cdef cnp.npy_intp nro = {red_rows}", "cdef cnp.npy_intp u, i, start, stop, ko, ro, rest, c",
             f"cdef {acc}* po = <{acc}*>outs[0]", f"cdef {acc}* o", f"cdef {acc} acc"]
    decls += [f"cdef cnp.npy_intp ix{d}" for d in loop.outer] + loop.row_pointers() + loop.scalar_decls()
    each_row = _decompose("ro", loop.red_outer) + _row_pointers(loop) + loop.row_code()
    if loop.inner_reduced:
        decls += loop.reduce_decls(flat=False)
        segments = ["start = 0", "while start < m:", IND + f"stop = min(start + {BLOCK}, m)"]
        segments += _indent(loop.segment(False, "start", "stop"))
        segments += [IND + f"acc = {loop.combine('acc', 'seg')}", IND + "start = stop"]
        per_unit = ["ko = u"] + _decompose("ko", loop.kept_outer) + [f"acc = {loop.identity()}"]
        per_unit += ["for ro in range(nro):"] + _indent(each_row + segments) + ["po[ko] = acc"]
    else:
        lines, val = loop.element(False, "i", "")
        element = lines + [f"o[i] = {loop.combine('o[i]', val)}"]
        per_unit = ["ko = u // cpr", "c = u - ko * cpr", f"start = c * {BLOCK}", f"stop = min(start + {BLOCK}, m)",
                    "o = po + ko * m"] + _decompose("ko", loop.kept_outer)
        per_unit += loop.segment_loop("start", "stop", [f"o[i] = {loop.identity()}"])
        per_unit += ["for ro in range(nro):"] + _indent(each_row + loop.segment_loop("start", "stop", element))
    code = loop.once_code() + ["for u in range(u0, u1):"] + _indent(per_unit) + ["return err"]
    return [f"cdef int {fname}{HEAD}"] + _indent(decls + code)


def _reduce_outputs(loop: _Reduce) -> tuple[int, list[str]]:
    """(rank of the result, lines setting odims from dims)."""
    body = loop.body
    code, rank = [], 0
    for d in range(loop.nd):
        if d not in body.axis:
            code.append(f"odims[{rank}] = dims[{d}]")
            rank += 1
        elif body.keepdims:
            code.append(f"odims[{rank}] = 1")
            rank += 1
    return rank, code


def _reduce_step(fname: str, loop: _Reduce) -> list[str]:
    body, nd, acc = loop.body, loop.nd, loop.ctype_acc
    rank, odims = _reduce_outputs(loop)
    params = [f"cnp.ndarray {name}" for name in unique_names(body.leaves)]
    decls = _step_decls(loop) + [f"cdef cnp.npy_intp odims[{max(rank, 1)}]", "cdef cnp.npy_intp count, osize, i",
                                 "cdef cnp.ndarray out0", f"cdef {acc}* po"]
    if loop.full:
        decls += ["cdef cnp.npy_intp units", "cdef bint flat = False", f"cdef {acc} local[64]", f"cdef {acc}* parts"]
    code = _shape_checks(loop)
    code.append("count = 1" + "".join(f" * dims[{d}]" for d in body.axis))
    if not REDUCTIONS[body.kind].has_identity():
        numpy_name = REDUCTIONS[body.kind].numpy_name
        code += ["if count == 0:", IND + f'raise ValueError("zero-size array to reduction operation {numpy_name} '
                 'which has no identity")']
    code += odims + [f"out0 = cnp.PyArray_EMPTY({rank}, odims, {TYPENUM[body.outs[0].dtype]}, 0)",
                     "osize = cnp.PyArray_SIZE(out0)", f"po = <{acc}*>cnp.PyArray_DATA(out0)",
                     "n = 1" + "".join(f" * dims[{d}]" for d in range(nd)), "if osize == 0:", IND + "return out0",
                     "if n == 0:", IND + "for i in range(osize):", IND * 2 + f"po[i] = {loop.identity()}",
                     IND + "return out0"]
    code += _tables(loop)
    code += _full_reduction(fname, loop) if loop.full else _partial_reduction(fname, loop)
    if body.uses_err:
        code += ["if err:", IND + POW_ERROR]
    code.append("return out0")
    return [f"cdef cnp.ndarray {fname}({', '.join(params)}):"] + _indent(decls + code)


def _full_reduction(fname: str, loop: _Reduce) -> list[str]:
    nd, acc = loop.nd, loop.ctype_acc
    run = [f"err = _loop({fname}_rows, units, dims, base, st, outs, n)"]
    rows = [*_strides(loop), f"units = (n // dims[{nd - 1}]) * ((dims[{nd - 1}] + {BLOCK - 1}) // {BLOCK})"]
    if loop.flat_ok:
        contiguous = " and ".join(f"_contig({loop.body.leaves[k].name}, dims, {nd})" for k in loop.arrays) or "True"
        choose = [f"flat = {contiguous}", "if flat:", IND + f"units = (n + {BLOCK - 1}) // {BLOCK}", "else:"]
        choose += _indent(rows)
        run = ["if flat:", IND + f"err = _loop({fname}_flat, units, &n, base, st, outs, n)", "else:"] + _indent(run)
    else:
        choose = rows
    return [
        "parts = local",
        *choose,
        "if units > 64:",
        IND + f"parts = <{acc}*>PyMem_Malloc(units * sizeof({acc}))",
        IND + "if parts == NULL:",
        IND * 2 + "raise MemoryError()",
        "outs[0] = <char*>parts",
        "try:",
        *_indent(run),
        IND + f"po[0] = {loop.reduce_array}(parts, units)",
        "finally:",
        IND + "if parts != local:",
        IND * 2 + "PyMem_Free(parts)",
    ]


def _partial_reduction(fname: str, loop: _Reduce) -> list[str]:
    nd = loop.nd
    kept_rows = " * ".join(f"dims[{d}]" for d in loop.kept_outer) or "1"
    units = kept_rows if loop.inner_reduced else f"({kept_rows}) * ((dims[{nd - 1}] + {BLOCK - 1}) // {BLOCK})"
    return [*_strides(loop), "outs[0] = cnp.PyArray_BYTES(out0)",
            f"err = _loop({fname}_part, {units}, dims, base, st, outs, n)"]

"""Rendering rules of the fused window ops (tensor/conv_pool.py, made by the `window_fuse` rewrite).

`conv2d_pool` runs, per cache-sized chunk of images: im2col into an (images, columns, pixels) buffer, a
matmul with the filter matrix per image into an (images, filters, pixels) chunk of the convolution's output,
then a typed loop that pools the chunk while it is in cache, records which elements were each window's max (a
byte per window) and applies the epilogue (bias + activation: the scalar statements of the elementwise fusion,
printed by `loops.emit_statement`) to each pooled value. The full-size convolution output never exists.
One BLAS call per image, not one per chunk: at LeNet's sizes BLAS then does not spread a call over threads,
which on a loaded machine made the per-chunk product 5x slower with default threads (as fast on one thread).

`conv2d_pool_grad` runs, per chunk: a typed loop that computes each window's gradient (the op's expression
over its extras: the elementwise step before it, e.g. `r * (1 - out**2)`), sums it per filter (the bias
gradient, in double) and spreads it to the elements its mask marks (the convolution's output gradient, in
cache), then matmuls with the chunk's columns accumulated into the filter gradient and/or with the filter
matrix, scattered back by col2im into the input gradient. Our loops run on one thread (BLAS's threads run
the matmuls), so results do not depend on thread counts.

The loops with an expression are generated per op (a name carries a hash of what it computes); the rest is
emitted once per module. The shape checks are the tensor layer's (`_conv_check`, `_pool_output_size`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from aotgraph.codegen.dtypes import CTYPE
from aotgraph.codegen.ir import CallStep, ScalarStmt
from aotgraph.codegen.loops import CHUNK, emit_statement, indent
from aotgraph.codegen.window_ops import CHUNK_ELEMENTS, HELPERS
from aotgraph.tensor.conv_pool import conv_of
from aotgraph.tensor.fused import stmt_types

_LOOPS = '''
cdef extern from "<math.h>":
    const double _CVP_NAN "NAN"

'''

_DRIVERS = '''
def _cvp_plan(x, w, border, subsample, dilation, flip, ws, stride, dtype, name):
    """(x as a contiguous array, the filter matrix, im2col geometry, pooled dims for the loops, images per chunk)."""
    pad, out = _conv_check(name, border, subsample, dilation, 1, x.shape, w.shape)
    x = np.ascontiguousarray(x, dtype=dtype)
    n, c, h, wd = x.shape
    k, kh, kw = w.shape[0], w.shape[2], w.shape[3]
    geometry = (c, h, wd, kh, kw, out[0], out[1], pad[0], pad[1], subsample[0], subsample[1], dilation[0],
                dilation[1])
    pooled = tuple(_pool_output_size(out[a], ws[a], stride[a], 0, True) for a in (0, 1))
    dims = (k, out[0], out[1], pooled[0], pooled[1], ws[0], ws[1], stride[0], stride[1])
    per_image = max(c * kh * kw, k) * out[0] * out[1]
    chunk = max(1, min(n, __CHUNK__ // max(per_image, 1)))
    return x, _cv_filter_matrix(w, 1, flip, dtype)[0], geometry, dims, chunk


def _cvp_extras(extras, declared, shape, dtype, what, first):
    """(the extras broadcast to shape, their strides in elements), or a ValueError naming the input: what,
    formatted with its position counted from first."""
    for m, e in enumerate(extras):
        for axis in range(e.ndim):
            size, full = e.shape[axis], shape[axis + 4 - e.ndim]
            if size != full and (size != 1 or not (declared[m] >> axis) & 1):
                raise ValueError(f"{what.format(m + first)} has shape {tuple(e.shape)}, which does not broadcast to "
                                 f"the output's {tuple(shape)} (a size 1 broadcasts only on an axis its type "
                                 f"declares broadcastable)")
    extras = tuple(np.broadcast_to(np.asarray(e, dtype=dtype), shape) for e in extras)
    return extras, tuple(s // e.itemsize for e in extras for s in e.strides)


def _cvp_forward(x, w, extras, declared, epilogue, border, subsample, dilation, flip, ws, stride, masked, dtype, name):
    x, filters, geometry, dims, chunk = _cvp_plan(x, w, border, subsample, dilation, flip, ws, stride, dtype, name)
    n, k, pixels = x.shape[0], dims[0], dims[1] * dims[2]
    out = np.empty((n, k, dims[3], dims[4]), dtype)
    mask = np.empty(out.shape, np.uint8) if masked else np.empty(0, np.uint8)
    what = f"{name}: input {{}} of the elementwise epilogue"
    extras, steps = _cvp_extras(extras, declared, out.shape, dtype, what, 1)
    cols = np.empty((chunk, filters.shape[1], pixels), dtype)
    conv = np.empty((chunk, k, pixels), dtype)
    for b0 in range(0, n, chunk):
        b1 = min(n, b0 + chunk)
        _cv_columns(x, cols, b0, b1, geometry, False)
        np.matmul(filters, cols[:b1 - b0], out=conv[:b1 - b0])
        epilogue(conv, out, mask, extras, steps, b0, b1 - b0, dims, masked)
    return (out, mask) if masked else out
'''.replace("__CHUNK__", str(CHUNK_ELEMENTS))

# the gradient's driver: a helper of its own, so that a module computing only the forward op (a built predict
# function) compiles none of its C
_GRAD = '''
def _cvp_grad(x, w, mask, extras, declared, spread, bias, wrt, border, subsample, dilation, flip, ws, stride,
              dtype, name):
    x, filters, geometry, dims, chunk = _cvp_plan(x, w, border, subsample, dilation, flip, ws, stride, dtype, name)
    n, k, pixels = x.shape[0], dims[0], dims[1] * dims[2]
    want = (n, k, dims[3], dims[4])
    if tuple(mask.shape) != want:
        raise ValueError(f"{name}: the mask has shape {tuple(mask.shape)}, the pooled output {want}")
    mask = np.ascontiguousarray(mask)
    what = f"{name}: input {{}} (of the pooled gradient's expression)"
    extras, steps = _cvp_extras(extras, declared, want, dtype, what, 4)
    rows = filters.shape[1]
    cols = np.empty((chunk, rows, pixels), dtype)
    g = np.empty((chunk, k, pixels), dtype)
    dx = np.zeros(x.shape, dtype) if "inputs" in wrt else None
    dw = np.zeros((k, rows), dtype) if "filters" in wrt else None
    db = np.zeros(k, np.float64)
    part = np.empty((chunk, k, rows), dtype)
    for b0 in range(0, n, chunk):
        b1 = min(n, b0 + chunk)
        spread(mask, extras, steps, g, db, b0, b1 - b0, dims, bias)
        if dw is not None:
            _cv_columns(x, cols, b0, b1, geometry, False)
            np.matmul(g[:b1 - b0], cols[:b1 - b0].transpose(0, 2, 1), out=part[:b1 - b0])
            dw += part[:b1 - b0].sum(axis=0)
        if dx is not None:
            np.matmul(filters.T, g[:b1 - b0], out=cols[:b1 - b0])
            _cv_columns(dx, cols, b0, b1, geometry, True)
    results = []
    if dx is not None:
        results.append(dx)
    if dw is not None:
        dw = dw.reshape(w.shape)
        results.append(np.ascontiguousarray(dw[:, :, ::-1, ::-1]) if flip else dw)
    if bias:
        results.append(db.astype(dtype).reshape(1, k, 1, 1))
    return results[0] if len(results) == 1 else tuple(results)
'''

_BASE = ("_conv_geometry", "_cv_loops", "_cv_zdrivers", "_pool_geometry")
FUSED_HELPERS = {"_cvp_loops": _LOOPS.strip("\n"), "_cvp_zdrivers": _DRIVERS.strip("\n")}
GRAD_HELPERS = {"_cvp_zgrad": _GRAD.strip("\n")}

RULES: dict[str, Callable] = {}


def _rule(name: str):
    def register(fn):
        RULES[name] = fn
        return fn

    return register


def _helpers(*extra: tuple[str, str]) -> dict[str, str]:
    return {name: HELPERS[name] for name in _BASE} | FUSED_HELPERS | dict(extra)


def _conv_params(op) -> str:
    conv = conv_of(op)
    return f"{conv.border!r}, {conv.subsample!r}, {conv.dilation!r}, {conv.flip!r}, {op.ws!r}, {op.stride!r}"


@_rule("conv2d_pool")
def _conv2d_pool(node, ins, outs):
    x, w, *extras = ins
    dtype = outs[0].dtype
    name, source, scalar_helpers = epilogue_loop(node.op, dtype, len(extras))
    target = ", ".join(o.name for o in outs)
    extra_names = "".join(f"{e.name}, " for e in extras)
    declared = _declared(node.inputs[2:])
    line = (f"{target} = _cvp_forward({x.name}, {w.name}, ({extra_names}), {declared!r}, {name}, "
            f"{_conv_params(node.op)}, "
            f"{node.op.masked!r}, {dtype!r}, {'conv2d'!r})")
    return CallStep(list(ins), list(outs), [line], _helpers((name, source), *scalar_helpers.items()))


@_rule("conv2d_pool_grad")
def _conv2d_pool_grad(node, ins, outs):
    x, w, mask, *extras = ins
    dtype = outs[0].dtype
    name, source, scalar_helpers = spread_loop(node.op, dtype, len(extras))
    target = ", ".join(o.name for o in outs)
    extra_names = "".join(f"{e.name}, " for e in extras)
    line = (f"{target} = _cvp_grad({x.name}, {w.name}, {mask.name}, ({extra_names}), {_declared(node.inputs[3:])!r}, "
            f"{name}, {node.op.bias!r}, {node.op.wrt!r}, {_conv_params(node.op)}, {dtype!r}, "
            f"{'conv2d gradient'!r})")
    return CallStep(list(ins), list(outs), [line],
                    _helpers((name, source), *GRAD_HELPERS.items(), *scalar_helpers.items()))


def _declared(variables) -> tuple[int, ...]:
    """Per variable, a bit per axis its type declares broadcastable (size 1)."""
    return tuple(sum(1 << a for a, s in enumerate(v.type.shape) if s == 1) for v in variables)


def epilogue_loop(op, dtype: str, n_extra: int) -> tuple[str, str, dict[str, str]]:
    """(name, Cython source, scalar helpers) of the loop that pools a chunk and applies op's epilogue."""
    body, decls, helpers = _program_lines(op.expr, "r0 = v", _scalar_name)
    key = repr((op.expr, dtype, op.ws, n_extra)).encode()
    name = f"_cvp_epi_{hashlib.sha1(key).hexdigest()[:12]}"
    return name, _epilogue_source(name, dtype, op.ws, n_extra, decls, body), helpers


def spread_loop(op, dtype: str, n_extra: int) -> tuple[str, str, dict[str, str]]:
    """(name, Cython source, scalar helpers) of the loop that computes a chunk's pooled gradient (op's expr
    over the extras), sums it per filter (the bias gradient) and spreads it to the conv output's gradient."""
    body, decls, helpers = _program_lines(op.expr, "r0 = e1", _gradient_name)
    key = repr((op.expr, dtype, n_extra)).encode()
    name = f"_cvp_spread_{hashlib.sha1(key).hexdigest()[:12]}"
    return name, _spread_source(name, dtype, n_extra, decls, body), helpers


def _program_lines(program, identity: str, names: Callable[[str], str]) -> tuple[list[str], list[str], dict]:
    """(the loop body setting r0, its declarations, scalar helpers) of a program (None: `identity`)."""
    if program is None:
        return [identity], [], {}
    types = stmt_types(program, list(program.in_types))
    body, decls, helpers = [], [], {}
    for j, (scalar_op, args) in enumerate(program.stmts):
        stmt = ScalarStmt(f"t{j}", types[f"t{j}"].dtype, scalar_op, args, tuple(types[a].dtype for a in args))
        ctx = emit_statement(stmt, names)
        helpers.update(ctx.helpers)
        decls.append(f"cdef {CTYPE[stmt.dtype]} t{j}")
        body.append(f"t{j} = {ctx.expr}")
    body.append(f"r0 = {names(program.outputs[0])}")
    return body, decls, helpers


def _scalar_name(ref: str) -> str:
    """The loop's name of a program ref: v (i0, the pooled value), e<k> (extra k), t<j> (a statement)."""
    if ref == "i0":
        return "v"
    return f"e{ref[1:]}" if ref[0] == "i" else ref


def _gradient_name(ref: str) -> str:
    """The spread loop's name of a program ref: e<k + 1> (input k, all extras), t<j> (a statement)."""
    return f"e{int(ref[1:]) + 1}" if ref[0] == "i" else ref


def _extra_decls(t: str, n_extra: int) -> list[str]:
    """Pointer, strides (in elements) and current value of each extra (e1...)."""
    decls = []
    for m in range(1, n_extra + 1):
        decls += [f"cdef const {t}* x{m} = <const {t}*>cnp.PyArray_DATA(<cnp.ndarray>extras[{m - 1}])",
                  *(f"cdef Py_ssize_t s{m}_{a} = steps[{4 * (m - 1) + a}]" for a in range(4)),
                  f"cdef {t} e{m}"]
    return decls


def _spread_source(name: str, dtype: str, n_extra: int, decls: list[str], body: list[str]) -> str:
    """Per (image, filter) plane: each pooled gradient computed, summed (in double) and written to the
    elements its window's mask marks, 0 to the others. Branch-free: the value is picked from (0, gradient)
    by the mask bit, since which element of a window is the max is as good as random and a branch per
    element mispredicts half the time (it made this loop 3x slower)."""
    t = CTYPE[dtype]
    gathers = [f"e{m} = x{m}[b * s{m}_0 + ch * s{m}_1 + r * s{m}_2 + q * s{m}_3]" for m in range(1, n_extra + 1)]
    element = [*gathers, *body, "pick[1] = r0", "acc += r0",
               "bits = pmask[at + r * pw + q]", "p = dst + r * s0 * ow + q * s1",
               "if quad:",
               "    p[0] = pick[bits & 1]", "    p[1] = pick[(bits >> 1) & 1]",
               "    p[ow] = pick[(bits >> 2) & 1]", "    p[ow + 1] = pick[(bits >> 3) & 1]",
               "    continue",
               "for i in range(ws0):", "    for j in range(ws1):",
               "        p[i * ow + j] = pick[(bits >> (i * ws1 + j)) & 1]"]
    lines = [
        f"def {name}(cnp.ndarray mask, tuple extras, tuple steps, cnp.ndarray g, cnp.ndarray db, Py_ssize_t b0,",
        "        Py_ssize_t nb, tuple dims, bint bias):",
        '    """g[b - b0, filter, pixel] = the pooled gradient of the window holding pixel where the mask marks',
        '    it, else 0; db[filter] += the pooled gradients (when bias)."""',
        "    cdef const unsigned char* pmask = <const unsigned char*>cnp.PyArray_DATA(mask)",
        f"    cdef {t}* pg = <{t}*>cnp.PyArray_DATA(g)",
        "    cdef double* pdb = <double*>cnp.PyArray_DATA(db)",
        "    cdef Py_ssize_t k = dims[0], oh = dims[1], ow = dims[2], ph = dims[3], pw = dims[4]",
        "    cdef Py_ssize_t ws0 = dims[5], ws1 = dims[6], s0 = dims[7], s1 = dims[8], ch, b, r, q, i, j, at",
        "    cdef bint tiled = s0 == ws0 and s1 == ws1 and ph * s0 == oh and pw * s1 == ow",
        "    cdef bint quad = ws0 == 2 and ws1 == 2",
        "    cdef unsigned char bits",
        f"    cdef {t} pick[2]",
        f"    cdef {t} r0",
        "    cdef double acc",
        f"    cdef {t}* dst",
        f"    cdef {t}* p",
        *indent(_extra_decls(t, n_extra) + decls),
        "    with nogil:",
        "        pick[0] = 0",
        "        for b in range(b0, b0 + nb):",
        "            for ch in range(k):",
        "                dst = pg + ((b - b0) * k + ch) * oh * ow",
        "                if not tiled:",
        "                    for i in range(oh * ow):",
        "                        dst[i] = 0",
        "                at = (b * k + ch) * ph * pw",
        "                acc = 0",
        "                for r in range(ph):",
        "                    for q in range(pw):",
        *indent(element, 6),
        "                if bias:",
        "                    pdb[ch] += acc",
    ]
    return "\n".join(lines)


def _epilogue_source(name: str, dtype: str, ws: tuple, n_extra: int, decls: list[str], body: list[str]) -> str:
    """Per (filter, image) plane, CHUNK pooled values at a time: pool and mark them into a local array (with
    the extras' elements), then ONE compute loop over the local arrays, the shape of loops.py's vector-math
    loops, which gcc vectorizes (tanh, exp, ... through libmvec); a partial chunk is padded, so an element's
    result never depends on where it lies."""
    t = CTYPE[dtype]
    decls = _extra_decls(t, n_extra) + [f"cdef {t} L{m}[{CHUNK}]" for m in range(1, n_extra + 1)] + decls
    gathers = [f"L{m}[j] = x{m}[b * s{m}_0 + ch * s{m}_1 + r * s{m}_2 + q * s{m}_3]" for m in range(1, n_extra + 1)]
    maxes, marks = [], []
    for i in range(ws[0]):
        for j in range(ws[1]):
            if (i, j) != (0, 0):
                maxes += [f"e = p[{i} * ow + {j}]", "v = e if e > v else v", "nan = nan | (e != e)"]
            marks.append(f"({1 << (i * ws[1] + j)} if p[{i} * ow + {j}] == v else 0)")
    pool = (["p = src + r * s0 * ow + q * s1", "v = p[0]", "nan = v != v", *maxes,
             "if nan:", f"    v = <{t}>_CVP_NAN",
             "if masked:", f"    pmask[at + i0 + j] = <unsigned char>({' | '.join(marks)})",
             "L0[j] = v", *gathers,
             "q += 1", "if q == pw:", "    q = 0", "    r += 1"])
    compute = ["v = L0[j]", *(f"e{m} = L{m}[j]" for m in range(1, n_extra + 1)), *body, "R0[j] = r0"]
    plane = ["i0 = 0", "r = 0", "q = 0", "while i0 < ph * pw:",
             f"    cn = min(ph * pw - i0, {CHUNK})",
             "    for j in range(cn):", *indent(pool, 2),
             f"    for j in range(cn, {CHUNK}):",
             "        L0[j] = L0[cn - 1]", *(f"        L{m}[j] = L{m}[cn - 1]" for m in range(1, n_extra + 1)),
             "    for j in range(_ag_chunk):", *indent(compute, 2),
             "    for j in range(cn):", "        pout[at + i0 + j] = R0[j]",
             f"    i0 += {CHUNK}"]
    lines = [
        f"def {name}(cnp.ndarray conv, cnp.ndarray out, cnp.ndarray mask, tuple extras, tuple steps, Py_ssize_t b0,",
        "        Py_ssize_t nb, tuple dims, bint masked):",
        '    """Pool a chunk (images, filters, pixels) of the convolution; mark each max; apply the epilogue."""',
        f"    cdef const {t}* pconv = <const {t}*>cnp.PyArray_DATA(conv)",
        f"    cdef {t}* pout = <{t}*>cnp.PyArray_DATA(out)",
        "    cdef unsigned char* pmask = <unsigned char*>cnp.PyArray_DATA(mask)",
        "    cdef Py_ssize_t k = dims[0], oh = dims[1], ow = dims[2], ph = dims[3], pw = dims[4]",
        "    cdef Py_ssize_t s0 = dims[7], s1 = dims[8], ch, b, r, q, at, i0, j, cn",
        f"    cdef const {t}* src",
        f"    cdef const {t}* p",
        f"    cdef {t} v, e, r0",
        f"    cdef {t} L0[{CHUNK}]",
        f"    cdef {t} R0[{CHUNK}]",
        "    cdef bint nan",
        *indent(decls),
        "    with nogil:",
        "        for ch in range(k):",
        "            for b in range(b0, b0 + nb):",
        "                src = pconv + ((b - b0) * k + ch) * oh * ow",
        "                at = (b * k + ch) * ph * pw",
        *indent(plane, 4),
    ]
    return "\n".join(lines)

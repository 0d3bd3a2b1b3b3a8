"""Rendering rules of the windowed ops: convolution (conv2d and its gradients) and pooling.

Each op becomes one `CallStep` calling a helper emitted once per module:

- convolution is im2col + BLAS: a typed Cython loop (`_cv_im2col`) copies the windows of a few images at a
  time into a column buffer small enough to stay in cache, and numpy's matmul (BLAS) multiplies the
  filter matrix with it, writing straight into the NCHW output; the input gradient multiplies the other
  way and scatters back (`_cv_col2im`), the filter gradient accumulates per chunk.
- pooling is typed Cython loops over (images, rows, cols) windows (`_pl_forward`, `_pl_grad`) for float32
  and float64 (Cython's fused `floating`); from _PAR_MIN elements on, the images are split between the
  module's threads (`set_num_threads`, OpenMP builds), each image computed by the same code whatever the
  number of threads, so results do not depend on it.

The shape checks are the tensor layer's own functions (`GEOMETRY_FUNCTIONS` of tensor/conv.py and
tensor/signal/pool.py), their source copied into the module, so errors read the same in both backends.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from aotgraph.codegen.ir import Buffer, CallStep
from aotgraph.tensor import conv
from aotgraph.tensor.signal import pool

CHUNK_ELEMENTS = 1 << 16  # im2col columns computed per matmul call: 512 KiB of float64, cache-sized

POOL_MODES = {"max": 0, "sum": 1, "average_inc_pad": 2, "average_exc_pad": 3}


def _source(functions) -> str:
    return "\n\n".join(inspect.getsource(f).strip("\n") for f in functions)


_THREADS = '''
cdef int _win_threads(Py_ssize_t images, Py_ssize_t work) noexcept:
    """Threads for a loop over `images` touching `work` elements: the module's number (set_num_threads) from
    _PAR_MIN elements on, never more than one per image."""
    cdef int threads = _num_threads()
    if work < _PAR_MIN or threads < 2:
        return 1
    return <int>images if images < threads else threads
'''

_CV_LOOPS = '''
cdef inline Py_ssize_t _cv_first(Py_ssize_t offset, Py_ssize_t stride, Py_ssize_t limit) noexcept nogil:
    """The first q >= 0 with q * stride >= offset, at most `limit`."""
    cdef Py_ssize_t q
    if offset <= 0:
        return 0
    q = (offset + stride - 1) // stride
    return q if q < limit else limit


cdef void _cv_im2col(const cython.floating* x, cython.floating* cols, Py_ssize_t b0, Py_ssize_t b1,
                     Py_ssize_t first, const Py_ssize_t* g) noexcept nogil:
    """cols[b - first, (ch, i, j), (r, q)] = x[b, ch, r*sh + i*dh - ph, q*sw + j*dw - pw], 0 in the padding.
    g: channels, rows, cols, kernel rows, kernel cols, out rows, out cols, ph, pw, sh, sw, dh, dw."""
    cdef Py_ssize_t c = g[0], h = g[1], w = g[2], kh = g[3], kw = g[4], oh = g[5], ow = g[6]
    cdef Py_ssize_t ph = g[7], pw = g[8], sh = g[9], sw = g[10], dh = g[11], dw = g[12]
    cdef Py_ssize_t b, ch, i, j, r, q, q0, q1, ih, shift
    cdef const cython.floating* src
    cdef cython.floating* dst
    for b in range(b0, b1):
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    dst = cols + (((b - first) * c + ch) * kh * kw + i * kw + j) * oh * ow
                    shift = j * dw - pw
                    q0 = _cv_first(-shift, sw, ow)
                    q1 = _cv_first(w - shift, sw, ow)
                    for r in range(oh):
                        ih = r * sh + i * dh - ph
                        if ih < 0 or ih >= h:
                            for q in range(ow):
                                dst[r * ow + q] = 0
                            continue
                        src = x + ((b * c + ch) * h + ih) * w + shift
                        for q in range(q0):
                            dst[r * ow + q] = 0
                        if sw == 1:
                            for q in range(q0, q1):
                                dst[r * ow + q] = src[q]
                        else:
                            for q in range(q0, q1):
                                dst[r * ow + q] = src[q * sw]
                        for q in range(q1 if q1 > q0 else q0, ow):
                            dst[r * ow + q] = 0


cdef void _cv_col2im(const cython.floating* cols, cython.floating* x, Py_ssize_t b0, Py_ssize_t b1,
                     Py_ssize_t first, const Py_ssize_t* g) noexcept nogil:
    """The transpose of _cv_im2col: x[b, ch, ...] += the columns that copied it (x zeroed by the caller)."""
    cdef Py_ssize_t c = g[0], h = g[1], w = g[2], kh = g[3], kw = g[4], oh = g[5], ow = g[6]
    cdef Py_ssize_t ph = g[7], pw = g[8], sh = g[9], sw = g[10], dh = g[11], dw = g[12]
    cdef Py_ssize_t b, ch, i, j, r, q, q0, q1, ih, shift
    cdef const cython.floating* src
    cdef cython.floating* dst
    for b in range(b0, b1):
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    src = cols + (((b - first) * c + ch) * kh * kw + i * kw + j) * oh * ow
                    shift = j * dw - pw
                    q0 = _cv_first(-shift, sw, ow)
                    q1 = _cv_first(w - shift, sw, ow)
                    for r in range(oh):
                        ih = r * sh + i * dh - ph
                        if ih < 0 or ih >= h:
                            continue
                        dst = x + ((b * c + ch) * h + ih) * w + shift
                        for q in range(q0, q1):
                            dst[q * sw] += src[r * ow + q]
'''

_CV_DRIVERS = '''
cdef int _cv_columns(cnp.ndarray x, cnp.ndarray cols, Py_ssize_t b0, Py_ssize_t b1, tuple geometry,
                     bint back) except -1:
    """im2col of images [b0, b1) of x into cols, or (back) col2im of cols added into x. One thread: a chunk is
    cache-sized (CHUNK_ELEMENTS), below the size where threads pay; the matmuls use BLAS's threads."""
    cdef Py_ssize_t g[13]
    cdef int k
    for k in range(13):
        g[k] = geometry[k]
    if cnp.PyArray_TYPE(x) == cnp.NPY_DOUBLE:
        with nogil:
            if back:
                _cv_col2im(<const double*>cnp.PyArray_DATA(cols), <double*>cnp.PyArray_DATA(x), b0, b1, b0, g)
            else:
                _cv_im2col(<const double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(cols), b0, b1, b0, g)
    else:
        with nogil:
            if back:
                _cv_col2im(<const float*>cnp.PyArray_DATA(cols), <float*>cnp.PyArray_DATA(x), b0, b1, b0, g)
            else:
                _cv_im2col(<const float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(cols), b0, b1, b0, g)
    return 0


def _cv_filter_matrix(w, groups, flip, dtype):
    """The filters as (groups, out channels per group, in channels per group * kernel rows * cols)."""
    w = np.asarray(w, dtype=dtype)
    if flip:
        w = w[:, :, ::-1, ::-1]
    return np.ascontiguousarray(w).reshape(groups, w.shape[0] // groups, -1)
'''

# the unfused convolution's driver (and the plan the gradients share): a helper of their own, so that a module
# of fused convolutions only (conv2d + pool: window_fused.py) compiles none of their C
_CV_PLAIN = '''
def _cv_plan(name, border, subsample, dilation, groups, x_shape, w_shape, dtype):
    """(geometry for the loops, images per chunk, a column buffer, the matrix shape of one group's columns)."""
    pad, out = _conv_check(name, border, subsample, dilation, groups, x_shape, w_shape)
    c, h, w = x_shape[1:]
    kh, kw = w_shape[2:]
    geometry = (c, h, w, kh, kw, out[0], out[1], pad[0], pad[1], subsample[0], subsample[1], dilation[0],
                dilation[1])
    per_image = c * kh * kw * out[0] * out[1]
    chunk = max(1, min(x_shape[0], __CHUNK__ // max(per_image, 1)))
    cols = np.empty((chunk, c * kh * kw, out[0] * out[1]), dtype)
    return geometry, chunk, cols, (groups, (c // groups) * kh * kw, out[0] * out[1])


def _cv_conv2d(x, w, border, subsample, dilation, groups, flip, dtype, name):
    geometry, chunk, cols, group_cols = _cv_plan(name, border, subsample, dilation, groups, x.shape, w.shape, dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    filters = _cv_filter_matrix(w, groups, flip, dtype)
    n = x.shape[0]
    z = np.empty((n, w.shape[0], geometry[5], geometry[6]), dtype)
    for b0 in range(0, n, chunk):
        b1 = min(n, b0 + chunk)
        _cv_columns(x, cols, b0, b1, geometry, False)
        np.matmul(filters, cols[:b1 - b0].reshape((b1 - b0,) + group_cols),
                  out=z[b0:b1].reshape((b1 - b0, groups, filters.shape[1], group_cols[2])))
    return z
'''.replace("__CHUNK__", str(CHUNK_ELEMENTS))

# the gradients' drivers: a helper of their own, so that a module computing only forward convolutions (a built
# predict function) compiles none of their C
_CV_GRADS = '''
def _cv_conv2d_grad_inputs(w, gz, x, border, subsample, dilation, groups, flip, dtype, name):
    geometry, chunk, cols, group_cols = _cv_plan(name, border, subsample, dilation, groups, x.shape, w.shape, dtype)
    _conv_check_gradient(name, gz.shape, x.shape, w.shape, geometry[5:7])
    gz = np.ascontiguousarray(gz, dtype=dtype)
    filters_t = _cv_filter_matrix(w, groups, flip, dtype).transpose(0, 2, 1)
    n = x.shape[0]
    dx = np.zeros(x.shape, dtype)
    for b0 in range(0, n, chunk):
        b1 = min(n, b0 + chunk)
        np.matmul(filters_t, gz[b0:b1].reshape((b1 - b0, groups, filters_t.shape[2], group_cols[2])),
                  out=cols[:b1 - b0].reshape((b1 - b0,) + group_cols))
        _cv_columns(dx, cols, b0, b1, geometry, True)
    return dx


def _cv_conv2d_grad_filters(x, gz, w, border, subsample, dilation, groups, flip, dtype, name):
    geometry, chunk, cols, group_cols = _cv_plan(name, border, subsample, dilation, groups, x.shape, w.shape, dtype)
    _conv_check_gradient(name, gz.shape, x.shape, w.shape, geometry[5:7])
    x = np.ascontiguousarray(x, dtype=dtype)
    gz = np.ascontiguousarray(gz, dtype=dtype)
    n = x.shape[0]
    dw = np.zeros((groups, w.shape[0] // groups, group_cols[1]), dtype)
    for b0 in range(0, n, chunk):
        b1 = min(n, b0 + chunk)
        _cv_columns(x, cols, b0, b1, geometry, False)
        part = np.matmul(gz[b0:b1].reshape((b1 - b0, groups, dw.shape[1], group_cols[2])),
                         cols[:b1 - b0].reshape((b1 - b0,) + group_cols).transpose(0, 1, 3, 2))
        dw += part.sum(axis=0)
    dw = dw.reshape(w.shape)
    return np.ascontiguousarray(dw[:, :, ::-1, ::-1]) if flip else dw
'''

_PL_LOOPS = '''
cdef extern from "<math.h>":
    const double _PL_NAN "NAN"


cdef inline void _pl_window(const Py_ssize_t* g, Py_ssize_t r, Py_ssize_t q, Py_ssize_t* span) noexcept nogil:
    """span = [first row, end row, first col, end col] of window (r, q) inside the input, then its count
    (the mode's divisor). g: rows, cols, out rows, out cols, ws0, ws1, st0, st1, pad0, pad1, mode."""
    cdef Py_ssize_t r0 = r * g[6] - g[8], c0 = q * g[7] - g[9]
    cdef Py_ssize_t r1 = min(r0 + g[4], g[0] + g[8]), c1 = min(c0 + g[5], g[1] + g[9])
    span[4] = (r1 - r0) * (c1 - c0)
    span[0] = max(r0, 0)
    span[1] = min(r1, g[0])
    span[2] = max(c0, 0)
    span[3] = min(c1, g[1])
    if g[10] != 2:
        span[4] = (span[1] - span[0]) * (span[3] - span[2])


cdef void _pl_forward(const cython.floating* x, cython.floating* z, Py_ssize_t b0, Py_ssize_t b1,
                      const Py_ssize_t* g) noexcept nogil:
    """Branch-free max (a NaN anywhere in a window wins, as in numpy's max), or the sum / average."""
    cdef Py_ssize_t h = g[0], w = g[1], oh = g[2], ow = g[3], b, r, q, i, j
    cdef Py_ssize_t span[5]
    cdef cython.floating v, e
    cdef bint nan
    cdef const cython.floating* image
    cdef const cython.floating* p
    for b in range(b0, b1):
        image = x + b * h * w
        for r in range(oh):
            for q in range(ow):
                _pl_window(g, r, q, span)
                if g[10] == 0 and span[1] - span[0] == 2 and span[3] - span[2] == 2:  # 2x2, LeNet's: unrolled
                    p = image + span[0] * w + span[2]
                    v = p[0] if p[0] > p[1] else p[1]
                    e = p[w] if p[w] > p[w + 1] else p[w + 1]
                    v = v if v > e else e
                    if (p[0] != p[0]) | (p[1] != p[1]) | (p[w] != p[w]) | (p[w + 1] != p[w + 1]):
                        v = <cython.floating>_PL_NAN
                elif g[10] == 0:
                    v = -INFINITY
                    nan = False
                    for i in range(span[0], span[1]):
                        for j in range(span[2], span[3]):
                            e = image[i * w + j]
                            v = e if e > v else v
                            nan = nan | (e != e)
                    if nan:
                        v = <cython.floating>_PL_NAN
                else:
                    v = 0
                    for i in range(span[0], span[1]):
                        for j in range(span[2], span[3]):
                            v = v + image[i * w + j]
                    if g[10] > 1:
                        v = v / span[4]
                z[(b * oh + r) * ow + q] = v


cdef void _pl_grad(const cython.floating* x, const cython.floating* z, const cython.floating* gz,
                   cython.floating* gx, Py_ssize_t b0, Py_ssize_t b1, const Py_ssize_t* g, bint assign) noexcept nogil:
    """Each window's gradient into gx: to its max elements (max), or shared. Overlapping windows add up
    (gx zeroed by the caller); `assign`: windows do not overlap, so each element is written once (gx not
    read; the caller zeroes the elements no window covers)."""
    cdef Py_ssize_t h = g[0], w = g[1], oh = g[2], ow = g[3], b, r, q, i, j, k
    cdef Py_ssize_t span[5]
    cdef cython.floating top, share
    cdef const cython.floating* xrow
    cdef cython.floating* grow
    for b in range(b0, b1):
        for r in range(oh):
            for q in range(ow):
                _pl_window(g, r, q, span)
                k = (b * oh + r) * ow + q
                share = gz[k] if g[10] < 2 else gz[k] / span[4]
                top = z[k] if g[10] == 0 else 0
                if assign and g[10] == 0 and span[1] - span[0] == 2 and span[3] - span[2] == 2:  # unrolled 2x2
                    xrow = x + (b * h + span[0]) * w + span[2]
                    grow = gx + (b * h + span[0]) * w + span[2]
                    grow[0] = share if xrow[0] == top else 0
                    grow[1] = share if xrow[1] == top else 0
                    grow[w] = share if xrow[w] == top else 0
                    grow[w + 1] = share if xrow[w + 1] == top else 0
                    continue
                for i in range(span[0], span[1]):
                    xrow = x + (b * h + i) * w
                    grow = gx + (b * h + i) * w
                    if g[10] != 0 and assign:
                        for j in range(span[2], span[3]):
                            grow[j] = share
                    elif g[10] != 0:
                        for j in range(span[2], span[3]):
                            grow[j] += share
                    elif assign:
                        for j in range(span[2], span[3]):
                            grow[j] = share if xrow[j] == top else 0
                    else:
                        for j in range(span[2], span[3]):
                            grow[j] += share if xrow[j] == top else 0
'''

_PL_DRIVERS = '''
def _pl_plan(x_shape, ws, stride, pad, ignore_border, mode):
    """(images, geometry for the loops, output shape). No negative index: tuples are indexed without wraparound."""
    lead = len(x_shape) - 2
    h, w = x_shape[lead], x_shape[lead + 1]
    oh = _pool_output_size(h, ws[0], stride[0], pad[0], ignore_border)
    ow = _pool_output_size(w, ws[1], stride[1], pad[1], ignore_border)
    images = 1
    for s in x_shape[:lead]:
        images *= s
    return images, (h, w, oh, ow, ws[0], ws[1], stride[0], stride[1], pad[0], pad[1], mode), \\
        tuple(x_shape[:lead]) + (oh, ow)


cdef int _pl_run(cnp.ndarray x, cnp.ndarray z, cnp.ndarray gz, cnp.ndarray out, Py_ssize_t nb, tuple geometry,
                 bint grad, bint assign) except -1:
    """The forward or gradient loop over nb images, split between threads by images (same results for any
    number of threads: each image is computed by the same code)."""
    cdef Py_ssize_t g[11]
    cdef int k, t
    cdef int nt = _win_threads(nb, nb * geometry[0] * geometry[1])
    for k in range(11):
        g[k] = geometry[k]
    if cnp.PyArray_TYPE(x) == cnp.NPY_DOUBLE:
        with nogil:
            for t in prange(nt, num_threads=nt, schedule="static"):
                if grad:
                    _pl_grad(<const double*>cnp.PyArray_DATA(x), <const double*>cnp.PyArray_DATA(z),
                             <const double*>cnp.PyArray_DATA(gz), <double*>cnp.PyArray_DATA(out),
                             nb * t // nt, nb * (t + 1) // nt, g, assign)
                else:
                    _pl_forward(<const double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(out),
                                nb * t // nt, nb * (t + 1) // nt, g)
    else:
        with nogil:
            for t in prange(nt, num_threads=nt, schedule="static"):
                if grad:
                    _pl_grad(<const float*>cnp.PyArray_DATA(x), <const float*>cnp.PyArray_DATA(z),
                             <const float*>cnp.PyArray_DATA(gz), <float*>cnp.PyArray_DATA(out),
                             nb * t // nt, nb * (t + 1) // nt, g, assign)
                else:
                    _pl_forward(<const float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(out),
                                nb * t // nt, nb * (t + 1) // nt, g)
    return 0


def _pl_pool(x, ws, stride, pad, ignore_border, mode):
    images, geometry, shape = _pl_plan(x.shape, ws, stride, pad, ignore_border, mode)
    x = np.ascontiguousarray(x)
    z = np.empty(shape, x.dtype)
    _pl_run(x, x, x, z, images, geometry, False, False)
    return z


def _pl_pool_grad(x, z, gz, ws, stride, pad, ignore_border, mode, name):
    images, geometry, shape = _pl_plan(x.shape, ws, stride, pad, ignore_border, mode)
    for pooled in ((gz,) if z is None else (z, gz)):
        _pool_check_pooled(name, x.shape, pooled.shape, ws, stride, pad, ignore_border)
    x = np.ascontiguousarray(x)
    gz = np.ascontiguousarray(gz, dtype=x.dtype)
    z = gz if z is None else np.ascontiguousarray(z, dtype=x.dtype)
    assign = stride[0] >= ws[0] and stride[1] >= ws[1]
    if assign:  # windows do not overlap: the loop writes each covered element once, the rest is zeroed here
        gx = np.empty(x.shape, x.dtype)
        x_shape = x.shape
        lead = len(x_shape) - 2
        for axis in (0, 1):
            starts = np.arange(geometry[2 + axis]) * stride[axis] - pad[axis]
            covered = np.zeros(x_shape[lead + axis], bool)
            for offset in range(ws[axis]):
                inside = starts + offset
                covered[inside[(inside >= 0) & (inside < x_shape[lead + axis])]] = True
            if axis == 0:
                gx[..., ~covered, :] = 0
            else:
                gx[..., ~covered] = 0
    else:
        gx = np.zeros(x.shape, x.dtype)
    _pl_run(x, z, gz, gx, images, geometry, True, assign)
    return gx


def _pl_max_grad_grad(x, z, gg, ws, stride, pad, ignore_border, name):
    """Each window's sum of gg over its elements equal to its max (numpy: small, second-order only)."""
    _pool_check_pooled(name, x.shape, z.shape, ws, stride, pad, ignore_border)
    if tuple(gg.shape) != tuple(x.shape):
        raise ValueError(f"{name}: the input's gradient has shape {tuple(gg.shape)}, the input {tuple(x.shape)}")
    lead = x.ndim - 2
    h, w = x.shape[lead], x.shape[lead + 1]
    out = np.zeros(z.shape, x.dtype)
    gg = np.asarray(gg, dtype=x.dtype)
    for i in range(ws[0]):
        rows = np.arange(z.shape[lead]) * stride[0] - pad[0] + i
        for j in range(ws[1]):
            cols = np.arange(z.shape[lead + 1]) * stride[1] - pad[1] + j
            inside = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
            at = (np.clip(rows, 0, h - 1)[:, None], np.clip(cols, 0, w - 1)[None, :])
            out += np.where(inside & (x[(Ellipsis,) + at] == z), gg[(Ellipsis,) + at], 0)
    return out
'''


def _renamed(source: str, names: tuple[str, ...]) -> str:
    """The tensor layer's geometry functions under module-private names (`_conv_check`, ...)."""
    for name in sorted(names, key=len, reverse=True):
        source = source.replace(f"{name}(", f"_{name}(")
    return source


_CONV_NAMES = tuple(f.__name__ for f in conv.GEOMETRY_FUNCTIONS)
_POOL_NAMES = tuple(f.__name__ for f in pool.GEOMETRY_FUNCTIONS)

HELPERS = {
    "_win_threads": _THREADS.strip("\n"),
    "_conv_geometry": _renamed(_source(conv.GEOMETRY_FUNCTIONS), _CONV_NAMES),
    "_cv_loops": _CV_LOOPS.strip("\n"),
    "_cv_zdrivers": _CV_DRIVERS.strip("\n"),
    "_cv_zplain": _CV_PLAIN.strip("\n"),
    "_cv_zgrads": _CV_GRADS.strip("\n"),
    "_pool_geometry": _renamed(_source(pool.GEOMETRY_FUNCTIONS), _POOL_NAMES),
    "_pl_loops": _PL_LOOPS.strip("\n"),
    "_pl_zdrivers": _PL_DRIVERS.strip("\n"),
}
_CONV_HELPERS = ("_conv_geometry", "_cv_loops", "_cv_zdrivers", "_cv_zplain")
_POOL_HELPERS = ("_pool_geometry", "_pl_loops", "_pl_zdrivers", "_win_threads")

RULES: dict[str, Callable] = {}


def _rule(name: str):
    def register(fn):
        RULES[name] = fn
        return fn

    return register


def _call(ins: list[Buffer], outs: list[Buffer], line: str, helpers: tuple[str, ...]) -> CallStep:
    return CallStep(list(ins), list(outs), [line], {name: HELPERS[name] for name in helpers})


def _conv_params(op, z: Buffer) -> str:
    return f"{op.border!r}, {op.subsample!r}, {op.dilation!r}, {op.groups!r}, {op.flip!r}, {z.dtype!r}, {op.name!r}"


@_rule("conv2d")
def _conv2d(node, ins, outs):
    (x, w), (z,) = ins, outs
    return _call(ins, outs, f"{z.name} = _cv_conv2d({x.name}, {w.name}, {_conv_params(node.op, z)})", _CONV_HELPERS)


@_rule("conv2d_grad_inputs")
@_rule("conv2d_grad_filters")
def _conv2d_grad(node, ins, outs):
    (a, gz, like), (z,) = ins, outs
    return _call(ins, outs, f"{z.name} = _cv_{node.op.name}({a.name}, {gz.name}, {like.name}, "
                            f"{_conv_params(node.op, z)})", (*_CONV_HELPERS, "_cv_zgrads"))


def _pool_params(op) -> str:
    return f"{op.ws!r}, {op.stride!r}, {op.pad!r}, {op.ignore_border!r}, {POOL_MODES[op.mode]!r}"


@_rule("pool")
def _pool(node, ins, outs):
    (x,), (z,) = ins, outs
    return _call(ins, outs, f"{z.name} = _pl_pool({x.name}, {_pool_params(node.op)})", _POOL_HELPERS)


@_rule("max_pool_grad")
def _max_pool_grad(node, ins, outs):
    (x, z, gz), (gx,) = ins, outs
    return _call(ins, outs, f"{gx.name} = _pl_pool_grad({x.name}, {z.name}, {gz.name}, {_pool_params(node.op)}, "
                            f"{node.op.name!r})", _POOL_HELPERS)


@_rule("max_pool_grad_grad")
def _max_pool_grad_grad(node, ins, outs):
    (x, z, gg), (out,) = ins, outs
    return _call(ins, outs, f"{out.name} = _pl_max_grad_grad({x.name}, {z.name}, {gg.name}, {node.op.ws!r}, "
                            f"{node.op.stride!r}, {node.op.pad!r}, {node.op.ignore_border!r}, {node.op.name!r})",
                 _POOL_HELPERS)


@_rule("average_pool_grad")
def _average_pool_grad(node, ins, outs):
    (x, gz), (gx,) = ins, outs
    return _call(ins, outs, f"{gx.name} = _pl_pool_grad({x.name}, None, {gz.name}, {_pool_params(node.op)}, "
                            f"{node.op.name!r})", _POOL_HELPERS)

"""The Cython-to-C translator (codegen/cython_c.py) against numpy: the translated scalar and reduction helpers,
built by gcc into one shared library and called through ctypes, give numpy's values on edge cases; the loop
kernels of a handful of graphs, of every elementwise op of opspecs in each of its dtypes, of every reduction
kind on each axis and of a fused_matvec translate into C that gcc builds with strict errors (one gcc call), and
those of one loop compute the reference's results; constructs outside the subset raise, naming their line."""

from __future__ import annotations

import ctypes
import itertools
import re
import shutil
import subprocess
import sysconfig

import numpy as np
import pytest
from cgcases import assert_same
from opspecs import SPECS  # tests/ is on the path (tests/conftest.py)

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.codegen.cython_c import Untranslatable, translate
from aotgraph.codegen.ir import CallStep, ElemwiseStep, ReduceStep
from aotgraph.codegen.loops import _elemwise_kernel, _full_kernel, _Loop, _partial_kernel, _Reduce
from aotgraph.codegen.lower import lower
from aotgraph.codegen.matvec_kernel import _PY_HELPERS, _c_helper, _Leaves, _statements, _units_function
from aotgraph.codegen.reduction import block_helper, cascade_helpers
from aotgraph.codegen.scalar import HELPERS, helper_source
from aotgraph.graph.basic import toposort
from aotgraph.graph.evaluate import evaluate, run_node
from aotgraph.rewrite import optimize_spec
from aotgraph.tensor.reduction import KINDS

GCC = shutil.which("gcc")
pytestmark = pytest.mark.skipif(GCC is None, reason="needs gcc")
PRELUDE = ("#include <math.h>\n#include <string.h>\n#include <numpy/npy_common.h>\n"
           "static npy_intp _ag_chunk = 64;\n")
INCLUDES = [f"-I{np.get_include()}", f"-I{sysconfig.get_paths()['include']}"]
INTS = ["int8", "int16", "int32", "int64"]
UINTS = ["uint8", "uint16", "uint32", "uint64"]
FLOATS = ["float32", "float64"]
CT = {"int8": "npy_int8", "int16": "npy_int16", "int32": "npy_int32", "int64": "npy_int64", "uint8": "npy_uint8",
      "uint16": "npy_uint16", "uint32": "npy_uint32", "uint64": "npy_uint64", "float32": "npy_float32",
      "float64": "npy_float64"}
# helper key -> (dtypes, arity, numpy reference)
CASES = {
    "floordiv_i": (INTS, 2, np.floor_divide), "floordiv_u": (UINTS, 2, np.floor_divide),
    "floordiv_f": (FLOATS, 2, np.floor_divide), "mod_i": (INTS, 2, np.remainder), "mod_u": (UINTS, 2, np.remainder),
    "mod_f": (FLOATS, 2, np.remainder), "pow_i": (INTS, 2, np.power), "pow_u": (UINTS, 2, np.power),
    "max_f": (FLOATS, 2, np.maximum), "min_f": (FLOATS, 2, np.minimum), "max_i": (INTS + UINTS, 2, np.maximum),
    "min_i": (INTS + UINTS, 2, np.minimum), "sign_f": (FLOATS, 1, np.sign),
    "sigmoid_f": (FLOATS, 1, lambda x: 1 / (1 + np.exp(-x))), "softplus_f": (FLOATS, 1, lambda x: np.logaddexp(0, x)),
}
# Cython's `//` floors a float quotient and is C's `/` for integers (cdivision); `%` of integers is C's
DIVISIONS = """
cdef cnp.npy_float64 _fdiv(cnp.npy_float64 a, cnp.npy_float64 b) noexcept nogil:
    return (a * 1.0) // b + a // b


cdef cnp.npy_float32 _fdiv32(cnp.npy_float32 a, cnp.npy_float32 b) noexcept nogil:
    cdef cnp.npy_float32 q = a
    q = q // b
    return q


cdef cnp.npy_int64 _idiv(cnp.npy_int64 a, cnp.npy_int64 b) noexcept nogil:
    cdef cnp.npy_int64 c[2]
    c[1] = b
    return (a // c[1]) + a % <cnp.npy_int64>b  # |q + r| <= |a|: no overflow
"""
REDUCTIONS = [("sum", "float64"), ("max", "int32"), ("prod", "int64"), ("max", "float64"), ("min", "float32")]


def _gcc(args: list[str]) -> None:
    done = subprocess.run([GCC, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _shared_library(c_source: str, tmp_path) -> ctypes.CDLL:
    (tmp_path / "lib.c").write_text(c_source)
    _gcc(["-shared", "-fPIC", "-O1", *INCLUDES, "-o", str(tmp_path / "lib.so"), str(tmp_path / "lib.c"), "-lm"])
    return ctypes.CDLL(str(tmp_path / "lib.so"))


def _edges(dtype: str) -> np.ndarray:
    if dtype in FLOATS:
        big = np.finfo(dtype).max
        return np.array([0.0, -0.0, 1, -1, 2.5, -2.5, 3, -7, 0.1, 1e-30, -1e-30, 50, -50, 700, -700, big, -big,
                         np.inf, -np.inf, np.nan], dtype=dtype)
    info = np.iinfo(dtype)
    values = [0, 1, 2, 3, 7, 13, info.max, info.max - 1, info.max // 2]
    values += [-1, -2, -3, -7, info.min, info.min + 1] if dtype in INTS else []
    return np.array(values, dtype=dtype)


def _same(got: np.ndarray, want: np.ndarray, ulps: int = 0) -> None:
    """Equal values, NaN where numpy has NaN, and the sign of zeros (within `ulps` units in the last place)."""
    assert got.dtype == want.dtype
    if got.dtype.kind != "f":
        np.testing.assert_array_equal(got, want)
        return
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[ok]), np.signbit(want[ok]))
    tolerance = ulps * np.spacing(np.abs(want[ok]).astype(want.dtype))
    assert np.all((got[ok] == want[ok]) | (np.abs(got[ok] - want[ok]) <= tolerance)), (got, want)


def _c_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C's a / b + a % b for int64 (truncating), in Python integers; 0 where the wrapper skips b == 0 or -1."""
    out = []
    for x, y in zip(a.tolist(), b.tolist()):
        q = abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1) if y not in (0, -1) else 0
        out.append(q + (x - q * y) if y not in (0, -1) else 0)
    return np.array(out, dtype=a.dtype)


def _helper_wrappers() -> tuple[list[str], list[str], list[tuple[str, str, int, object]]]:
    """(Cython sources, C wrappers, (wrapper, dtype, arity, reference)) of every helper and dtype: a wrapper applies
    the helper to arrays (and writes an integer power's error flag)."""
    assert set(CASES) == set(HELPERS)  # a new helper template needs its case here
    sources, wrappers, calls = {}, [], []
    for key, (dtypes, arity, reference) in CASES.items():
        for dtype in dtypes:
            name, source = helper_source(key, dtype)
            sources[name] = source
            t, w = CT[dtype], f"w{name}"
            if arity == 1:
                wrappers.append(f"void {w}(const {t}* a, {t}* o, npy_intp n) {{ for (npy_intp i = 0; i < n; i++) "
                                f"o[i] = {name}(a[i]); }}")
            else:
                err = ", &e[i]" if key.startswith("pow") else ""
                wrappers.append(f"void {w}(const {t}* a, const {t}* b, {t}* o, int* e, npy_intp n) {{ "
                                f"for (npy_intp i = 0; i < n; i++) {{ e[i] = 0; o[i] = {name}(a[i], b[i]{err}); }} }}")
            calls.append((w, dtype, arity, reference))
    for kind_, dtype in REDUCTIONS:
        helpers: dict[str, str] = {}
        push, total, reduce_array = cascade_helpers(kind_, dtype, helpers)
        block = block_helper(kind_, dtype, helpers) if kind_ != "sum" else None
        sources.update(helpers)
        for f in filter(None, (reduce_array, block)):
            wrappers.append(f"{CT[dtype]} w{f}(const {CT[dtype]}* a, npy_intp n) {{ return {f}(a, n); }}")
            calls.append((f"w{f}", dtype, 0, kind_))
    for name, dtype, reference in (("_fdiv", "float64", lambda a, b: np.floor(a / b) * 2),
                                   ("_fdiv32", "float32", lambda a, b: np.floor(a / b)), ("_idiv", "int64", _c_div)):
        t = CT[dtype]
        skip = "b[i] == 0 || b[i] == -1 ? 0 : " if dtype == "int64" else ""  # C's x / 0 and INT64_MIN / -1 trap
        wrappers.append(f"void w{name}(const {t}* a, const {t}* b, {t}* o, int* e, npy_intp n) {{ "
                        f"for (npy_intp i = 0; i < n; i++) o[i] = {skip}{name}(a[i], b[i]); }}")
        calls.append((f"w{name}", dtype, 2, reference))
    return [*sources.values(), DIVISIONS], wrappers, calls


def _pointer(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def test_translated_helpers_give_numpys_values(tmp_path):
    sources, wrappers, calls = _helper_wrappers()
    lib = _shared_library(PRELUDE + translate("\n\n".join(sources)) + "\n" + "\n".join(wrappers), tmp_path)
    rng = np.random.default_rng(0)
    for wrapper, dtype, arity, reference in calls:
        fn = getattr(lib, wrapper)
        values = _edges(dtype)
        if arity == 0:  # a reduction over n values (sum: integers, so any order is exact)
            a = rng.integers(-50, 50, 1000).astype(dtype)
            a[[3, 700]] = (a[3], np.nan) if reference in ("max", "min") and dtype in FLOATS else (a[3], a[700])
            ctype = np.ctypeslib.as_ctypes_type(np.dtype(dtype))
            fn.restype = ctype
            for n in (0, 1, 7, 100, 1000):
                want = getattr(np, reference)(a[:n]) if n or reference in ("sum", "prod") else None
                if want is not None:
                    _same(np.array([fn(_pointer(a), ctypes.c_ssize_t(n))], dtype=dtype), np.array([want], dtype))
            continue
        if arity == 1:
            a = values
            out = np.empty_like(a)
            fn(_pointer(a), _pointer(out), ctypes.c_ssize_t(a.size))
            with np.errstate(all="ignore"):
                _same(out, reference(a.astype("float64")).astype(dtype), ulps=4)
            continue
        a, b = (x.ravel().copy() for x in np.meshgrid(values, values))
        out, err = np.empty_like(a), np.empty(a.size, dtype=np.intc)
        fn(_pointer(a), _pointer(b), _pointer(out), _pointer(err), ctypes.c_ssize_t(a.size))
        if reference is np.power:
            negative = b < 0 if dtype in INTS else np.zeros(a.size, bool)
            np.testing.assert_array_equal(err.astype(bool), negative)
            a, b, out = a[~negative], b[~negative], out[~negative]
        with np.errstate(all="ignore"):
            _same(out, reference(a, b).astype(dtype))


def _kernel(inputs, outputs):
    f = ag.function(inputs, outputs, mode="FAST_COMPILE")
    spec = optimize_spec(f._spec, "fast_run")
    return spec, lower(spec, "k0")


_NAMES = itertools.count()  # numbers the kernels of a translation


def _loop_sources(kernel, helpers: dict[str, str]) -> list[tuple[str, object, str]]:
    """(name, loop, Cython source) of the loop kernel of every elementwise and reduction step (the helpers they
    call go into `helpers`)."""
    sources = []
    for step in kernel.steps:
        name, body = f"s{next(_NAMES)}_rows", step.body
        if isinstance(body, ElemwiseStep):
            loop = _Loop(body, helpers)
            sources.append((name, loop, "\n".join(_elemwise_kernel(name, loop))))
        elif isinstance(body, ReduceStep):
            loop = _Reduce(body, helpers)
            render = _full_kernel if loop.full else _partial_kernel
            sources.append((name, loop, "\n".join(render(name, loop))))
    return sources


def _matvec_sources(helpers: dict[str, str]) -> tuple[list[str], tuple]:
    """The units function of the logistic-regression gradient's fused_matvec and its C block, and (optimized spec,
    node, leaves) to run it."""
    x, y = at.dmatrix("x"), at.dvector("y")
    w, b = ag.shared(np.zeros(5), name="w"), ag.shared(0.0, name="b")
    p_1 = 1 / (1 + at.exp(-at.dot(x, w) - b))
    cost = (-y * at.log(p_1) - (1 - y) * at.log(1 - p_1)).mean() + 0.01 * (w**2).sum()
    gw, gb = ag.grad(cost, [w, b])
    spec, kernel = _kernel([x, y], [p_1 > 0.5, gw, gb])
    (node,) = [n for n in toposort(spec.results) if n.op.name == "fused_matvec"]
    (step,) = [s.body for s in kernel.steps if isinstance(s.body, CallStep) and "_fmv_c" in s.body.helpers]
    leaves = _Leaves(node, step.ins)
    stmts, result = _statements(node, leaves)
    units, _ = _units_function("_fmv_test", "float64", leaves, stmts, result, helpers)
    return [_c_helper().replace(_PY_HELPERS, ""), "\n".join(units)], (spec, node, leaves)


def _every_op_and_kind() -> list:
    """(inputs, output, argument values) of every elementwise op of opspecs in each of its dtypes, and of every
    reduction kind in a few dtypes over each axis."""
    rng = np.random.default_rng(2)
    graphs = []
    for spec in SPECS:
        for dtype in spec.dtypes:
            ins = [at.matrix(f"x{k}", dtype=dtype) for k in range(spec.arity)]
            args = [spec.values(dtype, (3, 5), seed=k) for k in range(spec.arity)]
            graphs.append((ins, getattr(at, spec.name)(*ins), args))
    for kind_ in ("sum", "prod", "max", "min", "all", "any"):
        for dtype in ("bool", "int8", "uint16", "int64", "float32", "float64"):
            x = at.matrix("x", dtype=dtype)
            value = rng.integers(0 if dtype[0] in "bu" else -3, 2 if dtype == "bool" else 4, (3, 5)).astype(dtype)
            graphs += [([x], getattr(at, kind_)(x, axis=axis), [value]) for axis in (None, 0, 1)]
    return graphs


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    """(library, C text, cases): the kernels of a handful of graphs, of every op and every reduction kind, and of a
    fused_matvec, translated and built by one gcc call with strict errors; a case (kernel name, loop, kernel,
    argument values, numpy's result) for each graph that lowers to one loop."""
    x, v, f = at.dmatrix("x"), at.dvector("v"), at.fmatrix("f")
    a, n, li = at.lvector("a"), at.lvector("n"), at.lmatrix("li")
    graphs = [([x, v], [at.exp(x + v) * 2.0, x > v]), ([a, n], [a // n, a**n]),
              ([x], [x.sum(axis=0), x.sum(axis=1), x.sum()]), ([f], [f.max(), f.max(axis=1)]),
              ([li], [li.prod(axis=1)])]
    helpers: dict[str, str] = {}
    sources = [src for inputs, outputs in graphs for _, _, src in _loop_sources(_kernel(inputs, outputs)[1], helpers)]
    cases = []
    for inputs, output, args in _every_op_and_kind():
        kernel = _kernel(inputs, [output])[1]
        loops = _loop_sources(kernel, helpers)
        sources += [src for _, _, src in loops]
        if len(kernel.steps) == 1 and len(loops) == 1:
            want = ag.function(inputs, output, mode="FAST_COMPILE")(*args)
            cases.append((loops[0][0], loops[0][1], kernel, args, want))
    matvec, fused = _matvec_sources(helpers)
    c = translate("\n\n".join(sorted(helpers.values()) + sources + matvec))
    path = tmp_path_factory.mktemp("cython_c")
    (path / "kernels.c").write_text(PRELUDE + re.sub(r"^static int (s\d+_rows|_fmv_test_units)", r"int \1", c,
                                                     flags=re.M))
    _gcc(["-shared", "-fPIC", "-O0", "-Wall", "-Wno-unused-variable", "-Wno-unused-function",
          "-Werror=implicit-function-declaration", "-Werror=int-conversion", "-Werror=incompatible-pointer-types",
          *INCLUDES, "-o", str(path / "kernels.so"), str(path / "kernels.c"), "-lm"])
    return ctypes.CDLL(str(path / "kernels.so")), c, cases, fused


def test_real_loop_kernels_translate_into_c_that_gcc_accepts(translated):
    _, c, cases, _ = translated
    assert c.count("_rows(") >= 2 * 400 and "_fmv_test_units(" in c and "ag_fmv_dots_d(" in c
    assert len(cases) >= 300


def _run(lib, name: str, loop, kernel, args) -> np.ndarray:
    """Kernel `name` over the whole loop (the step function's part: dims, base pointers, byte strides, outputs)."""
    body, nd = loop.body, loop.nd
    values = {b.name: np.asarray(v, b.dtype) for b, v in zip(kernel.inputs, args)}
    values.update({b.name: np.asarray(v, b.dtype) for b, v in zip(kernel.consts, kernel.const_values)})
    leaves = [values[b.name] for b in body.leaves]
    dims = np.array(np.broadcast_shapes(*[a.shape for a in leaves], (1,) * nd), dtype=np.intp)
    st = np.array([[0 if dims[d] > 1 and s == 1 else stride for d, (s, stride) in
                    enumerate(zip((1,) * (nd - a.ndim) + a.shape, (0,) * (nd - a.ndim) + a.strides))]
                   for a in leaves] or [[0]], dtype=np.intp)
    rows, cpr = int(np.prod(dims[:-1])), (int(dims[-1]) + 2047) // 2048
    out_dtype = body.outs[0].dtype
    if isinstance(loop, _Reduce) and loop.full:
        outs, units = [np.empty(rows * cpr, out_dtype)], rows * cpr
    elif isinstance(loop, _Reduce):
        kept = [int(dims[d]) for d in range(nd) if d not in loop.axis]
        outs = [np.empty(kept, out_dtype)]
        units = int(np.prod([dims[d] for d in loop.kept_outer])) * (1 if loop.inner_reduced else cpr)
    else:
        outs, units = [np.empty(dims, b.dtype) for b in body.outs], rows * cpr
    base = (ctypes.c_void_p * max(len(leaves), 1))(*[a.ctypes.data for a in leaves])
    out_pointers = (ctypes.c_void_p * len(outs))(*[o.ctypes.data for o in outs])
    err = getattr(lib, name)(ctypes.c_ssize_t(0), ctypes.c_ssize_t(units), _pointer(dims), base, _pointer(st),
                             out_pointers)
    assert err == 0
    if isinstance(loop, _Reduce) and loop.full:
        return np.asarray(KINDS[body.kind].ufunc.reduce(outs[0]), out_dtype)
    return outs[0]


def test_translated_kernels_of_every_op_and_reduction_compute_numpys_results(translated):
    lib, _, cases, _ = translated
    for name, loop, kernel, args, want in cases:
        what = f"{name}: {[s.op.name for s in loop.body.stmts]} {getattr(loop.body, 'kind', '')} on {args[0].dtype}"
        assert_same(_run(lib, name, loop, kernel, args), want, what)


def test_the_translated_fused_matvec_computes_numpys_z_v_and_g(translated):
    """The logistic-regression gradient's units function: z = X @ w, v = f(z, ...) and g = X.T @ v in one pass."""
    lib, _, _, (spec, node, leaves) = translated
    rng = np.random.default_rng(3)
    n, m = 150, 37  # 3 blocks of rows (one partial), 8-lane dot products with a tail
    givens = dict(zip(spec.graph_inputs, [rng.standard_normal((n, m)), rng.integers(0, 2, n).astype(float),
                                          rng.standard_normal(m) * 0.1, 0.3]))
    values = [np.asarray(v) for v in evaluate(node.inputs, givens)]
    want = run_node(node, values)
    x, w = np.ascontiguousarray(values[0]), np.ascontiguousarray(values[1])
    z, v, parts = np.empty(n), np.empty(n), np.empty(m)
    fn = lib._fmv_test_units
    args = [0, 1, x.ctypes.data, x.strides[0], w.ctypes.data, n, m, n, 64, z.ctypes.data, v.ctypes.data,
            parts.ctypes.data, 1]
    fn.argtypes = [ctypes.c_ssize_t, ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_void_p]
    fn.argtypes += [ctypes.c_ssize_t] * 4 + [ctypes.c_void_p] * 3 + [ctypes.c_int]
    for k in leaves.scalars:
        fn.argtypes.append(np.ctypeslib.as_ctypes_type(values[k + 1].dtype))
        args.append(values[k + 1][()])
    for k in leaves.vectors:
        fn.argtypes += [ctypes.c_void_p, ctypes.c_ssize_t]
        args += [values[k + 1].ctypes.data, values[k + 1].strides[0]]
    assert leaves.vectors and fn(*args) == 0
    for got, expected, what in zip((z, v, parts), want, "zvg"):
        assert_same(got, np.asarray(expected), f"fused_matvec {what}")


def test_a_translated_elementwise_kernel_computes_numpys_result(tmp_path):
    x, y = at.dmatrix("x"), at.dvector("y")
    _, kernel = _kernel([x, y], [x * y + 1])
    (step,) = kernel.steps
    c = translate("\n".join(_elemwise_kernel("k_rows", _Loop(step.body, {}))))
    lib = _shared_library(PRELUDE + c.replace("static int k_rows", "int k_rows"), tmp_path)
    rng = np.random.default_rng(1)
    values = {"x": rng.standard_normal((5, 6000))[:, ::2], "y": rng.standard_normal(3000)}  # 2 segments a row
    for layout in ("strided", "contiguous"):
        if layout == "contiguous":
            values["x"] = np.ascontiguousarray(values["x"])
        names = [b.name for b in kernel.inputs]
        arrays = [values["x"], values["y"]]
        dims = np.array(arrays[0].shape, dtype=np.intp)
        leaves = [arrays[names.index(b.name)] for b in step.body.leaves]
        strides = [[0] * (2 - a.ndim) + list(a.strides) for a in leaves]
        st = np.array(strides, dtype=np.intp).ravel()
        base = (ctypes.c_void_p * 2)(*[a.ctypes.data for a in leaves])
        out = np.empty(dims, dtype=np.float64)
        outs = (ctypes.c_void_p * 1)(out.ctypes.data)
        units = dims[0] * ((dims[1] + 2047) // 2048)
        err = lib.k_rows(ctypes.c_ssize_t(0), ctypes.c_ssize_t(units), _pointer(dims), base, _pointer(st), outs)
        assert err == 0
        np.testing.assert_array_equal(out, values["x"] * values["y"] + 1)


def test_expressions_mean_what_cython_meant():
    c = translate("cdef int f(char* q, cnp.npy_intp* p, int a, int b) noexcept nogil:\n"
                  "    cdef char* s, t = q\n"
                  "    a = (<int*>q)[0] + <int>p[1] * -<cnp.npy_uint8>b\n"
                  "    a = b = a if a < b and not b else b // 2\n"
                  "    for a in range(b - 1, -1, -1):\n"
                  "        pass\n"
                  "    return min(a, b + 1)\n")
    assert "char* s;" in c and "char* t = q;" in c
    assert "a = (((int*)q)[0] + (((int)p[1]) * (-((npy_uint8)b))));" in c
    assert re.search(r"if \(\(\(a < b\) && \(!b\)\)\) (__ag_c\d+) = a; else \1 = \(b / 2\);", c)
    assert "__typeof__((b - 1))" not in c and "for (a = (b - 1); a > (-1); a += -1)" in c
    assert "if (((a > 1) && b)) {" in translate("cdef void f(int a, int b) noexcept nogil:\n    if a > 1 and b:\n"
                                                   "        pass\n")  # a condition: only its truth counts
    loops = translate("cdef void f(int* p, int n) noexcept nogil:\n    cdef int i, j, k = n\n    p = &k\n"
                      "    for i in range(k):\n        p[0] -= 1\n    for j in range(n):\n        pass\n")
    assert "__typeof__(k) __ag_e1 = k;" in loops and "for (i = 0; i < __ag_e1; i++)" in loops  # k may change
    assert "for (j = 0; j < n; j++)" in loops  # n cannot
    assert re.search(r"__typeof__\(a\) (__ag_a\d+) = a; __typeof__\(\(b \+ 1\)\) (__ag_b\d+) = \(b \+ 1\); "
                     r".*if \(\(\2 < \1\)\) (__ag_c\d+) = \2; else \3 = \1; \3; ", c)
    # Cython's min(a, b): b < a ? b : a, each argument once, and as Cython writes it: an if/else into a temporary
    # (gcc -O1 vectorizes loops with it)
    # a = b = e: e once (a temporary of its type), assigned left to right
    assert re.search(r"\) (__ag_t\d+) = \(\{ [^\n]*\}\);\s+a = \1;\s+b = \1;", c)
    assert translate("cdef enum:\n    A = 3\n    B = A << 2\n") == "enum {\n    A = 3,\n    B = (A << 2),\n};\n"
    assert translate("# a */ b\ncdef cnp.npy_intp _x = 64  # */ end\n") == "/* a * / b */\nstatic npy_intp _x = 64;\n"
    assert "return 1;" in translate("cdef int f() noexcept nogil:\n    pass\n# column 0\n    return 1\n")


def test_integer_literals_meeting_floats_are_doubles_as_cython_writes_them(tmp_path):
    """Cython writes an integer literal in arithmetic with a C float as a double literal (negative ones, beside a
    function's float result, in `x -= 1` too), so the arithmetic is double: `1 + expf(x)` is `1.0 + expf(x)`. And a
    choice between elements read through a `const` pointer gets a temporary that can be assigned."""
    c = translate("cdef inline float g(float x) noexcept nogil:\n    return x * -3 + 1 + expf(x)\n\n"
                  "cdef inline double h(const double* a, double b) noexcept nogil:\n    cdef double y = 2\n"
                  "    y -= -1\n    return (a[0] if b > 0 else 0) + max(a[0], b) + (1 + g(b)) + y\n\n"
                  "cdef inline cnp.npy_float32 k(cnp.npy_float32 x) noexcept nogil:\n    return 1 + x\n")
    assert "(((x * (-3.0)) + (1.0)) + expf(x))" in c and "y -= (-1.0);" in c and "((1.0) + g(b))" in c
    assert "((1.0) + x)" in c and "const double __ag_c" not in c
    lib = _shared_library("#include <math.h>\n#include <numpy/npy_common.h>\n" + c.replace("static inline ", "")
                          + "\n", tmp_path)
    lib.g.restype, lib.g.argtypes = ctypes.c_float, [ctypes.c_float]
    x = np.float32(0.3)
    want = np.float32(np.float64(x) * -3.0 + 1.0 + np.float64(np.float32(np.exp(np.float32(x)))))
    assert abs(lib.g(ctypes.c_float(x)) - want) <= abs(want) * 2e-7  # double arithmetic, rounded once


@pytest.mark.parametrize("source, line, message", [
    ("cdef int f(int a):\n    return a\n", 1, "without 'nogil'"),
    ("cdef int f(int a) noexcept nogil:\n    cdef int b = 1\n    return a ** b\n", 3, r"'\*\*'"),
    ("cdef int f(int a) noexcept nogil:\n    # c\n    if 0 < a < 3:\n        return 1\n    return 0\n", 3,
     "chained comparison"),
    ("cdef int f(int a) noexcept nogil:\n    for i in range(a, 3, a):\n        pass\n    return 0\n", 2,
     "integer literal"),
    ("cdef int f(int a) noexcept nogil:\n    return a and 2\n", 2, "not 0/1"),
    ("cdef long f(long a) noexcept nogil:\n    return abs(a)\n", 2, "abs"),
    ("cdef int f(int a) noexcept nogil:\n    cdef int default = a\n    return default\n", 2, "C keyword"),
    ("cdef int f(int a, double b) noexcept nogil:\n    a //= b + 1\n    return a\n", 2, "floors a float"),
])
def test_constructs_outside_the_subset_raise_naming_their_line(source, line, message):
    with pytest.raises(Untranslatable, match=f"^line {line}: .*{message}"):
        translate(source)

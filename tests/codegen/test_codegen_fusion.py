"""Fused loops compiled: broadcasting regions, reductions (every kind, axes, keepdims, dtypes, layouts), in-place
safety, threads and the GIL -- against the reference backend (FAST_COMPILE), from built modules (<= ~2 MB of C
each)."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from buildbatches import build_by_size
from cgcases import assert_same
from opspecs import SPECS

import aotgraph as ag
import aotgraph.tensor as at

rng = np.random.default_rng(7)
BIG = 300_000  # above the size (65536 elements) from which loops run on several threads


def _vals(dtype, shape, seed=0):
    r = np.random.default_rng(seed)
    kind = np.dtype(dtype).kind
    if kind == "b":
        return r.integers(0, 2, shape).astype(bool)
    if kind in "iu":
        return r.integers(0 if kind == "u" else -9, 10, shape).astype(dtype)
    return r.standard_normal(shape).astype(dtype)


def _elemwise_cases():
    cases = {}
    for d in ("float64", "float32"):
        a, b, c = at.tensor(d, (None,), name="a"), at.tensor(d, (1, None), name="b"), at.tensor(d, (None, None), "c")
        cases[f"issue_{d}"] = ([a, b, c], [a * b + c * at.exp(-a) - a / (1 + b * b)],
                               [_vals(d, 7, 1), _vals(d, (1, 7), 2), _vals(d, (5, 7), 3)])
    c, col, s = at.dmatrix("c"), at.tensor("float64", (None, 1), name="col"), at.dscalar("s")
    cases["hoisted"] = ([c, col, s], [c * at.exp(col) + at.log1p(abs(s)) * c, at.tanh(col * s) - c],
                        [_vals("float64", (5, 7), 4), _vals("float64", (5, 1), 5), np.float64(0.7)])
    i, j = at.imatrix("i"), at.tensor("int8", (None,), name="j")
    cases["ints"] = ([i, j], [(i * 3 + j) // 2 - i % 5, at.maximum(i, j) * (i > j), (i ^ j) | 3],
                     [_vals("int32", (6, 4), 6), _vals("int8", 4, 7)])
    x, y = at.dvectors("x", "y")
    cases["siblings"] = ([x, y], [x + y, x * y, at.maximum(x, y) - x, at.sqrt(abs(x)) * y],
                         [_vals("float64", 9, 8), _vals("float64", 9, 9)])
    t3, r3 = at.dtensor3("t3"), at.tensor("float64", (1, 1, None), name="r3")
    cases["rank3"] = ([t3, r3], [at.sin(t3) * r3 + t3 / (1 + r3 * r3)],
                      [_vals("float64", (3, 4, 5), 10), _vals("float64", (1, 1, 5), 11)])
    # every float function of tests/opspecs.py on its domain, through the chunked loops that call the C
    # library's vector variants (1003 elements: full chunks and a padded one)
    specs = [spec for spec in SPECS if spec.float_function and spec.arity == 1]
    for d in ("float64", "float32"):
        xs = [at.tensor(d, (None,), name=spec.name) for spec in specs]
        cases[f"float_functions_{d}"] = (xs, [getattr(at, spec.name)(x) for spec, x in zip(specs, xs)],
                                         [spec.values(d, (1003,), seed=12) for spec in specs])
    return cases


def _reduction_cases():
    x, y = at.dtensor3("x"), at.dtensor3("y")
    f32 = at.tensor("float32", (None, None), name="f")
    i, u, b = at.imatrix("i"), at.tensor("uint8", (None, None), name="u"), at.tensor("bool", (None, None), name="b")
    cases = {
        "r_f64": ([x, y], [at.sum(x * y), at.sum(x * y, axis=0), at.sum(x - y, axis=-1, keepdims=True),
                         at.sum(at.exp(x) * y, axis=(0, 2)), at.prod(x * 0.25 + 1, axis=1),
                         at.max(abs(x)), at.max(x * y, axis=(1, 2), keepdims=True), at.min(x - y, axis=(0, 2)),
                         at.all(x > -2, axis=1), at.any(x > 2), at.mean(x * y, axis=0), at.sum(x), at.max(x, 2),
                         at.min(at.tanh(x), axis=0)],
                [_vals("float64", (4, 5, 6), 12), _vals("float64", (4, 5, 6), 13)]),
        "r_f32": ([f32], [at.sum(f32 * f32), at.max(f32, axis=1), at.sum(f32, axis=0), at.prod(f32 * 0.1 + 1)],
                [_vals("float32", (30, 40), 14)]),
        "r_ints": ([i, u, b], [at.sum(i * i), at.sum(i, axis=0), at.prod(i, axis=1), at.max(i), at.min(i - 1, (0, 1)),
                             at.sum(u), at.max(u, 0), at.min(u * 3, 1), at.all(b, 0), at.any(b), at.sum(b),
                             at.max(b, 1), at.all(i > -9), at.any(i > 100, axis=1, keepdims=True)],
                 [_vals("int32", (6, 7), 15), _vals("uint8", (5, 3), 16), _vals("bool", (4, 6), 17)]),
    }
    v = at.dvector("v")
    cases["big"] = ([v], [at.sum(v * v), at.max(abs(v)), at.sum(v), at.min(v)], [_vals("float64", BIG, 18)])
    m = at.dmatrix("m")
    cases["big_axes"] = ([m], [at.sum(m * 2, axis=0), at.sum(at.exp(m), axis=1), at.max(m, axis=0)],
                         [_vals("float64", (600, 500), 19)])
    a, bb, c = at.dvector("a"), at.dvector("b"), at.dvector("c")
    cases["big_issue"] = ([a, bb, c], [a * bb + c * at.exp(-a) - a / (1 + bb * bb)],
                          [_vals("float64", BIG, s) for s in (20, 21, 22)])
    return cases


def _inplace_functions():
    x, w, b = at.dmatrix("x"), at.dvector("w"), at.dscalar("b")
    y = at.dvector("y")
    functions = {"chain": ag.function([x, w, b], at.sigmoid(at.dot(x, w) + b) * 2, mode="FAST_COMPILE", name="chain")}
    z = at.dvector("z")
    functions["mutable"] = ag.function([ag.In(y, mutable=True), z], at.exp(y) * z + 1, mode="FAST_COMPILE")
    functions["borrowed"] = ag.function([y], [ag.Out(at.exp(y) + 1, borrow=True), at.exp(y) * 2], mode="FAST_COMPILE")
    ws = ag.shared(np.ones(3), name="ws")
    g = at.dot(x.T, at.tanh(at.dot(x, ws)))
    functions["train"] = ag.function([x], at.sum(at.dot(x, ws) ** 2), updates=[(ws, ws - 0.1 * g)],
                                     mode="FAST_COMPILE", name="train")
    return functions


ELEMWISE = _elemwise_cases()
REDUCTIONS = _reduction_cases()


@pytest.fixture(scope="module")
def mod(tmp_path_factory, codegen_cache_dir):
    """Every function built as in-process FAST_RUN modules are (OpenMP, vector math), in modules of <= ~2 MB of C
    (tests/buildbatches.py)."""
    functions = {}
    for name, (ins, outs, _) in {**ELEMWISE, **REDUCTIONS}.items():
        functions[name] = ag.function(ins, outs, mode="FAST_COMPILE", name=name)
    functions.update(_inplace_functions())
    out = tmp_path_factory.mktemp("built-cg_fusion")
    return build_by_size(functions, "cg_fusion", out, openmp=True, vector_math=True), functions


def _compare(built, functions, name, args, rtol=None):
    got = getattr(built, name)(*args)
    expected = functions[name](*args)
    for k, (g, e) in enumerate(zip(got, expected)):
        assert_same(g, e, f"{name} output {k}", rtol)
    return got


@pytest.mark.parametrize("name", list(ELEMWISE))
def test_fused_elementwise(mod, name):
    built, functions = mod
    _compare(built, functions, name, ELEMWISE[name][2])


def test_fused_elementwise_layouts(mod):
    """Strided, reversed, transposed and broadcast operands take the strided loop; results as numpy's."""
    built, functions = mod
    a, b, c = ELEMWISE["issue_float64"][2]
    big = _vals("float64", (10, 14), 30)
    for args in [(a[::-1], b[:, ::-1], c), (a, b, big[::2, ::2]), (a, b, np.asfortranarray(c)),
                 (a, b, np.broadcast_to(a, (5, 7))), (a, b, c[:0]), (a[:0], b[:, :0], c[:, :0])]:
        _compare(built, functions, "issue_float64", args)
    t3, r3 = ELEMWISE["rank3"][2]
    _compare(built, functions, "rank3", (np.ascontiguousarray(t3.transpose(2, 1, 0)).transpose(2, 1, 0), r3))


@pytest.mark.parametrize("name", ["r_f64", "r_f32", "r_ints", "big", "big_axes"])
def test_reductions(mod, name):
    """Integers, bools, max and min exactly as numpy; float sums within a few rounding errors of numpy's
    pairwise sums (float32 sums of 1200 values: within 1e-5; float64: 1e-13)."""
    built, functions = mod
    _compare(built, functions, name, REDUCTIONS[name][2], rtol=1e-5 if name == "r_f32" else 1e-13)


def test_reductions_of_strided_and_broadcast_operands(mod):
    built, functions = mod
    x, y = REDUCTIONS["r_f64"][2]
    for args in [(x[::-1, :, ::2], y[::-1, :, ::2]), (x.transpose(0, 2, 1).copy().transpose(0, 2, 1), y),
                 (np.broadcast_to(x[:1], x.shape), y), (x[:, :, :1], y[:, :, :1])]:
        _compare(built, functions, "r_f64", args, rtol=1e-13)


def test_empty_reductions_are_numpy_s(mod):
    built, functions = mod
    args = (np.zeros((0, 7), "int32"), np.zeros((5, 3), "uint8"), np.zeros((4, 6), bool))
    with pytest.raises(ValueError, match="zero-size array to reduction operation maximum"):
        functions["r_ints"](*args)  # max of no integers
    with pytest.raises(ValueError, match="zero-size array to reduction operation maximum"):
        built.r_ints(*args)
    empty = [np.zeros((4, 0, 6))] * 2
    with pytest.raises(ValueError, match="zero-size array to reduction operation maximum"):
        built.r_f64(*empty)
    got = built.r_f32(np.zeros((0, 40), "float32"))
    assert got[0] == 0 and got[1].shape == (0,) and got[2].tolist() == [0] * 40 and got[3] == 1


def test_nan_propagates_like_numpy(mod):
    built, functions = mod
    x, y = (a.copy() for a in REDUCTIONS["r_f64"][2])
    x[1, 2, 3] = np.nan
    _compare(built, functions, "r_f64", (x, y), rtol=1e-13)
    v = REDUCTIONS["big"][2][0].copy()
    v[BIG - 3] = np.nan
    got = _compare(built, functions, "big", (v,))
    assert np.isnan(got[1]) and np.isnan(got[3])


def test_float_sums_are_pairwise_accurate(mod):
    """A sum of 300,000 values is within a few rounding errors of the exact sum (math.fsum), like numpy's pairwise
    sum (a sequential sum of these values is 37 rounding errors off)."""
    built, _ = mod
    v = REDUCTIONS["big"][2][0] + 1e3
    exact = math.fsum(v)
    ours, numpy_error = built.big(v)[2], abs(float(np.sum(v)) - exact)
    assert abs(ours - exact) <= max(4 * numpy_error, 4 * np.spacing(exact))


def test_threads_give_identical_results(mod):
    """Elementwise loops and reductions over 300,000 elements: bitwise the same on 1 and on 2 threads."""
    built, _ = mod
    modules = list({id(m): m for m in map(built.module_of.get, ("big", "big_axes", "big_issue"))}.values())
    before = [module._core._get_num_threads() for module in modules]
    results = {}
    try:
        for threads in (1, 2):
            for module in modules:
                module.set_num_threads(threads)
                assert module.get_num_threads() in (threads, 1)  # 1: built without OpenMP
            results[threads] = [built.big(*REDUCTIONS["big"][2]), built.big_axes(*REDUCTIONS["big_axes"][2]),
                                built.big_issue(*REDUCTIONS["big_issue"][2])]
    finally:
        for module, threads in zip(modules, before):
            module.set_num_threads(threads)
    for one, two in zip(results[1], results[2]):
        for a, b in zip(one, two):
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    with pytest.raises(ValueError, match=">= 1"):
        modules[0].set_num_threads(0)


def test_long_loops_release_the_gil(mod):
    """While one thread runs a long compiled loop, another thread keeps running Python."""
    built, _ = mod
    args = [np.repeat(a, 20) for a in REDUCTIONS["big_issue"][2]]  # 6M elements: tens of milliseconds
    ticks, done = [0], threading.Event()

    def count():
        while not done.is_set():
            ticks[0] += 1

    built.big_issue(*args)
    counter = threading.Thread(target=count)
    counter.start()
    time.sleep(0.01)
    try:
        start, seen = time.perf_counter(), []
        while time.perf_counter() - start < 0.3:
            before = ticks[0]
            built.big_issue(*args)
            seen.append(ticks[0] - before)
    finally:
        done.set()
        counter.join()
    assert max(seen) > 0, "no Python ran in the other thread during any call"


# ---- in-place safety ---------------------------------------------------------------------------------------


def test_in_place_loops_leave_inputs_alone(mod):
    built, functions = mod
    x, w = _vals("float64", (6, 3), 23), _vals("float64", 3, 24)
    x0, w0 = x.copy(), w.copy()
    _compare(built, functions, "chain", (x, w, np.float64(0.3)))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_a_mutable_input_may_take_the_result(mod):
    built, functions = mod
    y, z = _vals("float64", 8, 25), _vals("float64", 8, 26)
    expected = np.exp(y) * z + 1
    mine = y.copy()
    out = built.mutable(mine, z)
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    assert np.shares_memory(out, mine)  # written in place: the caller allowed it
    z0 = z.copy()
    out = built.mutable(z, z)  # the same array twice: the mutable one is not overwritten while still read
    np.testing.assert_allclose(out, np.exp(z0) * z0 + 1, rtol=1e-13)
    np.testing.assert_array_equal(z, z0)
    strided = _vals("float64", 16, 27)
    before = strided.copy()
    out = built.mutable(strided[::2], z)  # not contiguous: a new array
    np.testing.assert_allclose(out, np.exp(before[::2]) * z + 1, rtol=1e-13)
    np.testing.assert_array_equal(strided, before)
    readonly = y.copy()
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="mutable"):
        built.mutable(readonly, z)


def test_outputs_survive_the_next_call(mod):
    """A non-borrowed output is never overwritten later; a borrowed one may be, but is right when returned."""
    built, _ = mod
    y1, y2 = _vals("float64", 8, 28), _vals("float64", 8, 29)
    first = built.borrowed(y1)
    kept = first[1].copy()
    second = built.borrowed(y2)
    np.testing.assert_array_equal(first[1], kept)
    np.testing.assert_allclose(second[0], np.exp(y2) + 1, rtol=1e-13)
    np.testing.assert_allclose(second[1], np.exp(y2) * 2, rtol=1e-13)


def test_updates_with_in_place_intermediates(mod):
    built, functions = mod
    x = _vals("float64", (5, 3), 30)
    for _ in range(3):
        cost = built.train(x)
        expected = functions["train"](x)
        np.testing.assert_allclose(cost, expected, rtol=1e-12)
        np.testing.assert_allclose(built.get_value("ws"), functions["train"].finder["ws"].value, rtol=1e-12)


def test_in_process_fast_run_shows_fusion_and_follows_config_threads():
    """debugprint of a FAST_RUN function shows its fused nodes; ag.config.num_threads reaches its module."""
    from aotgraph.toolchain import loader

    x, y = at.dvectors("x", "y")
    f = ag.function([x, y], at.sum((x - y) ** 2), mode="FAST_RUN")
    assert "fused_reduce{expr=sqr((i0 - i1))" in ag.printing.debugprint(f, file="str")
    np.testing.assert_allclose(f(np.ones(3), np.zeros(3)), 3.0)
    before = ag.config.num_threads
    try:
        ag.config.num_threads = 1
        assert all(m._get_num_threads() == 1 for m in loader._loaded.values())
        with pytest.raises(ValueError, match="num_threads"):
            ag.config.num_threads = 0
    finally:
        ag.config.num_threads = before


def test_results_do_not_depend_on_where_values_lie(mod):
    """With the vector math functions (which round differently from the scalar ones), every element still gives
    the same bits whether its array is contiguous, misaligned, strided, in Fortran order or overwritten in
    place, and whatever its position in the loop."""
    built, _ = mod
    a, b, c = (x.astype("float64") for x in REDUCTIONS["big_issue"][2])
    want = built.big_issue(a, b, c)[0]
    for offset in (1, 3):
        store = np.empty((3, BIG + 8))
        store[:, offset:offset + BIG] = a, b, c
        got = built.big_issue(*store[:, offset:offset + BIG])[0]
        assert np.array_equal(got, want), f"misaligned by {offset} elements"
    strided = np.empty((3, 2 * BIG))
    strided[:, ::2] = a, b, c
    assert np.array_equal(built.big_issue(*strided[:, ::2])[0], want), "strided operands"
    assert np.array_equal(built.big_issue(a[5:], b[5:], c[5:])[0], want[5:]), "other positions in the loop"
    m = c[:300 * 900].reshape(300, 900)
    arow, brow = a[:900], b[:900].reshape(1, 900)
    want2 = built.issue_float64(arow, brow, m)[0]
    assert np.array_equal(built.issue_float64(arow, brow, np.asfortranarray(m))[0], want2), "Fortran order"
    y = _vals("float64", BIG, 32)
    same = y.copy()
    fresh = built.mutable(same, same)  # x and z one array: x is still read as z, so the result is a new array
    mine, other = y.copy(), y.copy()
    in_place = built.mutable(mine, other)
    assert not np.shares_memory(fresh, same) and np.shares_memory(in_place, mine)
    assert np.array_equal(in_place, fresh), "in place"


def test_the_chunk_constants_agree():
    from pathlib import Path

    from aotgraph.codegen.loops import CHUNK

    module = (Path(ag.__file__).parent / "templates" / "module.pyx.j2").read_text()  # each module has its own
    assert f"cdef cnp.npy_intp _ag_chunk = {CHUNK}\n" in module


def test_fortran_ordered_operands_give_fortran_ordered_results(mod):
    """Like numpy's ufuncs ("K" order): the loop walks Fortran-ordered operands in memory order."""
    built, functions = mod
    a, b, c = ELEMWISE["issue_float64"][2]
    f_c = np.asfortranarray(_vals("float64", (5, 7), 31))
    got = _compare(built, functions, "issue_float64", (a, b, f_c))
    assert got[0].flags.f_contiguous and not got[0].flags.c_contiguous
    got = _compare(built, functions, "issue_float64", (a, b, c))
    assert got[0].flags.c_contiguous

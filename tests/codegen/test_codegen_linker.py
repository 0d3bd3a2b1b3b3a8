"""mode='FAST_RUN' in process: live shared variables, cache hits, profiling, errors, unsupported ops."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.toolchain import cache


def test_shared_state_is_live():
    w = ag.shared(np.zeros(3), name="w")
    x = at.dvector("x")
    acc = ag.function([x], w * x, updates=[(w, w + x)], mode="FAST_RUN")
    peek = ag.function([], w * 2, mode="FAST_RUN")
    assert acc(np.ones(3)).tolist() == [0, 0, 0]
    assert w.get_value().tolist() == [1, 1, 1]  # the compiled call updated the live container
    w.set_value(np.full(3, 5.0))
    assert acc(np.ones(3)).tolist() == [5, 5, 5]  # and it reads set_value's value
    assert peek().tolist() == [12, 12, 12]  # another function over the same shared variable


def test_in_process_modules_cimport_one_support_extension():
    """The kernel support and the C front are one extension (built once per cache or at install) that every
    in-process module cimports and finds beside itself; a module built with ag.build stands alone."""
    import sys

    from aotgraph.codegen.render import render_module, render_support
    from aotgraph.toolchain import loader
    from aotgraph.toolchain.compiler import EXT_SUFFIX

    w = ag.shared(np.zeros(3), name="w")
    x = at.dvector("x")
    acc = ag.function([x], w * x, updates=[(w, w + x)], mode="FAST_RUN")  # the graphs of test_shared_state_is_live
    peek = ag.function([], w * 2, mode="FAST_RUN")
    name, pyx, pxd = render_support()
    support = sys.modules[name]
    assert type(acc) is type(peek) and type(acc).__mro__[1] is support._FastCall
    assert type(acc._thunk.__self__) is support._Kernel
    modules = [m for m in loader._loaded.values() if m.__name__.startswith("aotgraph_k_")]
    assert len(modules) >= 2
    for module in modules:
        assert not hasattr(module, "_FastCall") and module._get_num_threads is support._get_num_threads
        assert (Path(module.__file__).parent / (name + EXT_SUFFIX)).exists()
    assert f"from {name} cimport" not in render_module([], runtime=True)
    assert "cdef class _FastCall" in render_module([], runtime=True) and "cdef class _FastCall" in pyx
    assert "cdef class _Kernel:" in pxd
    # in process, the kernels and the support cimport aotgraph's few numpy declarations (less Cython time and C);
    # a built module stands alone with numpy's own
    for module in modules:
        cython = list(Path(module.__file__).parent.glob("aotgraph_k_*.pyx"))
        if not cython:  # written in C (codegen/cmodule.py): it calls the support's exported C functions
            source = next(Path(module.__file__).parent.glob("aotgraph_k_*.c")).read_text()
            assert f'PyImport_ImportModule("{name}")' in source
            continue
        source = cython[0].read_text()
        assert "cimport _aotgraph_numpy as cnp" in source and "cimport numpy" not in source
        assert (Path(module.__file__).parent / "_aotgraph_numpy.pxd").exists()
    assert "cimport _aotgraph_numpy as cnp" in pxd and "cimport _aotgraph_numpy as cnp" in pyx
    assert "cimport numpy as cnp" in render_module([], runtime=True)


def test_same_graph_again_is_a_cache_hit():
    x = at.dmatrix("x")
    f = ag.function([x], at.exp(x) * 2 + 1, mode="FAST_RUN")
    a = np.arange(6.0).reshape(2, 3)
    expected = f(a)  # its module is built (its compiler may have run in the background)
    builds = cache.stats.builds
    x2 = at.dmatrix("other name")
    g = ag.function([x2], at.exp(x2) * 2 + 1, mode="FAST_RUN", name="g")
    np.testing.assert_array_equal(g(a), expected)
    assert cache.stats.builds == builds  # names and constants never reach the source


def test_constants_are_data(tmp_path):
    x = at.dvector("x")
    f = ag.function([x], x + np.arange(3.0) * 1.5, mode="FAST_RUN")
    assert f(np.zeros(3)).tolist() == [0, 1.5, 3.0]  # its module is built
    builds = cache.stats.builds
    g = ag.function([x], x + np.arange(3.0) * 2.5, mode="FAST_RUN")
    assert g(np.zeros(3)).tolist() == [0, 2.5, 5.0]
    assert cache.stats.builds == builds


def test_profile_has_per_node_timings():
    x = at.dmatrix("x")
    f = ag.function([x], [at.sum(at.exp(x)), at.dot(x, x.T)], mode="FAST_RUN", profile=True)
    f(np.ones((3, 3)))
    f(np.ones((3, 3)))
    stats = f.profile
    labels = [label for _, label in stats.node_time]
    assert any("exp" in label for label in labels) and any("matmul" in label for label in labels)
    assert all(count == 2 for count in stats.node_callcount.values())
    assert "matmul" in stats.summary()


def test_errors_name_the_node_and_leave_state_alone():
    w = ag.shared(np.zeros(2), name="w")
    x = at.dvector("x")
    f = ag.function([x], w + x, updates=[(w, w + x)], mode="FAST_RUN")
    with pytest.raises(ValueError, match="while computing") as info:
        f(np.ones(3))
    assert __file__ in str(info.value)
    assert w.get_value().tolist() == [0, 0]


def test_trust_input_and_conversions():
    x = at.dscalar("x")
    f = ag.function([x], 2 * x, mode="FAST_RUN")
    assert f(4) == 8.0 and f(np.float64(4)) == 8.0
    f.trust_input = True
    assert f(np.array(4.0)) == 8.0
    assert f(4.0) == 8.0  # the kernel converts what the Function did not check


def test_calls_without_state_enter_c_and_agree_with_the_general_path():
    """The compiled module's C front (`_FastCall`) takes plain positional calls; everything else, and
    every argument it does not take as is, goes to the runtime's general path with its checks."""
    x, y = at.dvector("x"), at.dscalar("y")
    f = ag.function([x, y], [x * y, at.sum(x) + y], mode="FAST_RUN", name="two")
    assert isinstance(f, ag.Function) and type(f).__name__ == "Function"
    assert [c.__name__ for c in type(f).__mro__][:3] == ["Function", "_FastCall", "Function"]
    a = np.arange(3.0)
    first, second = f(a, 2.0), f(a, 2.0)
    assert first is not second and first[0] is not second[0]  # new list, new arrays on every call
    for got in (first, f(a, np.array(2.0)), f([0, 1, 2], 2), f(y=2.0, x=a), f(a[::-1][::-1], np.float64(2))):
        np.testing.assert_array_equal(got[0], a * 2.0)
        assert got[1] == 5.0 and got[1].dtype == np.float64
    with pytest.raises(TypeError, match="'x'.*'two'"):
        f(np.zeros((2, 2)), 2.0)
    with pytest.raises(TypeError, match="'two'.*missing"):
        f(a)
    f.trust_input = True
    assert f.trust_input is True and f(a, np.array(3.0))[1] == 6.0
    f.profile = ag.ProfileStats()  # profiled calls leave the C front for the timed path
    f(a, 1.0), f(a, 1.0)
    assert f.profile.fct_callcount["two"] == 2
    f.profile, f.trust_input = None, False
    clone = f.copy()
    assert type(clone) is type(f)
    np.testing.assert_array_equal(clone(a, 1.0)[0], a)


def test_calls_with_state_in_c_commit_updates_and_copy_what_aliases():
    w = ag.shared(np.zeros(3), name="w")
    steps = ag.shared(np.int64(0), name="steps")
    x = at.dvector("x")
    f = ag.function([x], [w, w * x], updates=[(w, x), (steps, steps + 1)], mode="FAST_RUN")
    a = np.arange(3.0)
    old_w, product = f(a)
    assert old_w.tolist() == [0, 0, 0] and product.tolist() == [0, 0, 0] and steps.get_value() == 1
    a[:] = 7.0  # the update was copied: the caller's array is not w's storage
    assert w.get_value().tolist() == [0, 1, 2]
    old_w[:] = -1.0  # the output was copied: it is not the storage of w's old value either
    current, _ = f(np.ones(3))
    assert current.tolist() == [0, 1, 2] and w.get_value().tolist() == [1, 1, 1]
    with pytest.raises(TypeError, match="'x'"):  # refused by the general path: nothing changes
        f(np.ones((2, 2)))
    with pytest.raises(ValueError, match="while computing"):  # fails inside the kernel: nothing changes
        f(np.ones(4))
    assert w.get_value().tolist() == [1, 1, 1] and steps.get_value() == 2
    f.profile = ag.ProfileStats()
    f(np.ones(3))
    assert f.profile.fct_callcount["<unnamed>"] == 1 and steps.get_value() == 3


def test_changing_settings_while_other_threads_call():
    """trust_input and profile switch calls between the C front and the runtime's path while other threads
    call: every call still commits its update exactly once."""
    import threading

    total = ag.shared(np.zeros(20_000), name="total")  # large enough that the loops release the GIL
    x = at.dvector("x")
    f = ag.function([x], total.sum(), updates=[(total, total + x)], mode="FAST_RUN")
    ones, calls, workers = np.ones(20_000), 300, 4
    errors = []

    def work():
        try:
            for k in range(calls):
                f(ones) if k % 2 else f(x=ones)  # by position and by keyword
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for k in range(200):
        f.trust_input = bool(k % 2)
        f.profile = ag.ProfileStats() if k % 3 == 0 else None
    for t in threads:
        t.join()
    assert not errors
    np.testing.assert_array_equal(total.get_value(), np.full(20_000, float(calls * workers)))


def test_a_column_operand_meets_fortran_ordered_operands():
    """A (n, 1) operand is read once per row; a Fortran-ordered operand must not make the loop run over
    reversed axes then (it did, and added column[0] to every row)."""
    x = at.dmatrix("x")
    column = at.tensor("float64", shape=(None, 1), name="column")
    f = ag.function([x, column], [x + column, at.exp(x) * column - x], mode="FAST_RUN")
    a, b = np.arange(12.0).reshape(3, 4), np.array([[1.0], [-2.0], [3.0]])
    for operands in [(a, b), (np.asfortranarray(a), b), (np.asfortranarray(a), np.asfortranarray(b)), (a.T.T, b)]:
        got = f(*operands)
        np.testing.assert_array_equal(got[0], a + b)
        np.testing.assert_allclose(got[1], np.exp(a) * b - a, rtol=1e-15)


def test_float_sums_along_the_last_axis_are_pairwise_accurate():
    """Each row's segments are combined pairwise too (they were added one after another: 5.6e-7 relative
    error on these rows, against 2e-8 for numpy)."""
    x = at.fmatrix("x")
    f = ag.function([x], x.sum(axis=1), mode="FAST_RUN")
    a = np.random.default_rng(0).random((2, 4_000_000), dtype=np.float32)
    exact = a.astype(np.float64).sum(axis=1)
    numpy_error = np.max(np.abs(a.sum(axis=1) - exact) / exact)
    assert np.max(np.abs(f(a) - exact) / exact) <= max(8 * numpy_error, 1e-7)


def test_pickle_in_process():
    w = ag.shared(np.ones(2), name="w")
    x = at.dvector("x")
    f = ag.function([x], w * x, updates=[(w, w * 2)], mode="FAST_RUN", name="f")
    f(np.ones(2))
    g = pickle.loads(pickle.dumps(f))
    assert g(np.ones(2)).tolist() == [2, 2]


def test_unsupported_op_is_named(monkeypatch):
    from aotgraph.codegen import ops

    x = at.dmatrix("x")
    monkeypatch.delitem(ops.OPS, "matmul")
    with pytest.raises(NotImplementedError, match="'matmul'"):
        ag.function([x], at.dot(x, x), mode="FAST_RUN")


def test_runners_leave_the_upper_halves_of_vector_registers_clean():
    """Kernel modules build with -march=native at -O1, where gcc puts no vzeroupper after code that used the ymm
    registers: each runner ends with one (module.pyx.j2: _clear_upper), else every SSE instruction after it, in
    CPython and numpy, is slowed (the call of a 0-d loop took 0.40 us instead of 0.14)."""
    import shutil
    import subprocess
    import sys

    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("no objdump to read the module's machine code")
    x = at.dscalar("x")
    f = ag.function([x], 2 * x + 1, mode="FAST_RUN")
    f._thunk.__self__.wait()  # its module may still be compiling (config.background_builds)
    path = sys.modules[f._thunk.__self__.module].__file__
    asm = subprocess.run([objdump, "-d", "--no-show-raw-insn", path], capture_output=True, text=True,
                         check=True).stdout
    if "%ymm" not in asm:
        pytest.skip("the module's code uses no 256-bit registers on this CPU")
    runner = asm.split("_k0_run>:\n", 1)[1].split("\n\n", 1)[0]  # Cython: __pyx_f_..._k0_run; C: ag_k0_run
    assert "vzeroupper" in runner, runner

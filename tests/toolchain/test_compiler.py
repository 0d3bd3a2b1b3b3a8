"""compile_extension: build, import elsewhere, cache hits, rebuilds, concurrency, and its errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from buildcases import ADD_PYX, DATA_PYX, REPO, npy_bytes, unique

from aotgraph.toolchain import BuildError, BuildOptions, CompilerMissingError, cache, compile_extension, compiler, probe
from aotgraph.toolchain.compiler import EXT_SUFFIX

IMPORT_ADD = """
import sys, numpy as np
sys.path.insert(0, {path!r})
import {name} as m
a = np.arange(4.0); out = np.empty(4)
m.add(a, a, out)
print(out.tolist(), m.__doc__)
"""


@pytest.fixture(scope="module")
def add_dir() -> str:
    return compile_extension("ag_add", unique(ADD_PYX, "add"))


def test_built_module_imports_with_numpy_alone(add_dir, run_python):
    files = sorted(os.listdir(add_dir))
    assert "ag_add.pyx" in files and f"ag_add{EXT_SUFFIX}" in files and cache.MANIFEST in files
    out = run_python(IMPORT_ADD.format(path=add_dir, name="ag_add"))  # python -I: no aotgraph on the path
    assert out.strip() == "[0.0, 2.0, 4.0, 6.0] Adds two vectors."


def test_second_build_is_a_cache_hit(add_dir):
    before = dataclass_copy(cache.stats)
    start = time.perf_counter()
    again = compile_extension("ag_add", unique(ADD_PYX, "add"))
    elapsed = time.perf_counter() - start
    print(f"cache hit in {elapsed * 1000:.2f} ms")
    assert again == add_dir
    assert cache.stats.hits == before.hits + 1 and cache.stats.builds == before.builds


def test_cache_hit_in_a_fresh_process_imports_no_build_tools(add_dir, run_python):
    code = f"""
import sys, time
from aotgraph.toolchain import compile_extension, cache
start = time.perf_counter()
path = compile_extension("ag_add", {unique(ADD_PYX, "add")!r})
elapsed = time.perf_counter() - start
assert path == {add_dir!r} and cache.stats.hits == 1 and cache.stats.builds == 0, (path, cache.stats)
heavy = [m for m in ("setuptools", "Cython", "jinja2", "filelock") if m in sys.modules]
print(f"{{elapsed * 1000:.2f}}", heavy)
"""
    ms, heavy = run_python(code, isolated=False).split(maxsplit=1)
    print(f"first cache hit in a fresh process: {ms} ms")
    assert heavy.strip() == "[]"
    assert float(ms) < 100


def test_flags_are_part_of_the_key(add_dir):
    source = unique(ADD_PYX, "add")
    plain = compiler.plan_module("ag_add", source, BuildOptions(), shared=None)
    assert plain.key != compiler.plan_module("ag_add", source, BuildOptions(native=True), shared=None).key
    assert plain.key != compiler.plan_module("ag_add", source, BuildOptions(openmp=True), shared=None).key
    assert plain.key != compiler.plan_module("ag_add", source, BuildOptions(vector_math=True), shared=None).key
    assert plain.key != compiler.plan_module("ag_add2", source, BuildOptions(), shared=None).key
    assert plain.key != compiler.plan_module("ag_add", source + "\n", BuildOptions(), shared=None).key


def test_data_files_sit_beside_the_module_and_new_data_needs_no_compile(run_python):
    source = unique(DATA_PYX, "data")
    first = compile_extension("ag_data", source, {"weights.npy": npy_bytes(np.arange(3.0))})
    builds = cache.stats.builds
    second = compile_extension("ag_data", source, {"weights.npy": npy_bytes(np.full(3, 10.0))})
    assert cache.stats.builds == builds, "changing only the data must not recompile"
    assert first != second
    assert os.path.samefile(Path(first) / f"ag_data{EXT_SUFFIX}", Path(second) / f"ag_data{EXT_SUFFIX}")
    code = (
        "import sys, numpy as np; sys.path.insert(0, {!r}); import ag_data; print(ag_data.scaled(np.ones(3)).tolist())"
    )
    assert run_python(code.format(first)).strip() == "[0.0, 1.0, 2.0]"
    assert run_python(code.format(second)).strip() == "[10.0, 10.0, 10.0]"


def test_corrupt_extension_is_detected_and_rebuilt(run_python):
    source = unique(ADD_PYX, "corrupt")
    path = compile_extension("ag_corrupt", source)
    so = Path(path) / f"ag_corrupt{EXT_SUFFIX}"
    os.truncate(so, so.stat().st_size // 2)  # an interrupted copy, a full disk
    builds = cache.stats.builds
    assert compile_extension("ag_corrupt", source) == path
    assert cache.stats.builds == builds + 1
    assert cache.is_valid(Path(path))
    assert "[0.0, 2.0, 4.0, 6.0]" in run_python(IMPORT_ADD.format(path=path, name="ag_corrupt"))


CONCURRENT = """
import sys, time
from aotgraph.toolchain import compile_extension, cache
start_at = float(sys.argv[1])
time.sleep(max(0.0, start_at - time.time()))
path = compile_extension("ag_race", sys.argv[2])
print(path, cache.stats.builds)
"""


def test_two_processes_building_the_same_module_both_succeed(add_dir, run_python):
    source = unique(ADD_PYX, f"race {time.time()}")  # new in every run, so the race really builds
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start_at = str(time.time() + 1.5)  # both past their imports, then compile together
    procs = [
        subprocess.Popen([sys.executable, "-c", CONCURRENT, start_at, source], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    results = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), results
    paths, builds = zip(*(out.split() for out, _ in results))
    assert paths[0] == paths[1]
    assert sorted(builds) == ["0", "1"], "one process compiled, the other waited for it and reused its build"
    assert "[0.0, 2.0, 4.0, 6.0]" in run_python(IMPORT_ADD.format(path=paths[0], name="ag_race"))


def test_unwritable_cache_falls_back_with_a_warning(tmp_path, monkeypatch, run_python):
    blocker = tmp_path / "somefile"
    blocker.write_text("a file, so nothing can be created under it, even by root")
    monkeypatch.setenv("AOTGRAPH_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(cache, "_fallbacks", {})
    monkeypatch.setattr(compiler, "USE_SHARED_UTILITY", False)  # keep this build small
    source = "# test: fallback\ndef twice(x):\n    return 2 * x\n"
    with pytest.warns(RuntimeWarning, match=r"cannot write to its build cache .*somefile"):
        path = compile_extension("ag_fallback", source)
    assert not path.startswith(str(blocker))
    code = f"import sys; sys.path.insert(0, {path!r}); import ag_fallback; print(ag_fallback.twice(21))"
    assert run_python(code).strip() == "42"


def test_cython_error_names_the_kept_pyx_and_quotes_cython():
    source = "# test: cython error\ndef broken(x):\n    cdef int y = \n    return x\n"
    with pytest.raises(BuildError) as info:
        compile_extension("ag_cython_error", source)
    message = str(info.value)
    kept = Path(message.split("kept at ")[1].split()[0])
    assert kept.name == "ag_cython_error.pyx" and kept.read_text() == source
    assert kept.parent.parent.name == "failed"
    assert "Cython failed" in message and "Expected an identifier or literal" in message
    assert (kept.parent / "build.log").exists()


def test_c_compiler_error_names_the_kept_pyx_and_quotes_the_compiler():
    source = '# test: C error\ncdef extern from *:\n    """\n    #error aotgraph_test_c_error\n    """\n'
    with pytest.raises(BuildError) as info:
        compile_extension("ag_c_error", source)
    message = str(info.value)
    assert "C compiler failed" in message and "aotgraph_test_c_error" in message
    kept = Path(message.split("kept at ")[1].split()[0])
    assert kept.read_text() == source and kept.with_suffix(".c").exists()


def test_compiler_timeout_is_a_setting_and_its_error_names_it(add_dir, monkeypatch):  # add_dir: utility built
    from aotgraph.configparser import config
    from aotgraph.toolchain import CompileTimeoutError

    monkeypatch.setattr(config, "compile_timeout", 0.001)  # no compiler finishes a module in a millisecond
    source = unique("# test: compiler timeout\ndef twice(x):\n    return 2 * x\n", "timeout")
    with pytest.raises(CompileTimeoutError) as info:
        compile_extension("ag_timeout", source)
    message = str(info.value)
    assert "did not finish within 0.001 s" in message
    assert "AOTGRAPH_COMPILE_TIMEOUT" in message and "aotgraph.config.compile_timeout" in message
    assert Path(message.split("kept at ")[1].split()[0]).read_text() == source
    monkeypatch.setattr(config, "compile_timeout", 600)
    assert compile_extension("ag_timeout", source)  # nothing of the stopped build was cached


def test_prebuilt_helpers_keys_ignore_where_numpy_headers_are(monkeypatch):
    """setup.py builds the helpers in pip's build environment (numpy's headers elsewhere): same keys."""
    companion = compiler.Companion("_aotgraph_support_test", "# pyx\n", "# pxd\n")
    plan = compiler._companion_plan(companion, openmp=True, shared="_aotgraph_cyutility_x")
    monkeypatch.setattr(compiler, "_numpy_include", lambda: "/elsewhere/numpy/_core/include")
    moved = compiler._companion_plan(companion, openmp=True, shared="_aotgraph_cyutility_x")
    assert "/elsewhere/numpy" in " ".join(moved.chain.argv) and moved.key == plan.key
    assert compiler._companion_plan(companion, openmp=False, shared="_aotgraph_cyutility_x").key != plan.key
    changed = compiler.Companion("_aotgraph_support_test", "# pyx, changed\n", "# pxd\n")
    assert compiler._companion_plan(changed, openmp=True, shared="_aotgraph_cyutility_x").key != plan.key


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_compile_timeout_refuses_a_bad_value_naming_it(monkeypatch, value):
    from aotgraph.configparser import Config, config

    monkeypatch.setenv("AOTGRAPH_COMPILE_TIMEOUT", value)
    with pytest.raises(ValueError, match="AOTGRAPH_COMPILE_TIMEOUT"):
        Config()
    with pytest.raises(ValueError, match="config.compile_timeout"):
        config.compile_timeout = value
    monkeypatch.setenv("AOTGRAPH_COMPILE_TIMEOUT", "42.5")
    assert Config().compile_timeout == 42.5


@pytest.mark.parametrize("how", ["CC", "PATH"])
def test_missing_compiler_says_what_to_install(monkeypatch, how):
    if how == "CC":
        monkeypatch.setenv("CC", "/nonexistent/cc")
    else:
        monkeypatch.delenv("CC", raising=False)
        monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(CompilerMissingError) as info:
        compile_extension("ag_no_cc", unique(ADD_PYX, "no compiler"))
    message = str(info.value)
    assert "No C compiler found" in message and "apt-get install gcc" in message and "FAST_COMPILE" in message


PRANGE_PYX = """\
# cython: boundscheck=False, wraparound=False
from cython.parallel import prange

def total(double[::1] x):
    cdef double s = 0
    cdef Py_ssize_t i
    for i in prange(x.shape[0], nogil=True):
        s += x[i]
    return s
"""


def test_native_and_openmp_flags_reach_the_compiler(run_python):
    path = compile_extension("ag_omp", unique(PRANGE_PYX, "omp"), options=BuildOptions(native=True, openmp=True))
    log = (Path(path) / "build.log").read_text()
    assert "-march=native" in log and "-fopenmp" in log
    code = f"import sys, numpy as np; sys.path.insert(0, {path!r}); import ag_omp; print(ag_omp.total(np.ones(1000)))"
    assert run_python(code).strip() == "1000.0"


def test_openmp_unsupported_falls_back_with_a_warning(monkeypatch):
    monkeypatch.setattr(probe, "_openmp_works", lambda argv, ldflags: False)
    with pytest.warns(RuntimeWarning, match="does not support OpenMP"):
        path = compile_extension("ag_no_omp", unique(PRANGE_PYX, "no omp"), options=BuildOptions(openmp=True))
    assert "-fopenmp" not in (Path(path) / "build.log").read_text()


def dataclass_copy(stats):
    import dataclasses

    return dataclasses.replace(stats)


def test_cache_dir_argument_overrides_the_environment(tmp_path, monkeypatch):
    monkeypatch.setattr(compiler, "USE_SHARED_UTILITY", False)  # keep this build small
    path = compile_extension("ag_elsewhere", "# test: cache_dir\ndef one():\n    return 1\n", cache_dir=str(tmp_path))
    assert Path(path).parent.parent == tmp_path


def test_vector_math_probe_checks_the_functions_it_is_given():
    """The probe compiles a loop over exactly the functions the code generator names (BuildOptions): one the
    C library has no vector variant of turns vector math off; the ops' own list keeps it on where glibc has
    libmvec (>= 2.35)."""
    from aotgraph.codegen.scalar import vector_math_functions

    chain = probe.toolchain(BuildOptions(vector_math=True))
    assert chain.vector_math and "-DAOTGRAPH_VECTOR_MATH" in chain.argv
    assert "extern double asin(double);" in probe.vector_probe_source((("asin", 1),))
    assert "extern float powf(float, float);" in probe.vector_probe_source((("pow", 2),))
    missing = probe.resolve_vector_math(chain, (("exp", 1), ("aotgraph_no_such_function", 1)))
    assert not missing.vector_math and "-DAOTGRAPH_VECTOR_MATH" not in missing.argv
    assert probe.resolve_vector_math(probe.toolchain(), (("aotgraph_no_such_function", 1),)).vector_math is False
    if not probe.resolve_vector_math(chain, (("exp", 1),)).vector_math:
        pytest.skip("this C library has no vector math functions")
    assert probe.resolve_vector_math(chain, vector_math_functions()).vector_math


def test_probes_started_before_cython_leave_their_answers_to_the_resolvers(monkeypatch):
    """A build starts the OpenMP and vector math probes (compiles) before Cython runs, so that they overlap it;
    resolving the flags after Cython then compiles nothing, and gives what probing there would have given."""
    chain = probe.toolchain(BuildOptions(openmp=True, vector_math=True))
    functions = (("exp", 1),)
    probe._openmp_works.cache_clear()
    probe._vector_math_works.cache_clear()
    probe.start_probes(chain, functions).join()
    with monkeypatch.context() as patched:
        patched.setattr(probe.subprocess, "run", lambda *a, **k: pytest.fail("a probe compiled again"))
        early = probe.resolve_vector_math(probe.resolve_openmp(chain), functions)
    probe._openmp_works.cache_clear()
    probe._vector_math_works.cache_clear()
    assert early == probe.resolve_vector_math(probe.resolve_openmp(chain), functions)

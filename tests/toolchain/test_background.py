"""Background builds (toolchain/loader.py `build_in_background`): `ag.function` returns once Cython is done, the C
compiler finishes the module while the program goes on, and the function's first call waits for it."""

from __future__ import annotations

import json
import os
import select
import threading
import traceback

import numpy as np
import pytest
from buildbatches import fast_run_available

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.configparser import config
from aotgraph.toolchain import BuildError, CompileTimeoutError, loader

pytestmark = pytest.mark.skipif(not fast_run_available(), reason="needs Cython and a C compiler")


@pytest.fixture(autouse=True)
def support_loaded():
    """Background builds start once the kernel support is imported: the first compiled function of a process."""
    x = at.dscalar("x")
    assert ag.function([x], 2 * x, mode="FAST_RUN")(4.0) == 8.0


def pending_names() -> set[str]:
    return set(loader._pending)


def test_function_returns_before_its_module_is_built_and_the_first_call_waits():
    x = at.dvector("x")
    before = pending_names()
    f = ag.function([x], at.tanh(x) * 3.0 - at.sinh(x), mode="FAST_RUN")
    assert len(pending_names() - before) == 1  # built in the background: not imported yet
    value = np.linspace(-1.0, 1.0, 7)
    np.testing.assert_allclose(f(value), np.tanh(value) * 3.0 - np.sinh(value))
    assert pending_names() == before  # imported at the first call
    assert "tanh" in f.source


def test_source_waits_for_the_module():
    x = at.dvector("x")
    f = ag.function([x], at.arctan(x) + at.cosh(x) * 5.0, mode="FAST_RUN")
    assert "atan" in f.source
    np.testing.assert_allclose(f(np.arange(3.0)), np.arctan(np.arange(3.0)) + np.cosh(np.arange(3.0)) * 5.0)


def test_threads_calling_a_function_being_built_all_get_its_result():
    x = at.dvector("x")
    f = ag.function([x], at.exp(-x) * at.log1p(x), mode="FAST_RUN")
    value = np.linspace(0.0, 2.0, 11)
    results, errors = [], []

    def call():
        try:
            results.append(f(value))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 8
    for result in results:
        np.testing.assert_allclose(result, np.exp(-value) * np.log1p(value))


def test_a_compiler_failure_raises_at_the_first_call_and_the_cache_stays_consistent(monkeypatch):
    x = at.dvector("x")
    monkeypatch.setattr(config, "compile_timeout", 0.001)  # no compiler finishes a module in a millisecond
    f = ag.function([x], at.sqrt(x) * 7.0 + at.expm1(x), mode="FAST_RUN")  # Cython succeeded: no error yet
    depths = []
    for _ in range(5):  # every call says why, and with its own traceback: a shared one would grow at every call
        with pytest.raises(CompileTimeoutError, match="did not finish within 0.001 s") as info:
            f(np.ones(3))
        assert "kept at" in str(info.value) and isinstance(info.value, BuildError)
        assert any("ag.function on the same graph builds it again" in note for note in info.value.__notes__)
        depths.append(len(traceback.extract_tb(info.value.__traceback__)))
    assert depths == depths[:1] * 5, depths
    monkeypatch.setattr(config, "compile_timeout", 600)
    g = ag.function([x], at.sqrt(x) * 7.0 + at.expm1(x), mode="FAST_RUN")  # nothing of the stopped build cached
    np.testing.assert_allclose(g(np.ones(3)), np.sqrt(1.0) * 7.0 + np.expm1(np.ones(3)))


def test_cython_errors_raise_at_once():
    with pytest.raises(BuildError, match="Cython failed to compile the generated module"):
        loader.build_in_background("def broken(:\n    pass\n")


def test_background_builds_can_be_turned_off(monkeypatch):
    monkeypatch.setattr(config, "background_builds", False)
    x = at.dvector("x")
    before = pending_names()
    f = ag.function([x], at.cos(x) * 4.0 - at.arcsinh(x), mode="FAST_RUN")
    assert pending_names() == before and f._thunk.__self__.module in loader._loaded  # imported by ag.function
    value = np.arange(4.0)
    np.testing.assert_allclose(f(value), np.cos(value) * 4.0 - np.arcsinh(value))


def test_exit_with_a_pending_build_completes_its_cache_entry(run_python, tmp_path):
    code = """
import json
import numpy as np
import aotgraph as ag, aotgraph.tensor as at
from aotgraph.toolchain import cache, loader
x = at.dscalar("x")
ag.function([x], 2 * x, mode="FAST_RUN")(1.0)
v = at.dvector("v")
f = ag.function([v], at.log(v) * 9.0 + at.sin(v), mode="FAST_RUN")
print(json.dumps([len(loader._pending), CALL]))
"""
    env = {"AOTGRAPH_CACHE_DIR": str(tmp_path)}
    assert run_python(code.replace("CALL", "0"), isolated=False, env=env).strip().splitlines()[-1] == "[1, 0]"
    # the first process exited while its module was being built: the next one finds it in the cache
    call = "cache.stats.builds, f(np.full(2, 2.0)).tolist(), 'filelock' in sys.modules"
    out = run_python(code.replace("import json", "import json, sys").replace("CALL", call), isolated=False, env=env)
    pending, builds, values, locked = json.loads(out.strip().splitlines()[-1])
    assert (pending, builds, locked) == (0, 0, False)  # cache hits: no build, no thread, not even the file lock
    np.testing.assert_allclose(values, np.log(np.full(2, 2.0)) * 9.0 + np.sin(np.full(2, 2.0)))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_waits_for_pending_builds_and_the_child_can_call_the_function():
    x = at.dvector("x")
    f = ag.function([x], at.tan(x) * 6.0 + at.exp2(x), mode="FAST_RUN")
    value = np.linspace(0.0, 1.0, 5)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its module was built before the fork
        try:
            os.write(write, json.dumps(f(value).tolist()).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = json.loads(pipe.read())
    os.waitpid(pid, 0)
    np.testing.assert_allclose(child, np.tan(value) * 6.0 + np.exp2(value))
    np.testing.assert_allclose(f(value), child)


def test_a_build_thread_that_cannot_start_raises_and_the_next_function_builds(monkeypatch):
    x = at.dvector("x")

    def refuse(self):
        raise RuntimeError("can't start new thread")

    before = pending_names()
    with monkeypatch.context() as patch:
        patch.setattr(threading.Thread, "start", refuse)
        with pytest.raises(RuntimeError, match="can't start new thread"):
            ag.function([x], at.cosh(x) * 8.0 - at.tanh(x), mode="FAST_RUN")
    assert pending_names() == before  # nothing left for a later function to wait on forever
    done = []
    worker = threading.Thread(target=lambda: done.append(
        ag.function([x], at.cosh(x) * 8.0 - at.tanh(x), mode="FAST_RUN")(np.arange(3.0))), daemon=True)
    worker.start()
    worker.join(300)
    assert done, "the same graph's next function hung on the build that never started"
    np.testing.assert_allclose(done[0], np.cosh(np.arange(3.0)) * 8.0 - np.tanh(np.arange(3.0)))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_while_another_thread_holds_the_loader_lock_leaves_the_child_able_to_build():
    loader._wait_for_builds_at_fork()  # the fork hooks (registered by the first build of a process)
    held, release = threading.Event(), threading.Event()

    def hold():
        with loader._lock:  # as a build does, while it compiles or imports
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(30)
    threading.Timer(0.5, release.set).start()
    read, write = os.pipe()
    pid = os.fork()  # waits for the lock: the child must not inherit it held by a thread it does not have
    if pid == 0:
        try:
            v = at.dvector("v")
            g = ag.function([v], at.sinh(v) * 11.0 + at.arccos(v / 4.0), mode="FAST_RUN")
            os.write(write, json.dumps(g(np.arange(3.0)).tolist()).encode())
        finally:
            os._exit(0)
    os.close(write)
    holder.join()
    ready, _, _ = select.select([read], [], [], 300)
    if not ready:
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child = pipe.read() if ready else ""
    assert child, "the forked child hung on the loader's lock"
    value = np.arange(3.0)
    np.testing.assert_allclose(json.loads(child), np.sinh(value) * 11.0 + np.arccos(value / 4.0))

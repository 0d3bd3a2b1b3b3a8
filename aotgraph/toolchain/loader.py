"""Build a rendered module through the build cache and import it into this process, now (`build_and_import`) or
with the C compiler finishing in the background (`build_in_background`)."""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import os
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from types import ModuleType

from aotgraph.configparser import config
from aotgraph.toolchain.compiler import EXT_SUFFIX, Companion, cached_extension, compile_extension
from aotgraph.toolchain.errors import BuildError
from aotgraph.toolchain.options import BuildOptions

_loaded: dict[str, ModuleType] = {}
_pending: dict[str, PendingModule] = {}  # built in the background, not imported yet
_lock = threading.Lock()

# OpenMP threads that finish a loop early wait for the others; by default they spin (keeping a CPU busy) for
# a while. Where the CPUs are shared (containers, virtual machines, other busy threads) a spinning thread
# takes the CPU the working ones need, and two threads end up slower than one. Our parallel loops are large
# (>= 65536 elements), so sleeping costs little: unless the user chose, waiting threads sleep. (This applies
# when the OpenMP runtime is loaded later in the process, as it is by the first compiled module.)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def module_name_for(source: str) -> str:
    """A module name derived from the source (same source, same name: in this and any other process)."""
    return "aotgraph_k_" + hashlib.sha256(source.encode()).hexdigest()[:24]


def build_and_import(source: str, options: BuildOptions = BuildOptions(), *,
                     companion: Companion | None = None) -> ModuleType:
    """The module compiled from `source` (a cache hit when it was built before), imported once per process.

    companion: an extension that `source` cimports (built once per cache, imported before the module).

    Its loops use `aotgraph.config.num_threads` threads (and follow later assignments to it).
    """
    name = module_name_for(source)
    module = _loaded.get(name)
    if module is not None:
        return module
    pending = _pending.get(name)
    if pending is not None:
        return pending.result()
    with _lock:
        if name not in _loaded:
            found = cached_extension(name, source, options, companion=companion)  # a hit imports no file lock
            if found is None:
                _wait_for_builds_at_fork()  # a fork during this build waits for it (the child must not inherit _lock)
                found = compile_extension(name, source, {}, options, companion=companion)
            _import(name, Path(found))
    return _loaded[name]


def build_in_background(source: str, options: BuildOptions = BuildOptions(), *,
                        companion: Companion | None = None) -> ModuleType | PendingModule:
    """`build_and_import(source, ...)`, or a PendingModule as soon as Cython is done with the module, its C compiler
    then running in a background thread while the caller goes on (a compiler is a process of its own: on a
    machine with two cores or more, it overlaps whatever the program does next).

    Cython's errors raise here, as from build_and_import; the compiler's (and its timeout) from `result()`.
    Background builds happen when `config.background_builds` is on and `companion`, the kernel support the module
    cimports, is already imported (kernels of a pending module are made with it); else the build is synchronous.
    """
    name = module_name_for(source)
    module = _loaded.get(name)
    if module is not None:
        return module
    if not config.background_builds or (companion is not None and companion.name not in sys.modules):
        return build_and_import(source, options, companion=companion)
    with _lock:
        if name not in _loaded and name not in _pending:
            found = cached_extension(name, source, options, companion=companion)
            if found is not None:  # a cache hit: no thread
                _import(name, Path(found))
        if name in _loaded:
            return _loaded[name]
        pending = _pending.get(name)
        if pending is None:
            _wait_for_builds_at_fork()
            pending = _pending[name] = PendingModule(name)
            worker = threading.Thread(target=pending._build, args=(source, options, companion),
                                      name=f"aotgraph build {name}")  # not a daemon: exit waits for the entry
            try:
                worker.start()
            except BaseException as exc:  # no thread (a thread or process limit): nobody may wait for this build
                del _pending[name]
                pending._fail(exc)
                raise
    pending.wait_for_cython()
    return pending.result() if pending.done() else pending  # done: a cache hit, or Cython's error raised here


class PendingModule:
    """A module built in a background thread (`build_in_background`). `result()` waits for its build and imports
    it once; a failed build raises its error (a BuildError naming the kept sources) at every `result()`."""

    def __init__(self, name: str):
        self.name = name
        self._future: Future = Future()
        self._cythonized = threading.Event()

    def _build(self, source: str, options: BuildOptions, companion: Companion | None) -> None:
        try:
            directory = compile_extension(self.name, source, {}, options, companion=companion,
                                          cythonized=self._cythonized)
        except BaseException as exc:  # kept for result(); a later build of the same source tries again
            with _lock:
                _pending.pop(self.name, None)
            exc.add_note("(The module was built in the background, config.background_builds: a function keeps "
                         "this error; ag.function on the same graph builds it again.)")
            self._fail(exc)
        else:
            self._future.set_result(Path(directory))
            self._cythonized.set()

    def _fail(self, error: BaseException) -> None:
        self._future.set_exception(error)
        self._cythonized.set()  # after the future is resolved: a Cython error is seen by wait_for_cython's caller

    def wait_for_cython(self) -> None:
        self._cythonized.wait()

    def done(self) -> bool:
        return self._future.done()

    def result(self) -> ModuleType:
        """The imported module, once its build is finished (waits for it; raises its error)."""
        module = _loaded.get(self.name)
        if module is not None:
            return module
        error = self._future.exception()
        if error is not None:
            raise _fresh(error)
        directory = self._future.result()
        with _lock:
            if self.name not in _loaded:
                _import(self.name, directory)
            _pending.pop(self.name, None)
        return _loaded[self.name]


def _fresh(error: BaseException) -> BaseException:
    """A copy of a failed build's `error` without its traceback: raising the stored error itself at every call would
    grow its traceback by each call's frames, and keep them (and their arrays) alive."""
    try:
        error = copy.copy(error)
    except Exception:  # noqa: BLE001 - an exception that does not copy: raised itself, its traceback reset
        pass
    return error.with_traceback(None)


def _wait_for_builds() -> None:
    """Before os.fork(): let the background builds finish, so that no build is half done in the child (which would
    have neither the thread nor the compiler of the build, and inherit the locks it held), then hold `_lock` over
    the fork, so that the child does not inherit it held by a thread it does not have."""
    for pending in list(_pending.values()):
        pending._future.exception()  # waits; the error, if any, is raised where the module is needed
    _lock.acquire()


def _after_fork_in_parent() -> None:
    _lock.release()


def _after_fork_in_child() -> None:
    """A build that started between `_wait_for_builds` and the fork has no thread here: it fails, and a new
    ag.function of its graph builds it again in this process."""
    for name, pending in list(_pending.items()):
        if not pending.done():
            del _pending[name]
            pending._fail(BuildError(f"the module {name!r} was being compiled in the parent process when this process "
                                     "forked from it: call ag.function again here to build it"))
    _lock.release()


@functools.cache
def _wait_for_builds_at_fork() -> None:
    """Run `_wait_for_builds` before each os.fork(), ahead of filelock's own hook (which stops lock releases until the
    fork is done, so a build finishing after it would wait forever): hooks run last registered first, and filelock
    registers its hook when it is imported."""
    import filelock  # noqa: F401 - the cache's builds lock with it

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_wait_for_builds, after_in_parent=_after_fork_in_parent,
                            after_in_child=_after_fork_in_child)


def _import(name: str, directory: Path) -> None:
    """Import built module `name` from `directory` into `_loaded` (under `_lock`), its loops following config."""
    module = import_from(directory, name)
    if hasattr(module, "_set_num_threads"):
        module._set_num_threads(config.num_threads)
    _loaded[name] = module


def set_num_threads(n: int) -> None:
    """Let the loops of every module imported by build_and_import use up to `n` threads."""
    with _lock:
        for module in _loaded.values():
            if hasattr(module, "_set_num_threads"):
                module._set_num_threads(n)


config.watch("num_threads", set_num_threads)


def import_from(directory: Path, name: str) -> ModuleType:
    """Import extension `name` from `directory` without putting `directory` on sys.path.

    Cython's shared utility module and the companion the module cimports, when the build put them beside it,
    are imported first (in that order: the companion uses the utility module) under their own names, which
    is where the extension looks for them.
    """
    for pattern in ("_aotgraph_cyutility_*", "_aotgraph_support_*"):
        for path in sorted(directory.glob(pattern + EXT_SUFFIX)):
            helper = path.name[: -len(EXT_SUFFIX)]
            if helper not in sys.modules:
                _exec(helper, path)
    return _exec(name, directory / f"{name}{EXT_SUFFIX}")


def _exec(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the built module {name!r} from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module

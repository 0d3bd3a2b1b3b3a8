"""Build a rendered module through the build cache and import it into this process."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import threading
from pathlib import Path
from types import ModuleType

from aotgraph.configparser import config
from aotgraph.toolchain.compiler import EXT_SUFFIX, Companion, compile_extension
from aotgraph.toolchain.options import BuildOptions

_loaded: dict[str, ModuleType] = {}
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
    with _lock:
        if name not in _loaded:
            directory = Path(compile_extension(name, source, {}, options, companion=companion))
            module = import_from(directory, name)
            if hasattr(module, "_set_num_threads"):
                module._set_num_threads(config.num_threads)
            _loaded[name] = module
    return _loaded[name]


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

"""Codegen tests: one build cache for the session, helpers to build many functions into one module.

Compiling costs seconds per module, so tests batch their functions: a test file builds one module
(`build_module`) from a dict of many functions and checks them all against the reference backend. Files
that check many kernels (elementwise, ops) build them in process in modules of <= ~2 MB of C instead
(tests/buildbatches.py): gcc's time grows with a module's C.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def codegen_cache_dir(tmp_path_factory) -> Path:
    """A fresh build cache for the session (subprocesses inherit AOTGRAPH_CACHE_DIR).

    AOTGRAPH_TEST_CACHE_DIR names a cache to keep across sessions instead (while developing).
    """
    keep = os.environ.get("AOTGRAPH_TEST_CACHE_DIR")
    path = Path(keep) if keep else tmp_path_factory.mktemp("aotgraph-codegen-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AOTGRAPH_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="session")
def build_modules(tmp_path_factory, codegen_cache_dir):
    """build_modules({module name: {public name: Function}}) -> {module name: imported module}.

    The modules build concurrently (the C compiler of one runs while Cython works on the next).
    """
    from concurrent.futures import ThreadPoolExecutor

    from aotgraph.codegen.aot import build

    def make(modules: dict) -> dict:
        outs = {name: tmp_path_factory.mktemp(f"built-{name}") for name in modules}
        with ThreadPoolExecutor(max_workers=2) as pool:
            done = [pool.submit(build, functions, name, outs[name]) for name, functions in modules.items()]
            for future in done:
                future.result()
        imported = {}
        for name, out in outs.items():
            sys.path.insert(0, str(out))
            try:
                imported[name] = importlib.import_module(name)
            finally:
                sys.path.remove(str(out))
        return imported

    return make


@pytest.fixture(scope="session")
def build_module(build_modules):
    """build_module(functions, name) -> the imported module built from {public name: Function}."""

    def make(functions: dict, name: str):
        return build_modules({name: functions})[name]

    return make

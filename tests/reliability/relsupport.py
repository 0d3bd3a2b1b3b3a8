"""Helpers of the reliability tests: the functions of relfunctions.py per mode, the modules built from them.

Compiling costs seconds per module, so the FAST_RUN versions of all these functions are compiled
into few in-process modules (`fast_run_batch`: what the FAST_RUN linker does for one spec, done for
many specs at once; the functions are then bound to the live shared variables by the same `bind`
that `ag.function` uses), and `ag.build` puts them all into importable modules of <= ~2 MB of C each, read as
one (buildbatches.BuiltModules). The two builds run concurrently (gcc of one while Cython works on the other).
A few tests also go through `ag.function(..., mode='FAST_RUN')` itself.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from buildbatches import fast_run_available

import aotgraph as ag

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BUILT_MODULE = "relmod"


def get_build():
    """`ag.build` (or codegen's `build` if not exported yet), or None without a compiled backend."""
    build = getattr(ag, "build", None)
    if callable(build):
        return build
    try:
        from aotgraph.codegen.aot import build
    except ImportError:
        return None
    return build


def fast_run_batch(functions: dict) -> dict:
    """FAST_RUN versions of `functions` (compiled in any mode): a kernel per function.

    The kernels come from DebugMode's `compile_kernels` (what the FAST_RUN linker does for one spec, for
    many specs in one build; in as few modules of <= ~2 MB of C as fit: `compile_batched`); `bind` then does
    what `ag.function` does after the linker.
    """
    from buildbatches import compile_batched

    from aotgraph.compile.function import bind
    from aotgraph.rewrite import optimize_spec

    specs = {name: optimize_spec(fn._spec, "fast_run") for name, fn in functions.items()}
    kernels = compile_batched(specs, "reliability")  # modules of <= ~2 MB of C (tests/buildbatches.py)
    return {name: bind(spec, kernels[name].run) for name, spec in specs.items()}


class Compiled:
    """The functions of relfunctions.py in each mode, and the built module; each compiled once, on first use."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self._pool = ThreadPoolExecutor(max_workers=2)
        self._futures = {}

    def _start(self) -> None:
        if self._futures:
            return
        from relfunctions import all_functions

        if fast_run_available():
            self._futures["FAST_RUN"] = self._pool.submit(lambda: _with_shared(fast_run_batch, all_functions()))
            if get_build() is not None:
                self._futures["built"] = self._pool.submit(self._build)

    def _build(self):
        from buildbatches import build_by_size
        from relfunctions import all_functions

        functions, _ = all_functions()
        return build_by_size(functions, BUILT_MODULE, self.out_dir)  # <= ~2 MB of C each, read as one module

    @functools.cache  # noqa: B019 - one instance per session
    def functions(self, mode: str) -> tuple[dict, dict]:
        """({name: Function}, {name: SharedVariable}) in `mode` (fresh shared variables per mode)."""
        from relfunctions import all_functions

        if mode == "FAST_COMPILE":
            return all_functions()
        self._start()
        return self._futures[mode].result()

    def settle(self) -> None:
        """Wait for the builds started so far (a build running in a thread would disturb measurements)."""
        for future in list(self._futures.values()):
            future.exception()

    def module(self):
        """The built module (imported in this process), or skip."""
        if not fast_run_available() or get_build() is None:
            pytest.skip("no compiled backend or no ag.build")
        self._start()
        return self._futures["built"].result()


def _with_shared(convert, made):
    functions, shared = made
    return convert(functions), shared


def run_python(code: str, *, block_aotgraph: bool = False, path: tuple = (), env: dict | None = None,
               timeout: float = 300) -> str:
    """Run `code` in a fresh interpreter with the repository and `path` importable; return its stdout.

    block_aotgraph: `import aotgraph` fails in it (a built module must not need it).
    """
    head = "import sys\n"
    if block_aotgraph:
        head += "sys.modules['aotgraph'] = None\n"
    for p in path:
        head += f"sys.path.insert(0, {str(p)!r})\n"
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", head + textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, timeout=timeout)
    assert done.returncode == 0, f"subprocess failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout

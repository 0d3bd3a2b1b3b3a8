"""What this machine builds with: compiler, OpenMP, vector math, the cache, versions (``aotgraph info``).

Bug reports and "why is my build slow" questions start from these facts; each is probed the way a build
would use it (the same compile command, the same probes), so the report cannot disagree with a build.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
import warnings

from aotgraph.toolchain import cache, probe, tags
from aotgraph.toolchain.compiler import EXT_SUFFIX, shared_utility_name
from aotgraph.toolchain.options import BuildOptions
from aotgraph.version import __version__


def environment(vector_functions: tuple[tuple[str, int], ...] = ()) -> list[tuple[str, str]]:
    """(label, value) pairs describing the build environment, in display order; vector math is "yes" when the
    C library has vector variants of every one of `vector_functions` (the code generator's list)."""
    chain = probe.toolchain()
    compiler = chain.argv[0]
    rows = [("aotgraph", __version__),
            ("python", f"{platform.python_version()} ({sys.executable})"),
            ("platform", f"{platform.platform()} ({_libc()})"),
            ("wheel python tag", tags.python_tag()),
            ("extension suffix", EXT_SUFFIX)]
    rows += [(name, _version(name)) for name in ("numpy", "Cython", "setuptools", "auditwheel")]
    version = _compiler_version(compiler)
    rows.append(("C compiler", f"{compiler}: {version or 'not found: install gcc or clang, or set CC'}"))
    if not version:
        return rows + _cache_rows()
    with warnings.catch_warnings():  # resolve_openmp warns when it falls back: here that is the answer
        warnings.simplefilter("ignore")
        openmp = probe.resolve_openmp(probe.toolchain(BuildOptions(openmp=True))).openmp
    vector = probe.resolve_vector_math(probe.toolchain(BuildOptions(vector_math=True)), vector_functions).vector_math
    rows.append(("OpenMP", "yes (build(..., openmp=True) runs large loops on threads)" if openmp
                 else "no (the compiler cannot build -fopenmp programs)"))
    rows.append(("vector math", "yes (the C library has vector exp, log, ...: build(..., vector_math=True))"
                 if vector else "no (the C library has no vector variants of exp, log, ...)"))
    rows.append(("compile command", chain.describe()))
    rows.append(("Cython shared utility", shared_utility_name() or "not used (Cython < 3.1)"))
    return rows + _cache_rows()


def _cache_rows() -> list[tuple[str, str]]:
    root = cache.cache_root()
    if not root.is_dir():
        return [("build cache", f"{root} (empty: not created yet)")]
    entries = cache.list_entries(root)
    size = cache.disk_usage([info.path for info in entries])
    return [("build cache", f"{root}: {len(entries)} entries, {cache.human_size(size)}")]


def _libc() -> str:
    name, version = platform.libc_ver()
    return f"{name} {version}".strip() or "unknown C library"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _compiler_version(compiler: str) -> str:
    """The first line of `compiler --version`, or '' if it cannot be run."""
    try:
        done = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else f"exit code {done.returncode}"

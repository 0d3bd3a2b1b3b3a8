"""Where a cold build's time goes: Cython seconds, MB of C and gcc seconds, before and after issue 15's levers.

    python benchmarks/bench_compile_split.py [--repeat 3]

The modules of a new user's first minute (benchmarks/bench_first_use.py): the trivial `2 * x` kernel module and
the logistic-regression `train` module (examples/logistic_regression.py), in-process builds as FAST_RUN makes
them (the kernel support is a separate extension they cimport). Each is built once through aotgraph (in a new
cache); then its kept `.pyx` (with the .pxd files beside it) goes through Cython (in this process, after Cython's
one-time warm-up) and the real compile command again in each variant: cimporting numpy's own .pxd as cnp (as
before) or aotgraph's few declarations (templates/kernel_numpy.pxd), at -O2 (before) or -O1. Variants are
interleaved `--repeat` times; medians, and each variant's total as a ratio of the first's, measured in one run
(the machine's load moves absolute seconds; it moves the ratios much less).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ["AOTGRAPH_CACHE_DIR"] = tempfile.mkdtemp(prefix="aotgraph-compile-split-")
os.environ["AOTGRAPH_KERNELS_IN_C"] = "0"  # the modules through Cython: those written in C have no .pyx to split
sys.path.insert(0, str(REPO / "examples"))

import numpy as np  # noqa: E402
from timing import cythonize  # noqa: E402 - benchmarks/timing.py, beside this script

import aotgraph as ag  # noqa: E402
import aotgraph.tensor as at  # noqa: E402
from aotgraph.codegen.linker import in_process_options  # noqa: E402
from aotgraph.toolchain import probe  # noqa: E402
from aotgraph.toolchain.compiler import EXT_SUFFIX, _numpy_include  # noqa: E402


def kept_sources() -> dict[str, Path]:
    """{label: the entry directory of its module}, built through aotgraph in this benchmark's new cache."""
    import logistic_regression as lr

    def modules() -> dict[Path, int]:
        """{entry: size of its .pyx} of every kernel module in the cache."""
        return {p.parent: p.stat().st_size for p in Path(os.environ["AOTGRAPH_CACHE_DIR"]).glob("*/*/aotgraph_k_*.pyx")}

    ag.config.background_builds = False  # every module in its cache entry when ag.function returns
    x = at.dscalar("x")
    ag.function([x], 2 * x, mode="FAST_RUN")
    found = {"trivial 2*x": next(iter(modules()))}
    lr.build_model(np.random.RandomState(0), mode="FAST_RUN")  # train and predict: train is the larger
    rest = {entry: size for entry, size in modules().items() if entry != found["trivial 2*x"]}
    found["logreg train"] = max(rest, key=rest.get)
    return found


VARIANTS = (  # (label, the module cimported as cnp, optimization level)
    ("before: numpy's pxd, -O2", "numpy", "-O2"),
    ("numpy's pxd, -O1", "numpy", "-O1"),
    ("now: aotgraph's pxd, -O1", "_aotgraph_numpy", "-O1"),
)


def copy_sources(entry: Path, work: Path, numpy_pxd: str) -> Path:
    """The module's .pyx and the .pxd files beside it, cimporting `numpy_pxd` as cnp (a copy in `work`)."""
    for path in entry.iterdir():
        if path.suffix in (".pyx", ".pxd"):
            text = path.read_text().replace("cimport _aotgraph_numpy as cnp", f"cimport {numpy_pxd} as cnp")
            (work / path.name).write_text(text)
    return next(work.glob("aotgraph_k_*.pyx"))


def gcc_seconds(c_file: Path, level: str) -> float:
    saved = probe.OPT_FLAGS
    probe.OPT_FLAGS = (level, *saved[1:])
    try:
        chain = probe.resolve_vector_math(probe.resolve_openmp(probe.toolchain(
            in_process_options(), include_dirs=(_numpy_include(),))), in_process_options().vector_functions)
    finally:
        probe.OPT_FLAGS = saved
    start = time.perf_counter()
    subprocess.run(probe.compile_command(chain, c_file.name, c_file.stem + level + EXT_SUFFIX), cwd=c_file.parent,
                   check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sources = kept_sources()
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; medians of {args.repeat}, variants "
          "interleaved)")
    print(f"{'module':14} {'variant':28} {'MB of C':>8} {'cython s':>9} {'gcc s':>7} {'total s':>8} {'x before':>9}")
    for label, entry in sources.items():
        works = {v: Path(tempfile.mkdtemp(prefix="aotgraph-split-")) for v in VARIANTS}
        pyxs = {v: copy_sources(entry, works[v], v[1]) for v in VARIANTS}
        cython = {v: [] for v in VARIANTS}
        gcc = {v: [] for v in VARIANTS}
        c_files = {}
        for _ in range(args.repeat):
            for v in VARIANTS:
                c_files[v], seconds = cythonize(pyxs[v], pyxs[v].stem)
                cython[v].append(seconds)
                gcc[v].append(gcc_seconds(c_files[v], v[2]))
        before = None
        for v in VARIANTS:
            c, g = statistics.median(cython[v]), statistics.median(gcc[v])
            before = before or c + g
            print(f"{label:14} {v[0]:28} {c_files[v].stat().st_size / 1e6:8.2f} {c:9.2f} {g:7.2f} {c + g:8.2f} "
                  f"{(c + g) / before:9.2f}")
        for work in works.values():
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

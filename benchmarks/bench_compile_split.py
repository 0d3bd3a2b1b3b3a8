"""Where a cold build's time goes: Cython seconds, MB of C and gcc seconds per optimization level, per module.

    python benchmarks/bench_compile_split.py [--repeat 5] [--levels -O2 -O1]

The modules of a new user's first minute (benchmarks/bench_first_use.py): the trivial `2 * x` kernel module and
the logistic-regression `train` module (examples/logistic_regression.py), in-process builds as FAST_RUN makes
them (the kernel support is a separate extension they cimport). Each is built once through aotgraph (in a new
cache), then its kept `.pyx` is run through Cython again (timed: the second Cython run of this process, after
Cython's one-time warm-up) and compiled by the real compile command with each optimization level in turn,
interleaved `--repeat` times: medians, and each level's gcc time as a ratio of the first level's, measured in
one run (the machine's load moves absolute seconds; it moves the ratios much less).
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
sys.path.insert(0, str(REPO / "examples"))

import numpy as np  # noqa: E402

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

    x = at.dscalar("x")
    ag.function([x], 2 * x, mode="FAST_RUN")
    found = {"trivial 2*x": next(iter(modules()))}
    lr.build_model(np.random.RandomState(0), mode="FAST_RUN")  # train and predict: train is the larger
    rest = {entry: size for entry, size in modules().items() if entry != found["trivial 2*x"]}
    found["logreg train"] = max(rest, key=rest.get)
    return found


def cythonize(entry: Path, work: Path) -> tuple[Path, float]:
    from Cython.Compiler import Main

    from aotgraph.toolchain.compiler import shared_utility_name

    for path in entry.iterdir():
        if path.suffix in (".pyx", ".pxd"):
            shutil.copy(path, work / path.name)
    pyx = next(work.glob("aotgraph_k_*.pyx"))
    options = Main.CompilationOptions(Main.default_options, language_level=3, output_file=str(pyx.with_suffix(".c")),
                                      shared_utility_qualified_name=shared_utility_name())
    start = time.perf_counter()
    Main.compile_single(str(pyx), options, full_module_name=pyx.stem)
    return pyx.with_suffix(".c"), time.perf_counter() - start


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
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--levels", nargs="+", default=["-O2", "-O1"])
    args = parser.parse_args(argv)
    sources = kept_sources()
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; gcc medians of {args.repeat})")
    print(f"{'module':16} {'MB of C':>8} {'cython s':>9} " + " ".join(f"{'gcc ' + lv + ' s':>10}" for lv in args.levels)
          + "  " + " ".join(f"{lv + '/' + args.levels[0]:>9}" for lv in args.levels[1:]))
    for label, entry in sources.items():
        work = Path(tempfile.mkdtemp(prefix="aotgraph-split-"))
        c_file, cython = cythonize(entry, work)
        times = {lv: [] for lv in args.levels}
        for _ in range(args.repeat):
            for lv in args.levels:
                times[lv].append(gcc_seconds(c_file, lv))
        med = {lv: statistics.median(ts) for lv, ts in times.items()}
        first = med[args.levels[0]]
        print(f"{label:16} {c_file.stat().st_size / 1e6:8.2f} {cython:9.2f} "
              + " ".join(f"{med[lv]:10.2f}" for lv in args.levels) + "  "
              + " ".join(f"{med[lv] / first:9.2f}" for lv in args.levels[1:]))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

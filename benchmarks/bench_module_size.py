"""The fixed C of a module made by ag.build: MB of C, Cython seconds and gcc seconds, before and after issue 15's
last cuts (target 4: no test module over ~2 MB of C).

    python benchmarks/bench_module_size.py [--repeat 3]

Two modules made by ag.build: the Theano tutorial's logistic regression (`train` and `predict`,
examples/logistic_regression.py), whose C is mostly fixed (the kernel support, Cython's code, and the runtime's
Python source, which the module runs at import), and the LeNet example's `predict` (examples/lenet.py: two fused
convolution + pooling layers). Each .pyx goes through Cython (in this process, after Cython's warm-up) and the
real compile command, in three variants made from today's source:

- before: the runtime as a tuple of one string per line joined at import (~1200 constants, each with its
  own entry, and the C that builds the tuple), with Cython's code comments (the .pyx lines copied around
  every statement);
- one constant: the runtime as one string constant (adjacent literals, which Cython joins), comments kept;
- now: one constant, without code comments (`emit_code_comments=False` in templates/module.pyx.j2).

Variants are interleaved `--repeat` times; medians of wall seconds and of gcc's CPU seconds (user + system,
less moved by other processes than wall time), and each variant's gcc time as a ratio of the first's. (The LeNet
module also lost the convolution gradients' drivers it never calls, which these variants leave as they are now.)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ["AOTGRAPH_CACHE_DIR"] = tempfile.mkdtemp(prefix="aotgraph-module-size-")
sys.path.insert(0, str(REPO / "examples"))

import numpy as np  # noqa: E402
from timing import cythonize  # noqa: E402 - benchmarks/timing.py, beside this script

from aotgraph.codegen.aot import build_sources  # noqa: E402
from aotgraph.toolchain import BuildOptions, probe  # noqa: E402
from aotgraph.toolchain.compiler import EXT_SUFFIX, _numpy_include  # noqa: E402

NO_COMMENTS = "emit_code_comments=False"
MODULE = "logreg_mod"


def variants(source: str) -> dict[str, str]:
    """{label: .pyx} of the three variants, from today's source (one constant, no comments)."""
    head, _, rest = source.partition("_AG_PYTHON = (\n")
    body, _, tail = rest.partition("\n)\n")
    lines = [line.strip() for line in body.splitlines()]
    as_lines = [repr(eval(line)[:-1]) + "," for line in lines]  # noqa: S307 - our own repr'd literals
    before = head + '_AG_PYTHON = "\\n".join((\n' + "\n".join("    " + x for x in as_lines) + "\n))\n" + tail
    commented = NO_COMMENTS.replace("False", "True")
    return {
        "before: lines, comments": before.replace(NO_COMMENTS, commented),
        "one constant, comments": source.replace(NO_COMMENTS, commented),
        "now: one constant": source,
    }


def gcc_seconds(c_file: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ag.build's compile command on `c_file`."""
    chain = probe.resolve_openmp(probe.toolchain(BuildOptions(), include_dirs=(_numpy_include(),)))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(probe.compile_command(chain, c_file.name, c_file.stem + EXT_SUFFIX), cwd=c_file.parent,
                   check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; medians of {args.repeat}, variants "
          "interleaved)")
    print(f"{'module':14} {'variant':26} {'MB of C':>8} {'cython s':>9} {'gcc s':>7} {'gcc cpu s':>10} "
          f"{'gcc x before':>13}")
    for label, source in sources().items():
        measure(label, source, args.repeat)


def sources() -> dict[str, str]:
    """{label: today's .pyx} of the two modules."""
    import importlib.util

    import logistic_regression as lr

    model = lr.build_model(np.random.RandomState(0), mode="FAST_COMPILE")
    found = {"logreg": build_sources({"train": model.train, "predict": model.predict}, MODULE)[0]}
    spec = importlib.util.spec_from_file_location("example_lenet", REPO / "examples" / "lenet.py")
    lenet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lenet)
    rng = np.random.default_rng(0)
    images, labels = lenet.seven_segment_digits(rng, 100)
    cnn = lenet.build_lenet(rng, images, labels, mode="FAST_COMPILE")
    found["lenet predict"] = build_sources({"predict": cnn.predict}, MODULE)[0]
    return found


def measure(module: str, source: str, repeat: int) -> None:
    """Print a row per variant of `source`: Cython and gcc interleaved `repeat` times, medians."""
    texts = variants(source)
    works = {label: Path(tempfile.mkdtemp(prefix="aotgraph-size-")) for label in texts}
    cython = {label: [] for label in texts}
    wall = {label: [] for label in texts}
    cpu = {label: [] for label in texts}
    sizes = {}
    for _ in range(repeat):
        for label, text in texts.items():
            pyx = works[label] / "_core.pyx"
            pyx.write_text(text)
            c_file, seconds = cythonize(pyx, f"{MODULE}._core")
            sizes[label] = c_file.stat().st_size / 1e6
            cython[label].append(seconds)
            w, c = gcc_seconds(c_file)
            wall[label].append(w)
            cpu[label].append(c)
    first = None
    for label in texts:
        g = statistics.median(cpu[label])
        first = first or g
        print(f"{module:14} {label:26} {sizes[label]:8.2f} {statistics.median(cython[label]):9.2f} "
              f"{statistics.median(wall[label]):7.2f} {g:10.2f} {g / first:13.2f}")
    for work in works.values():
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""A new user's first minute: the first compiled function and the tutorial's logistic regression, cold.

    python benchmarks/bench_first_use.py [--runs 1]

Each measurement runs in a fresh Python process with a new, empty build cache (AOTGRAPH_CACHE_DIR), as on a
new machine: (1) `ag.function([x], 2 * x)` and its first call, then (2) the Theano tutorial's logistic
regression: `train` (the step with its gradient and updates) and `predict` (examples/logistic_regression.py).
Four ways: with the kernel support prebuilt at install (setup.py puts it into aotgraph/_prebuilt), without
it (AOTGRAPH_IGNORE_PREBUILT=1: what an install that could not prebuild does), prebuilt but with in-process
modules through Cython (AOTGRAPH_KERNELS_IN_C=0: how they were built before they were written in C), and again
in a new process with the now warm cache (a cache hit; target <= 20 ms for the first function). Cython and gcc
seconds are summed from the build logs, and listed per module: once the first function is built, a module's gcc
runs in the background (config.background_builds), so train's overlaps predict's. PyTensor's C mode is
measured the same way (a new compiledir) when pytensor is installed. Target (issue 15): cold first use <= 0.25x
PyTensor's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

OURS = r"""
import json, os, sys, time
start = time.perf_counter()
import numpy as np
import aotgraph as ag
import aotgraph.tensor as at
sys.path.insert(0, {examples!r})
import logistic_regression as lr
imported = time.perf_counter()
x = at.dscalar("x")
f = ag.function([x], 2 * x, mode="FAST_RUN")
assert f(4.0) == 8.0
first = time.perf_counter()
model = lr.build_model(np.random.RandomState(0), mode="FAST_RUN")
model.train(*lr.make_data(np.random.RandomState(1)))
done = time.perf_counter()
print(json.dumps({{"import": imported - start, "first": first - imported, "logreg": done - first}}))
"""

THEIRS = r"""
import json, sys, time
start = time.perf_counter()
import numpy as np
import pytensor
import pytensor.tensor as pt
imported = time.perf_counter()
x = pt.dscalar("x")
f = pytensor.function([x], 2 * x)
assert f(4.0) == 8.0
first = time.perf_counter()
rng = np.random.RandomState(0)
X, Y = pt.dmatrix("x"), pt.dvector("y")
w = pytensor.shared(rng.randn(784) * 0.01, name="w")
b = pytensor.shared(0.0, name="b")
p_1 = 1 / (1 + pt.exp(-pt.dot(X, w) - b))
prediction = p_1 > 0.5
xent = -Y * pt.log(p_1) - (1 - Y) * pt.log(1 - p_1)
cost = xent.mean() + 0.01 * (w ** 2).sum()
gw, gb = pytensor.grad(cost, [w, b])
train = pytensor.function([X, Y], [prediction, xent], updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)])
predict = pytensor.function([X], prediction)
data = np.random.RandomState(1)
train(data.randn(400, 784), data.randint(size=400, low=0, high=2))
done = time.perf_counter()
print(json.dumps({"import": imported - start, "first": first - imported, "logreg": done - first}))
"""


def run(code: str, env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env},
                          timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"the measured process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def tool_seconds(cache_dir: str) -> tuple[float, float]:
    """(Cython seconds, compiler seconds) summed over the build logs of the cache."""
    cython = gcc = 0.0
    for log in Path(cache_dir).glob("*/*/build.log"):
        text = log.read_text()
        cython += sum(float(s) for s in re.findall(r"^cython [^\n]*?: ([\d.]+) s", text, re.M))
        gcc += sum(float(s) for s in re.findall(r"^compiler: ([\d.]+) s", text, re.M))
    return cython, gcc


def module_split(cache_dir: str) -> list[tuple[str, float, float, float]]:
    """(module, Cython s, MB of C, compiler s) of each module built into the cache, in the order they ended."""
    rows = []
    for log in sorted(Path(cache_dir).glob("*/*/build.log"), key=lambda p: p.stat().st_mtime):
        text = log.read_text()
        gcc = re.findall(r"^compiler: ([\d.]+) s", text, re.M)
        seconds = sum(float(s) for s in gcc) if gcc else float("nan")  # two runs: compiled again without a flag
        for name, cython, megabytes in re.findall(r"^cython (\S+): ([\d.]+) s, ([\d.]+) MB of C", text, re.M):
            rows.append((name, float(cython), float(megabytes), seconds))
        for name, megabytes in re.findall(r"^C (\S+): ([\d.]+) MB of C", text, re.M):  # written in C: no Cython
            rows.append((name, 0.0, float(megabytes), seconds))
    return rows


def ours(ignore_prebuilt: bool, cache_dir: str | None = None, in_c: bool = True) -> dict:
    """One measured process; a new cache unless `cache_dir` is given (then it is a cache hit: no tools run).
    in_c=False: in-process modules through Cython (AOTGRAPH_KERNELS_IN_C=0), as before they were written in C."""
    hit = cache_dir is not None
    cache_dir = cache_dir or tempfile.mkdtemp(prefix="aotgraph-first-use-")
    env = {"AOTGRAPH_CACHE_DIR": cache_dir, "AOTGRAPH_IGNORE_PREBUILT": "1" if ignore_prebuilt else "",
           "AOTGRAPH_KERNELS_IN_C": "1" if in_c else "0"}
    result = run(OURS.format(examples=str(REPO / "examples")), env)
    if not hit:
        result["cython"], result["gcc"] = tool_seconds(cache_dir)
    result["cache_dir"] = cache_dir
    return result


def pytensor_c() -> dict | None:
    try:
        import pytensor  # noqa: F401
    except ImportError:
        return None
    compiledir = tempfile.mkdtemp(prefix="pytensor-first-use-")
    return run(THEIRS, {"PYTENSOR_FLAGS": f"base_compiledir={compiledir}"})


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="repeat each cold measurement, keep the fastest")
    args = parser.parse_args(argv)
    prebuilt = (REPO / "aotgraph" / "_prebuilt").is_dir()
    rows = {}
    for label, ignore, in_c in (("aotgraph, kernel support prebuilt at install", False, True),
                                ("aotgraph, nothing prebuilt", True, True),
                                ("aotgraph, prebuilt, modules through Cython", False, False)):
        if not ignore and not prebuilt:
            print("(aotgraph/_prebuilt is missing: reinstall with `pip install -e .` to prebuild the support)")
            continue
        runs = [ours(ignore, in_c=in_c) for _ in range(args.runs)]
        rows[label] = min(runs, key=lambda r: r["first"] + r["logreg"])
    warm = next(iter(rows.values()))["cache_dir"]
    rows["aotgraph, cache hit (new process, same cache)"] = ours(False, warm)
    theirs = pytensor_c()
    if theirs is not None:
        rows["PyTensor C mode (new compiledir)"] = theirs
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(load average {load:.1f} on {os.cpu_count()} CPUs: Cython and gcc slow down with it)")
    print(f"{'cold first use (fresh process)':48} {'first fn':>9} {'logreg':>8} {'total':>8} {'cython':>7} {'gcc':>7}")
    for label, r in rows.items():
        tools = f"{r['cython']:7.2f} {r['gcc']:7.2f}" if "cython" in r else f"{'':7} {'':7}"
        print(f"{label:48} {r['first']:9.2f} {r['logreg']:8.2f} {r['first'] + r['logreg']:8.2f} {tools}")
    if theirs is None:
        print("PyTensor is not installed: no ratio to it (pip install pytensor to measure it side by side)")
    else:
        base = theirs["first"] + theirs["logreg"]
        for label, r in rows.items():
            if label.startswith("aotgraph") and "hit" not in label:
                print(f"{label}: {(r['first'] + r['logreg']) / base:.2f}x PyTensor's C mode (target <= 0.25x)")
    for label in ("aotgraph, kernel support prebuilt at install", "aotgraph, prebuilt, modules through Cython"):
        if label in rows:
            print(f"{label}: its modules, in the order their builds ended (gcc of train and predict overlap):")
            for name, cython, megabytes, gcc in module_split(rows[label]["cache_dir"]):
                print(f"  {name:40} cython {cython:5.2f} s  {megabytes:5.2f} MB of C  gcc {gcc:5.2f} s")
    hit = rows["aotgraph, cache hit (new process, same cache)"]["first"]
    print(f"cache hit, first function: {hit * 1e3:.1f} ms (target <= 20 ms)")
    return rows


if __name__ == "__main__":
    main()

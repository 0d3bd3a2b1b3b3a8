"""What shipping a module costs: a first ag.build with wheel and sdist, then the same again (issue 13).

    python benchmarks/bench_deploy.py [--cache-dir DIR]

The first build compiles the module once (Cython + the C compiler) and packs the wheel from that cached
extension; the second finds it in the cache and only writes files. Before issue 13 the wheel went
through `pip wheel`, which compiled the module again on every call (16-130 s). Prints both times, their
ratio, and the wheel's tag and size. Use a fresh --cache-dir (default: a temporary one) for a cold first build.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import aotgraph as ag
import aotgraph.tensor as at


def training_step():
    x, y = at.dmatrix("x"), at.dvector("y")
    w, b = ag.shared(np.zeros(5), name="w"), ag.shared(0.0, name="b")
    p = at.sigmoid(at.dot(x, w) + b)
    cost = -(y * at.log(p) + (1 - y) * at.log(1 - p)).mean() + 0.001 * (w**2).sum()
    gw, gb = ag.grad(cost, [w, b])
    return ag.function([x, y], cost, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)], name="train",
                       mode="FAST_COMPILE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", help="build cache to use (default: a new temporary directory)")
    args = parser.parse_args()
    os.environ["AOTGRAPH_CACHE_DIR"] = args.cache_dir or tempfile.mkdtemp(prefix="bench-deploy-cache-")
    train = training_step()
    with tempfile.TemporaryDirectory() as out:
        times = []
        for run in ("first", "second"):
            start = time.perf_counter()
            result = ag.build(train, "bench_deploy_mod", os.path.join(out, run), wheel=True, sdist=True)
            times.append(time.perf_counter() - start)
        print(f"build + wheel + sdist: first {times[0]:.2f} s, second {times[1]:.2f} s "
              f"(ratio {times[0] / times[1]:.0f}x)")
        print(f"wheel {os.path.basename(result.wheel)}: {os.path.getsize(result.wheel) / 1024:.0f} kB; "
              f"sdist {os.path.basename(result.sdist)}: {os.path.getsize(result.sdist) / 1024:.0f} kB")


if __name__ == "__main__":
    main()

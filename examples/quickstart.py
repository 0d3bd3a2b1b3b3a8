"""aotgraph in two minutes: Theano's programming model, then the same functions built ahead of time.

Run: python examples/quickstart.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np

import aotgraph as ag
import aotgraph.tensor as at


def show(label: str, value) -> None:
    print(f"{label:<44} {value!r}")


def main() -> None:
    # The seed example: a symbolic graph compiled into a callable.
    x = at.dscalar("x")
    f = ag.function([x], 2 * x)
    show("f(4)", f(4))

    # Several inputs, defaults and keyword arguments (Param), several outputs.
    a, b = at.dmatrices("a", "b")
    diff = a - b
    stats = ag.function([a, ag.Param(b, default=np.zeros((2, 2)), name="b")], [diff, abs(diff), diff**2])
    show("stats([[1,1],[1,1]], b=[[0,1],[-1,-2]])", stats([[1, 1], [1, 1]], b=[[0, 1], [-1, -2]]))

    # Shared state and updates: the tutorial's accumulator.
    state = ag.shared(0, name="state")
    inc = at.iscalar("inc")
    accumulator = ag.function([inc], state, updates=[(state, state + inc)], name="accumulator")
    show("accumulator(1)", accumulator(1))
    show("accumulator(300)", accumulator(300))
    show("state.get_value()", state.get_value())

    # givens: compute with another value in place of the shared variable, leaving it untouched.
    foo = at.scalar(dtype=state.dtype, name="foo")
    skip_shared = ag.function([inc, foo], state * 2 + inc, givens=[(state, foo)])
    show("skip_shared(1, 3)", skip_shared(1, 3))
    show("state.get_value() (unchanged)", state.get_value())

    # Errors name the bad input and change nothing.
    try:
        accumulator("ten")
    except TypeError as err:
        show("accumulator('ten') raises TypeError", str(err).splitlines()[0])
    show("state.get_value() (after the failed call)", state.get_value())

    if hasattr(ag, "build"):
        build_and_use(accumulator, stats)


def build_and_use(accumulator, stats) -> None:
    """Build both functions into one extension module and use it from a process without aotgraph."""
    out_dir = tempfile.mkdtemp(prefix="quickstart-")
    ag.build({"accumulator": accumulator, "stats": stats}, "quickstart_mod", output_dir=out_dir)
    show("built module in", out_dir)
    script = (
        "import sys; sys.modules['aotgraph'] = None\n"
        f"sys.path.insert(0, {out_dir!r})\n"
        "import quickstart_mod as m\n"
        "print('  accumulator(5) ->', repr(m.accumulator(5)))\n"
        "print('  accumulator(5) ->', repr(m.accumulator(5)))\n"
        "print('  stats([[3, 3], [3, 3]]) ->', m.stats([[3, 3], [3, 3]])[0].tolist())\n"
    )
    print("in a fresh process where `import aotgraph` fails:")
    subprocess.run([sys.executable, "-c", script], check=True, env=dict(os.environ))


if __name__ == "__main__":
    main()

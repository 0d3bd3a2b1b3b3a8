"""Build faults end to end, through `ag.function(..., mode='FAST_RUN')` (tests/toolchain covers the build layer).

Each test compiles a graph with a literal no other test uses (literals are written into the loops),
so its module is never in the cache already.
"""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
from relsupport import run_python

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.toolchain import BuildError, CompilerMissingError

pytestmark = pytest.mark.usefixtures("needs_fast_run")


def _unique_graph():
    x = at.dvector("x")
    c = 1.0 + random.SystemRandom().randrange(1, 2**40) / 2**41  # exactly printable, new each run
    return x, x * c + 1.0, c


@pytest.mark.parametrize("how", ["CC", "PATH"])
def test_missing_compiler_gives_one_clear_message_and_fast_compile_still_works(monkeypatch, tmp_path, how):
    if how == "CC":
        monkeypatch.setenv("CC", "/nonexistent/cc")
    else:
        monkeypatch.delenv("CC", raising=False)
        monkeypatch.setenv("PATH", str(tmp_path))
    x, y, c = _unique_graph()
    with pytest.raises(CompilerMissingError) as err:
        ag.function([x], y, mode="FAST_RUN")
    message = str(err.value)
    assert isinstance(err.value, BuildError)
    assert "No C compiler found" in message and "FAST_COMPILE" in message and "apt-get install gcc" in message
    assert err.value.__cause__ is None and (err.value.__context__ is None or err.value.__suppress_context__)
    f = ag.function([x], y, mode="FAST_COMPILE")
    np.testing.assert_array_equal(f([1.0, 2.0]), np.array([1.0, 2.0]) * c + 1.0)


_COMPILE_AND_REPORT = """
    import json
    import numpy as np
    import aotgraph as ag, aotgraph.tensor as at
    from aotgraph.toolchain import cache
    x = at.dvector("x")
    f = ag.function([x], x * {c!r} + 1.0, mode="FAST_RUN")
    out = f(np.array([1.0, 2.0]))
    module = sys.modules[type(f._thunk.__self__).__module__]
    print(json.dumps(dict(path=module.__file__, builds=cache.stats.builds, out=out.tolist())))
"""


def _corrupt(path: str, how: str) -> None:
    """Replace the file (never write into it: a process that has it mapped must not see the change)."""
    data = bytearray(open(path, "rb").read())
    if how == "truncate":
        data = data[: len(data) // 2]
    else:  # same size, different bytes: only the checksum can tell
        middle = len(data) // 2
        data[middle: middle + 64] = bytes(b ^ 0xFF for b in data[middle: middle + 64])
    tmp = path + ".corrupt"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def test_corrupt_cached_module_of_a_real_function_is_rebuilt():
    _, _, c = _unique_graph()
    code = _COMPILE_AND_REPORT.format(c=c)
    expected = [1.0 * c + 1.0, 2.0 * c + 1.0]
    first = json.loads(run_python(code).splitlines()[-1])
    assert first["builds"] >= 1 and first["out"] == expected
    for how in ("truncate", "flip"):
        _corrupt(first["path"], how)
        again = json.loads(run_python(code).splitlines()[-1])
        assert again["out"] == expected, how
        assert again["builds"] >= 1, f"{how}: the corrupt module was used instead of rebuilt"
        assert again["path"] == first["path"]  # rebuilt into the same cache entry
    hit = json.loads(run_python(code).splitlines()[-1])
    assert hit["builds"] == 0 and hit["out"] == expected  # and the rebuilt entry is a valid cache hit

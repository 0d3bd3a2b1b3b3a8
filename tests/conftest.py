"""Session-wide test setup: one build cache per session, and the modes the semantics tests run in."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # opspecs.py: the op test specs every test package reads

from buildbatches import MAX_C_MB, fast_run_available  # noqa: E402 (larger test modules cost gcc minutes: tests split their builds)

_CACHE = os.environ.setdefault("AOTGRAPH_CACHE_DIR", tempfile.mkdtemp(prefix="aotgraph-test-cache-"))
# Tests that do not ask for a mode use the numpy reference: compiling costs seconds per function, so the
# compiled backend runs where a test asks for it (the `mode` fixture runs semantics tests in both).
os.environ.setdefault("AOTGRAPH_MODE", "FAST_COMPILE")


def available_modes() -> list[str]:
    """FAST_COMPILE always; FAST_RUN when the compiled backend can be loaded."""
    return ["FAST_COMPILE", "FAST_RUN"] if fast_run_available() else ["FAST_COMPILE"]


@pytest.fixture(params=available_modes())
def mode(request) -> str:
    """Run a semantics test once per available mode."""
    return request.param




def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """List the modules this session built from more than MAX_C_MB of C (from the build logs of its caches)."""
    import re
    from pathlib import Path

    roots = [Path(_CACHE)]
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is not None:
        try:
            roots.append(factory.getbasetemp())
        except (OSError, ValueError):
            pass
    big = []
    for root in roots:
        for log in root.rglob("build.log"):
            text = log.read_text()  # a Cython module's log, or a C one's (written in C: no Cython)
            found = re.findall(r"^cython (\S+): [\d.]+ s, ([\d.]+) MB of C", text, re.M)
            for name, megabytes in found + re.findall(r"^C (\S+): ([\d.]+) MB of C", text, re.M):
                if float(megabytes) > MAX_C_MB:
                    big.append(f"{name}: {megabytes} MB of C ({log.parent})")
    if big:
        terminalreporter.section(f"modules over {MAX_C_MB} MB of C")
        for line in sorted(set(big)):
            terminalreporter.write_line(line)

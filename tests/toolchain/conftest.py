"""Build tests: one build cache for the session, and a subprocess runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from buildcases import REPO


@pytest.fixture(scope="session", autouse=True)
def build_cache_dir(tmp_path_factory) -> Path:
    """A fresh build cache for the session: AOTGRAPH_CACHE_DIR points at it (subprocesses inherit it)."""
    path = tmp_path_factory.mktemp("aotgraph-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AOTGRAPH_CACHE_DIR", str(path))
        yield path


@pytest.fixture
def run_python():
    """Run Python code in a fresh interpreter and return its stdout; fail with its stderr.

    isolated=True runs ``python -I`` (no PYTHONPATH, no current directory): only numpy and the
    standard library, as on a machine without aotgraph. Otherwise the repository is importable.
    """

    def run(code: str, *, isolated: bool = True, env: dict | None = None, timeout: float = 120) -> str:
        full_env = {**os.environ, **(env or {})}
        if not isolated:
            full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
        cmd = [sys.executable, *(["-I"] if isolated else []), "-c", code]
        done = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)
        assert done.returncode == 0, f"subprocess failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    return run

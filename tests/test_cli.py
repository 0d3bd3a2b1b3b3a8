"""The command line, run as users run it: ``python -m aotgraph ...`` in a subprocess, exit codes and messages."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

SPEC = """
import numpy as np
import aotgraph as ag
import aotgraph.tensor as at

def make():
    x = at.dvector("x")
    w = ag.shared(np.array([1.0, 2.0, 3.0]), name="w")
    step = ag.function([x], (w * x).sum(), updates=[(w, w + x)], name="step")
    k = at.dscalar("k")
    scale = ag.function([x, ag.In(k, value=2.0)], x * k, name="scale")
    return {"step": step, "scale": scale}

not_a_function = 42
"""


def _aotgraph(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "aotgraph", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    (path / "spec.py").write_text(textwrap.dedent(SPEC))
    return path


def test_help_everywhere(workdir):
    for args in ([], ["--help"], ["build", "--help"], ["info", "--help"], ["cache", "--help"]):
        done = _aotgraph(*args, cwd=workdir)
        assert done.returncode == (2 if not args else 0), (args, done.stderr)
        assert "usage: aotgraph" in done.stdout, args
    assert "FILE.py:OBJ" in _aotgraph("build", "--help", cwd=workdir).stdout
    assert _aotgraph("--version", cwd=workdir).stdout.startswith("aotgraph ")


@pytest.mark.parametrize("args, message", [
    (["nowhere.py:make"], "no such file: nowhere.py"),
    (["spec.py"], "SPEC must be FILE.py:OBJ"),
    (["spec.py:missing"], "has no attribute 'missing'"),
    (["spec.py:not_a_function"], "is a int, not a Function"),
    (["spec.py:make", "-n", "my-mod"], "not a valid Python identifier"),
    (["spec.py:make", "-n", "os"], "would shadow"),
])
def test_usage_errors_exit_2_and_say_why(workdir, args, message):
    if "-n" not in args:
        args = [*args, "-n", "cli_bad"]
    done = _aotgraph("build", *args, "-o", "never", cwd=workdir)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and done.stderr.startswith("aotgraph build: error:")
    assert not (workdir / "never" / "cli_bad").exists()


def test_missing_required_name_is_a_usage_error(workdir):
    done = _aotgraph("build", "spec.py:make", cwd=workdir)
    assert done.returncode == 2 and "-n/--name" in done.stderr


def test_build_wheel_sdist_and_import(workdir):
    done = _aotgraph("build", "spec.py:make", "-n", "cli_mod", "-o", "dist", "--wheel", "--sdist", "--annotate",
                     "--version", "1.0", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "aotgraph: building cli_mod from 2 function(s) (step, scale)" in done.stderr  # progress, on stderr
    dist = workdir / "dist"
    html = (dist / "cli_mod" / "_core.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "_core.pyx" in html  # Cython's annotation
    wheels, sdists = list(dist.glob("cli_mod-1.0-*.whl")), list(dist.glob("cli_mod-1.0.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1 and str(wheels[0]) in done.stdout
    if sys.platform.startswith("linux"):
        assert "manylinux_2_" in wheels[0].name
    with zipfile.ZipFile(wheels[0]) as archive:
        assert "cli_mod/aotgraph_data.npz" in archive.namelist()
    code = (f"import sys; sys.path.insert(0, {str(dist)!r})\nimport numpy as np, cli_mod\n"
            "print(cli_mod.step(np.ones(3)).item(), cli_mod.step(np.ones(3)).item(), cli_mod.scale(np.ones(2)))")
    run = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=dist)
    assert run.returncode == 0, run.stderr
    w = np.array([1.0, 2.0, 3.0])
    assert run.stdout.split()[:2] == [str(w.sum()), str((w + 1).sum())]
    assert "[2. 2.]" in run.stdout


def test_info_names_the_compiler_and_cache(workdir):
    done = _aotgraph("info", cwd=workdir)
    assert done.returncode == 0, done.stderr
    labels = [line.split(":")[0] for line in done.stdout.splitlines()]
    for label in ("aotgraph", "python", "numpy", "Cython", "C compiler", "OpenMP", "vector math", "build cache"):
        assert label in labels, done.stdout


def test_cache_alias_lists_the_cache(workdir, tmp_path):
    env_dir = tmp_path / "cache"
    done = _aotgraph("cache", "--dir", str(env_dir), cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert f"aotgraph build cache: {env_dir}" in done.stdout
    bad = _aotgraph("cache", "--older-than", "soon", cwd=workdir)
    assert bad.returncode == 2 and "usage: aotgraph cache" in bad.stderr


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "aotgraph"
    if not script.exists():
        pytest.skip("aotgraph is not pip-installed in this environment (no console script)")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "usage: aotgraph" in done.stdout
